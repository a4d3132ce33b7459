"""`dslbench inspect`: the table (or JSON) of compile facts, one row per kernel x dtype x config x arch,
then, over several archs, the portability matrix (each kernel x arch: native / fallback / failed)."""
import json
import time

from bench import inspect as compile_report
from bench.inspect import table


def cmd_inspect(args, summary=None):
    """Compile, print rows as they finish (or one JSON list), append to --out; exit 1 if any failed.
    summary(records): lines printed last (--suite headline: its compile schedule in a GPU run)."""
    from bench.core.ops import UsageError
    from bench.core.records import append, clean

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs} must be >= 1")
    every_config = getattr(args, "configs", "all") != "one"
    if getattr(args, "suite", None) == "headline":
        if args.op or args.dtype:
            raise UsageError("--suite headline compiles the headline's own ops and dtypes: give no --op or --dtype")
        job_list = compile_report.headline_jobs(args.backend, args.arch, every_config, args.track)
    else:
        from bench.core import ops, user

        kernels = user.gather(getattr(args, "kernel", None))  # users' own kernels (--kernel), beside ours
        ops.register_user_kernels(kernels)
        op_text = args.op or (",".join(dict.fromkeys(k["op"] for k in kernels)) if getattr(args, "kernel", None) else None)
        job_list = compile_report.jobs(op_text, args.backend, args.dtype, args.arch, every_config,
                                       track_text=args.track)  # input errors first
    t0 = time.perf_counter()
    records = []
    if not args.json:
        print(f"compiling {len(job_list)} kernels without a GPU, {args.jobs or 'one per core'} at a time")
        print(table.header(), flush=True)
    for record in compile_report.run(job_list, args.jobs):
        records.append(record)
        if args.out:
            append(args.out, record)
        if not args.json:
            print(table.render(table.row(record)), flush=True)
    failed = [r for r in records if r["status"] == "error"]
    if args.json:
        print(json.dumps(clean(records), indent=1))
    else:
        print(table.LEGEND)
        archs = {r["arch"] for r in records}
        if len(archs) > 1 or "ascend" in archs:  # the portability matrix: one kernel across archs (Ascend: its
            print("\n".join(table.matrix_lines(records)))  # only summary, Triton skipped and TileLang's rows split)
        counts = {s: sum(r["status"] == s for r in records) for s in ("lowered", "skipped")}
        more = "".join(f", {n} {s}" for s, n in counts.items() if n)
        print(f"{len(records) - len(failed) - sum(counts.values())} compiled{more}, {len(failed)} failed "
              f"in {time.perf_counter() - t0:.0f} s")
        for reason in dict.fromkeys(r["reason"] for r in records if r["status"] == "lowered"):
            print(reason)  # "lowered to ... source only": why no binary, as the worker recorded it (worker.NOT_COMPILED)
        if summary and not failed:
            print("\n".join(summary(records)))
    return 1 if failed else 0

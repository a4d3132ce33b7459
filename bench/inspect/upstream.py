"""Side by side with upstream: a best-track kernel's SASS beside the public kernel it follows,
both compiled here for sm_90a with the same tiles (issue 24; README: Two tracks).

    python -m bench.inspect.upstream --fetch              # clone the upstream sources into .upstream/
    python -m bench.inspect.upstream                      # every pair, at the op's inspect shape
    python -m bench.inspect.upstream matmul-triton-best --upstream-dir ~/src

The upstream files are fetched into a git-ignored folder (`.upstream/`, or --upstream-dir: a
folder holding `triton/` and `tilelang/` checkouts), never committed, at the tag of the
installed DSL's version. Each pair names the upstream kernel, how our tiles map onto its
parameters, and how it is built: a Triton tutorial's @triton.jit functions are taken from
the file (its module-level code wants a GPU), a TileLang example is imported and its
`@tilelang.jit` factory asked for its TIR. Both sides go through inspect's own compile and
SASS reading, so the rows compare like with like: threads, registers, spills, shared memory,
the MMA instruction shapes, TMA loads and stores, cp.async, setmaxnreg, stmatrix, barriers.
"""
import argparse
import ast
import contextlib
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".upstream"
REPOS = {"triton": "https://github.com/triton-lang/triton", "tilelang": "https://github.com/tile-ai/tilelang"}
SPARSE = {"triton": ["python/tutorials"], "tilelang": ["examples"]}
H100_SMS = 132  # the NUM_SMS an upstream persistent kernel would read from the device


@dataclass(frozen=True)
class Pair:
    """One best-track kernel of ours and the upstream kernel it follows."""
    op: str
    backend: str  # ours, e.g. triton-best
    dtype: str
    path: str  # in the upstream repo of the backend's DSL
    kernel: str  # the @triton.jit function, or the @tilelang.jit factory
    arguments: object  # (shape, dtype, config) -> {parameter: value} for the upstream kernel
    options: object = None  # Triton: (config) -> {num_warps, num_stages}
    note: str = ""
    config_index: int | None = None  # the config of the track's list to compare at (default: inspect's)


def tutorial_matmul(shape, dtype, config):
    """Triton tutorial 09's descriptor-persistent matmul: B given as (N, K), warp-specialized."""
    return {"a_ptr": ("tensor", dtype), "b_ptr": ("tensor", dtype), "c_ptr": ("tensor", dtype),
            "M": shape["M"], "N": shape["N"], "K": shape["K"],
            "BLOCK_SIZE_M": config["block_M"], "BLOCK_SIZE_N": config["block_N"], "BLOCK_SIZE_K": config["block_K"],
            "GROUP_SIZE_M": 8, "EPILOGUE_SUBTILE": True, "NUM_SMS": H100_SMS, "FLATTEN": False,
            "WARP_SPECIALIZE": True}


def triton_matmul_options(config):
    # ours runs 256-thread TMA configs at num_warps=4, which Triton's partitioner turns into a
    # producer and two consumer warpgroups (kernels/matmul/triton_best.py): the same here
    return {"num_warps": 4 if config["threads"] == 256 else config["threads"] // 32, "num_stages": config["num_stages"]}


def example_matmul(shape, dtype, config):
    """TileLang's example_gemm_persistent (T.Persistent over the output tiles)."""
    from kernels import dtypes

    return {**{k: shape[k] for k in ("M", "N", "K")}, **{k: config[k] for k in
            ("block_M", "block_N", "block_K", "threads", "num_stages")}, "dtype": dtypes.TILELANG[dtype]}


def example_sparse_mla(shape, dtype, config):
    """TileLang's DeepSeek-V3.2 sparse_mla_fwd_pipelined (FlashMLA's schedule: a producer that
    gathers by cp.async, two consumers); its gather is written for 64-key blocks."""
    from kernels.sparse_mla.spec import D_ROPE, D_V

    return {"heads": shape["H"], "dim": D_V, "tail_dim": D_ROPE, "topk": shape["topk"], "kv_stride": 1,
            "block_I": config["block_N"], "num_stages": config["num_stages"], "threads": config["threads"] + 128}


def tutorial_attention_bwd(shape, dtype, config):
    """Triton tutorial 06's _attn_bwd (MHA over (B, H, S, D) rows, causal only), at the tiles
    ours runs (spec.fit, best track): dK/dV BLOCK_M1 queries x BLOCK_N1 keys, dQ swapped."""
    from kernels.attention_bwd import spec

    c = spec.fit(config, dtype, shape["D"], "best")
    S, D, H = shape["Sq"], shape["D"], shape["Hq"]
    tensor, rows = ("tensor", dtype), ("tensor", "fp32")
    return {"Q": tensor, "K": tensor, "V": tensor, "sm_scale": spec.default_scale(D), "DO": tensor, "DQ": tensor,
            "DK": tensor, "DV": tensor, "M": rows, "D": rows, "stride_z": H * S * D, "stride_h": S * D,
            "stride_tok": D, "stride_d": 1, "H": H, "N_CTX": S, "BLOCK_M1": c["block_M"], "BLOCK_N1": c["block_N"],
            "BLOCK_M2": c["block_N"], "BLOCK_N2": c["block_M"], "BLK_SLICE_FACTOR": 2, "HEAD_DIM": D}


def triton_warps(config):
    return {"num_warps": config["threads"] // 32, "num_stages": config["num_stages"]}


def example_gqa_bwd(shape, dtype, config):
    """TileLang's example_gqa_bwd_tma_reduce flashattn_bwd_atomic_add (its block_M keys a
    program, block_N queries a step: ours swapped), at the tiles ours runs (spec.fit, best)."""
    from kernels.attention_bwd import spec

    c = spec.fit(config, dtype, shape["D"], "best")
    return {"batch": shape["B"], "heads": shape["Hq"], "seq_len": shape["Sq"], "dim_qk": shape["D"],
            "dim_v": shape["D"], "is_causal": bool(shape["causal"]), "block_M": c["block_N"], "block_N": c["block_M"],
            "threads": c["threads"], "num_stages": c["num_stages"], "groups": shape["Hq"] // shape["Hkv"]}


def tutorial_grouped_gemm(shape, dtype, config):
    """Triton tutorial 08's grouped_matmul_tma_kernel (a fixed grid of NUM_SM programs walking
    every problem's tiles; per group device-side TMA descriptors over A (M, K), B (N, K), C):
    the G experts as its group_size problems, their pointers, <M, N, K> and leading dimensions
    device tensors (data, not compile-time: the token counts do not enter the compile). It
    hard-codes fp16 (FP8=False), ours bf16."""
    from kernels.grouped_gemm import spec

    addresses, sizes = ("tensor", "int64"), ("tensor", "int32")
    return {"group_a_ptrs": addresses, "group_b_ptrs": addresses, "group_c_ptrs": addresses,
            "group_gemm_sizes": sizes, "g_lds": sizes, "group_size": shape["G"], "NUM_SM": H100_SMS,
            "BLOCK_SIZE_M": config["block_M"], "BLOCK_SIZE_N": config["block_N"],
            "BLOCK_SIZE_K": spec.block_k(dtype), "FP8": False}


def example_grouped_gemm(shape, dtype, config):
    """TileLang's example_grouped_gemm_fwd grouped_gemm (eager-style @tilelang.jit: one block per
    (M tile of a group, N tile), not persistent): the inspect shape's token counts per expert as
    its batch_sizes_list, B (G, N, K) as ours (trans_b), K and N given for its T.const sizes in
    place of the tensors (which only bind shapes)."""
    from kernels import dtypes
    from kernels.grouped_gemm import spec

    tensors = dict.fromkeys(("A", "B", "batch_sizes", "batch_offsets", "batch_padded_offsets"))
    return {**tensors, "batch_sizes_list": tuple(spec.token_counts(shape).tolist()),
            "block_M": config["block_M"], "block_N": config["block_N"], "block_K": spec.block_k(dtype),
            "trans_b": True, "num_stages": config["num_stages"], "threads": config["threads"],
            "dtype": dtypes.TILELANG[dtype], "K": shape["K"], "N": shape["N"]}


PAIRS = {
    "matmul-triton-best": Pair("matmul", "triton-best", "bf16", "python/tutorials/09-persistent-matmul.py",
                               "matmul_kernel_descriptor_persistent", tutorial_matmul, triton_matmul_options,
                               "tutorial 09's matmul_kernel_descriptor_persistent, WARP_SPECIALIZE=True"),
    "matmul-tilelang-best": Pair("matmul", "tilelang-best", "bf16", "examples/gemm/example_gemm_persistent.py",
                                 "matmul_persistent", example_matmul,
                                 note="example_gemm_persistent's matmul_persistent, T.Persistent"),
    "sparse_mla-tilelang-best": Pair("sparse_mla", "tilelang-best", "bf16",
                                     "examples/deepseek_v32/sparse_mla_fwd_pipelined.py", "sparse_mla_fwd",
                                     example_sparse_mla, note="sparse_mla_fwd_pipelined's sparse_mla_fwd",
                                     config_index=2),  # FlashMLA's 64-key, 2-stage tile
    # the backward's upstream kernels are written for fp16 only (their casts are tl.float16 / T.float16)
    "attention_bwd-triton-best": Pair("attention_bwd", "triton-best", "fp16", "python/tutorials/06-fused-attention.py",
                                      "_attn_bwd", tutorial_attention_bwd, triton_warps,
                                      "tutorial 06's _attn_bwd", config_index=0),  # its 32x128, 4 warps, 5 stages
    "attention_bwd-tilelang-best": Pair("attention_bwd", "tilelang-best", "fp16",
                                        "examples/flash_attention/example_gqa_bwd_tma_reduce.py",
                                        "flashattn_bwd_atomic_add", example_gqa_bwd,
                                        note="example_gqa_bwd_tma_reduce's flashattn_bwd_atomic_add",
                                        config_index=1),  # its 128 keys x 32 queries, 256 threads, 2 stages
    # tutorial 08 hard-codes fp16 (its pointer casts are tl.float16), ours takes bf16 (no fp16)
    "grouped_gemm-triton-best": Pair("grouped_gemm", "triton-best", "bf16", "python/tutorials/08-grouped-gemm.py",
                                     "grouped_matmul_tma_kernel", tutorial_grouped_gemm, triton_warps,
                                     "tutorial 08's grouped_matmul_tma_kernel, fp16", config_index=0),
    "grouped_gemm-tilelang-best": Pair("grouped_gemm", "tilelang-best", "bf16",
                                       "examples/grouped_gemm/example_grouped_gemm_fwd.py", "grouped_gemm",
                                       example_grouped_gemm, note="example_grouped_gemm_fwd's grouped_gemm",
                                       config_index=0),  # 128 x 128, 256 threads, 4 stages (DeepGEMM's tile)
}

ROWS = (("threads", lambda m: m.get("threads")), ("registers", lambda m: m.get("registers")),
        ("spill stores (B)", lambda m: m.get("spill_store_bytes")),
        ("shared memory (KiB)", lambda m: round((m.get("smem_bytes") or 0) / 1024, 1)),
        ("MMA", lambda m: ", ".join(f"{k} x{v}" for k, v in sorted((m.get("mma") or {}).items())) or "-"))
OPCODES = (("TMA load", "UTMALDG"), ("TMA store", "UTMASTG"), ("cp.async", "LDGSTS"), ("setmaxnreg", "USETMAXREG"),
           ("stmatrix", "STSM"), ("ldmatrix", "LDSM"), ("shared stores", "STS"), ("global loads", "LDG"),
           ("barriers", "BAR"))


def fetch(folder, dsls):
    """Shallow, sparse clones of the upstream repos at the installed versions' tags."""
    folder.mkdir(parents=True, exist_ok=True)
    for dsl in dsls:
        version = importlib.import_module(dsl).__version__
        dest = folder / dsl
        if dest.exists():
            print(f"{dest}: there already (remove it to fetch again)")
            continue
        tag = f"v{version.split('+')[0]}"
        steps = [["git", "clone", "-q", "--depth", "1", "--filter=blob:none", "--sparse", "--branch", tag,
                  REPOS[dsl], str(dest)], ["git", "-C", str(dest), "sparse-checkout", "set", *SPARSE[dsl]]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"fetching {REPOS[dsl]} at {tag} failed: {done.stderr.strip().splitlines()[-1]}")
        print(f"{dest}: {REPOS[dsl]} at {tag}")


def triton_kernels(path, out):
    """The file's @triton.jit functions (an autotune decorator dropped, jit's own arguments
    kept), written to `out` and imported: the tutorial's module-level code is not run."""
    tree = ast.parse(Path(path).read_text())
    keep = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            jit = [d for d in node.decorator_list if "triton.jit" in ast.unparse(d)]
            if jit:
                node.decorator_list = [ast.parse("triton.jit").body[0].value]
                keep.append(ast.unparse(node))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("import triton\nimport triton.language as tl\n\n\n" + "\n\n\n".join(keep) + "\n")
    interpret = os.environ.pop("TRITON_INTERPRET", None)  # compiled for a GPU, never interpreted
    try:
        return load(out, f"upstream_{out.stem}")
    finally:
        if interpret is not None:
            os.environ["TRITON_INTERPRET"] = interpret


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_upstream(pair, source, shape, config, arch):
    """{metrics} of the upstream kernel compiled for `arch` with our tiles."""
    import torch

    from bench.inspect.worker import read, smem_bytes
    from kernels import dtypes

    if pair.backend.startswith("triton"):
        from bench.inspect.triton_build import compile_launch, warm_up

        module = triton_kernels(source, FOLDER / "_extracted" / f"{Path(source).stem.replace('-', '_')}.py")
        kernel = getattr(module, pair.kernel)
        values = pair.arguments(shape, pair.dtype, config)
        missing = [n for n in kernel.arg_names if n not in values]
        if missing:
            raise SystemExit(f"{pair.kernel} in {source} takes {', '.join(missing)}, which this pair does not "
                             "set: the upstream kernel changed; update PAIRS in bench/inspect/upstream.py")
        warm_up(arch)
        args = []
        for name in kernel.arg_names:
            value = values[name]
            # a dtype name of ours, or torch's (int64, int32: an upstream kernel's pointer and size arrays)
            args.append(torch.empty(16, dtype=dtypes.TORCH.get(value[1]) or getattr(torch, value[1]), device="meta")
                        if isinstance(value, tuple) and value[0] == "tensor" else value)
        binary, log, name, facts, ms = compile_launch(kernel, args, pair.options(config), arch)
        metrics = {**read(binary, log, "sass", {name: facts})[name], **facts, "compile_ms": ms}
        return {**metrics, "smem_bytes": smem_bytes(metrics)}
    import tilelang
    import tvm
    from tilelang.carver.arch import driver

    from bench.inspect.tilelang_build import kernel_launches, nvcc_cubin, nvcc_flags

    driver.get_num_sms = lambda: H100_SMS  # the examples ask the device; there is none here
    module = load(source, f"upstream_{Path(source).stem}")
    factory = getattr(module, pair.kernel)
    pass_configs = dict(getattr(factory, "pass_configs", None) or {})  # the example's own (fast math, ...)
    target = arch.tilelang_target()
    with tvm.transform.PassContext(opt_level=3, config=pass_configs), target:
        func = factory.get_tir(**pair.arguments(shape, pair.dtype, config))
        artifact = tilelang.lower(func, target=target)
    binary, log = nvcc_cubin(artifact.kernel_source, arch, nvcc_flags(pass_configs))
    launched = kernel_launches(artifact)
    found = read(binary, log, "sass", launched)
    name = max(found, key=lambda n: sum((found[n].get("mma") or {}).values()))
    metrics = {**found[name], **(launched.get(name) or {})}
    return {**metrics, "smem_bytes": smem_bytes(metrics)}


def ours(pair, config, arch_name):
    """Our kernel's inspect record at the op's inspect shape with `config`."""
    from bench import inspect as compile_report
    from bench.inspect.worker import compile_case

    [job] = [j for j in compile_report.jobs(pair.op, pair.backend, pair.dtype, arch_name) if j["config"] == config]
    record = compile_case(job)
    if record["status"] != "compiled":
        raise SystemExit(f"ours ({pair.backend}) did not compile: {record['reason']}")
    return job["shape"], record["metrics"]


def side_by_side(name, pair, upstream_dir, arch_name="sm_90a", config_index=None):
    from bench.core import ops
    from bench.inspect.toolchain import ARCHS

    dsl = ops.split_backend(pair.backend)[0]
    source = Path(upstream_dir) / dsl / pair.path
    if not source.exists():
        raise SystemExit(f"{source} is missing: run `python -m bench.inspect.upstream --fetch` (or give "
                         "--upstream-dir, a folder with triton/ and tilelang/ checkouts)")
    spec = ops.load_spec(pair.op)
    configs = spec.configs_for(pair.dtype, ops.split_backend(pair.backend)[1])
    if config_index is None:  # the config inspect compiles for this dtype
        from bench import inspect as compile_report

        config = next(j["config"] for j in compile_report.jobs(pair.op, pair.backend, pair.dtype, arch_name,
                                                                every_config=False))
    else:
        config = configs[config_index]
    shape, mine = ours(pair, config, arch_name)
    theirs = compile_upstream(pair, source, shape, config, ARCHS[arch_name])
    lines = [f"## {name}: ours ({pair.backend}) and upstream ({pair.note or pair.kernel}), {pair.dtype}, {arch_name}",
             f"shape {ops.shape_str(shape)}, config {config}", "",
             f"| {'':<24} | {'ours':<36} | {'upstream':<36} |", f"|{'-' * 26}|{'-' * 38}|{'-' * 38}|"]
    for label, get in ROWS:
        lines.append(f"| {label:<24} | {str(get(mine)):<36} | {str(get(theirs)):<36} |")
    for label, opcode in OPCODES:
        lines.append(f"| {label + ' (' + opcode + ')':<24} | {(mine.get('sass') or {}).get(opcode, 0):<36} | "
                     f"{(theirs.get('sass') or {}).get(opcode, 0):<36} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.inspect.upstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", nargs="*", help=f"which (default: all): {', '.join(PAIRS)}")
    parser.add_argument("--fetch", action="store_true", help="clone the upstream sources into the folder first")
    parser.add_argument("--upstream-dir", type=Path, default=FOLDER, help=f"holds triton/ and tilelang/ (default {FOLDER})")
    parser.add_argument("--config-index", type=int, help="the config of the track's list (default: inspect's)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.pairs if p not in PAIRS]
    if unknown:
        parser.error(f"unknown pair {', '.join(unknown)}; pairs: {', '.join(PAIRS)}")
    names = args.pairs or list(PAIRS)
    if args.fetch:
        fetch(args.upstream_dir, sorted({PAIRS[n].backend.split("-")[0] for n in names}))
    for name in names:
        index = args.config_index if args.config_index is not None else PAIRS[name].config_index
        with contextlib.redirect_stdout(sys.stderr):  # the DSLs' own chatter
            lines = side_by_side(name, PAIRS[name], args.upstream_dir, config_index=index)
        print("\n".join(lines) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

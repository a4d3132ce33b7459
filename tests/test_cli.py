"""The CLI: bad input is one line and exit 2; --json is one JSON document; --help is fast."""
import json
import subprocess
import sys

import pytest

from tests.conftest import DEVICE


def dslbench(*args):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300)


BAD = {
    "unknown op": (["check", "--op", "conv"], "unknown op 'conv'; valid ops: matmul"),
    "unknown backend": (["check", "--backend", "cublas"], "unknown backend 'cublas'; valid backends:"),
    "unknown dtype": (["check", "--op", "matmul", "--dtype", "fp64"], "unknown dtype 'fp64' (did you mean 'fp16'?); valid dtypes: fp32, fp16, bf16"),
    "shape without op": (["check", "--shape", "M=4,N=4,K=4"], "--shape needs a single --op"),
    "missing dimension": (["check", "--op", "matmul", "--shape", "M=4,N=4"], "lacks K"),
    "zero": (["check", "--op", "matmul", "--shape", "M=0,N=4,K=4"], "M=0 must be >= 1"),
    "negative": (["check", "--op", "matmul", "--shape", "M=4,N=-2,K=4"], "N=-2 must be >= 1"),
    "not an integer": (["check", "--op", "matmul", "--shape", "M=4,N=4,K=1.5"], "K='1.5' is not an integer"),
    "unknown shape key": (["check", "--op", "matmul", "--shape", "M=4,N=4,K=4,Q=1"], "unknown shape key 'Q'"),
    "no value": (["check", "--op", "matmul", "--shape", "M4,N=4,K=4"], "write KEY=VALUE"),
    "repeated key": (["check", "--op", "matmul", "--shape", "M=4,M=5,N=4,K=4"], "given twice"),
    "unknown option": (["check", "--bogus"], "unrecognized arguments: --bogus"),
    "unknown command": (["bogus"], "invalid choice"),
    "bad seed": (["run", "--seed", "x"], "invalid int value"),
}


@pytest.mark.parametrize("args,message", BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_line_and_exit_2(args, message):
    p = dslbench(*args)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert message in lines[0]


def test_check_json_is_one_document_of_records():
    p = dslbench("check", "--op", "matmul", "--shape", "M=129,N=255,K=63", "--json")
    assert p.returncode == 0, p.stderr
    records = json.loads(p.stdout)  # nothing else on stdout
    from bench.core import ops

    dsls = ops.dsl_backends(ops.load_spec("matmul"))
    assert {(r["backend"], r["dtype"]) for r in records} == {
        (b, d) for b in (*dsls, "torch", "reference") for d in ("fp32", "fp16", "bf16")}
    assert all(r["status"] == "pass" and r["schema"] == 1 for r in records)
    for r in records:
        assert (r["dsl"], r["track"]) == (ops.split_backend(r["backend"]) if r["backend"] in dsls else (None, None))
        dsl_on_cpu = r["backend"] in dsls and r["device"] == "cpu"
        assert r["emulated"] == (dsl_on_cpu and r["dtype"] == "bf16")
        assert r["env"]["torch"] and r["env"]["python"] and "tilelang" in r["env"]


def test_run_appends_records_with_timings(tmp_path):
    out = tmp_path / "run.jsonl"
    for seed in ("1", "2"):
        p = dslbench("run", "--op", "matmul", "--backend", "triton-matched,torch", "--dtype", "fp16",
                     "--shape", "M=33,N=20,K=17",
                     "--seed", seed, "--out", str(out))
        assert p.returncode == 0, p.stderr
    records = [r for r in map(json.loads, out.read_text().splitlines()) if r["kind"] == "case"]
    assert [r["seed"] for r in records] == [1, 1, 2, 2]
    for r in records:
        assert r["status"] == "pass" and r["time"]["n"] >= 3
        assert r["time"]["p10_ms"] <= r["time"]["median_ms"] <= r["time"]["p90_ms"]
        assert r["compile_ms"] >= 0 and r["utc"]
        # the CPU paths say their times are not performance; a GPU run's are CUDA events
        assert ("not performance" in r["timing"]) == (DEVICE == "cpu")
        assert r["env"]["device_kind"] == {"cpu": "cpu", "cuda": "gpu"}[DEVICE]


def test_a_failing_check_exits_1(tmp_path, monkeypatch):
    # A wrong kernel: the reference of the op is fine, but the tolerance cannot be met
    # by anything but the reference itself. Run in-process with a patched tolerance.
    from bench import cli
    from kernels.matmul import spec

    monkeypatch.setitem(spec.TOLERANCE, "fp32", (1e-30, 1e-30))
    assert cli.main(["check", "--op", "matmul", "--inline", "--backend", "torch", "--dtype", "fp32", "--shape", "M=20,N=20,K=20"]) == 1


def test_help_is_fast_because_it_imports_neither_torch_nor_tilelang():
    # what makes it fast, checked without a wall clock (a loaded machine can take any time)
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "check" in p.stdout and "run" in p.stdout
    imported = p.stderr
    assert "tilelang" not in imported and "torch" not in imported.split()


def test_list_names_each_backend_and_its_cpu_path():
    p = dslbench("list")
    assert p.returncode == 0
    assert "matmul" in p.stdout and f"device: {DEVICE}" in p.stdout
    assert ("bf16 emulated" in p.stdout) == (DEVICE == "cpu")  # the CPU paths lack bf16
    for backend in ("triton-matched", "tilelang-matched", "torch", "reference"):
        assert backend in p.stdout
    torch_line = next(line for line in p.stdout.splitlines() if line.strip().startswith("torch "))
    assert "runs" in torch_line and "native" not in torch_line  # "native" is a DSL's CPU-path word


@pytest.mark.skipif(DEVICE == "cuda", reason="on a GPU the gpu-full suite would start a sweep")
def test_gpu_suites_are_refused_without_a_gpu():
    p = dslbench("run", "--suite", "gpu-full")
    assert p.returncode == 2 and "needs a GPU" in p.stderr


def test_every_gpu_full_shape_belongs_to_its_gpu_suite():
    from bench.core import ops

    for op in ops.OPS:
        spec = ops.load_spec(op)
        full = getattr(spec, "GPU_FULL_SUITE", spec.GPU_SUITE)
        assert full and all(shape in spec.GPU_SUITE for shape in full), op
        assert set(getattr(spec, "GPU_DTYPES", spec.DTYPES)) <= set(spec.DTYPES), op


def test_gpu_full_runs_the_headline_cases_first():
    from types import SimpleNamespace

    from bench import cli

    spec = lambda name, headline: SimpleNamespace(NAME=name, headline=headline)  # noqa: E731
    other, gemm = spec("other", lambda s, d: False), spec("gemm", lambda s, d: d == "bf16" and s["M"] >= 4096)
    groups = [(other, [], "bf16", {"M": 1}), (gemm, [], "fp16", {"M": 8192}), (gemm, [], "bf16", {"M": 1024}),
              (gemm, [], "bf16", {"M": 4096}), (gemm, [], "bf16", {"M": 8192})]
    ordered = cli.headline_first(groups)
    assert [(g[0].NAME, g[2], g[3]["M"]) for g in ordered] == [
        ("gemm", "bf16", 4096), ("gemm", "bf16", 8192),  # the headline, in suite order
        ("other", "bf16", 1), ("gemm", "fp16", 8192), ("gemm", "bf16", 1024)]  # then the rest, in suite order


def test_the_gpu_full_headline_is_bf16_gemms_and_attention_at_4k_to_16k():
    from bench import cli
    from bench.core import ops

    for op in ("matmul", "attention"):
        spec = ops.load_spec(op)
        suite = getattr(spec, "GPU_FULL_SUITE", spec.GPU_SUITE)
        first = cli.headline_first([(spec, [], d, s) for d in spec.GPU_DTYPES for s in suite])
        heads = [g for g in first if spec.headline(g[3], g[2])]
        assert heads and first[:len(heads)] == heads, op  # the headline cases lead, and there are some
    assert ops.load_spec("matmul").headline(dict(M=8192, N=8192, K=8192), "bf16")
    assert ops.load_spec("matmul").headline(dict(M=16, N=14336, K=4096), "bf16")  # the decode GEMM
    assert not ops.load_spec("matmul").headline(dict(M=16, N=4096, K=14336), "bf16")
    assert not ops.load_spec("matmul").headline(dict(M=8192, N=8192, K=8192), "fp16")
    assert ops.load_spec("attention").headline(dict(B=1, Hq=16, Hkv=16, Sq=16384, Skv=16384, D=128, causal=1), "bf16")


def ops_shape(shape):
    from bench.core import ops

    return ops.shape_str(shape)


def gpu_select(monkeypatch, argv):
    from bench import cli
    from bench.core import env

    monkeypatch.setattr(env, "device", lambda: "cuda")  # suites for a GPU; nothing runs
    return cli.select(cli.parser().parse_args(argv))


def test_the_headline_suite_is_what_the_issue_names_with_every_backend(monkeypatch):
    from bench import cli

    groups = gpu_select(monkeypatch, ["run", "--suite", "headline"])
    cases = [(g[0].NAME, g[2], ops_shape(g[3])) for g in groups]
    assert cases == [
        ("matmul", "bf16", "M=4096,N=4096,K=4096"), ("matmul", "bf16", "M=8192,N=8192,K=8192"),
        ("matmul", "bf16", "M=4096,N=14336,K=4096"), ("matmul", "bf16", "M=16,N=14336,K=4096"),
        ("attention", "bf16", "B=4,Hq=16,Hkv=16,Sq=4096,Skv=4096,D=128,causal=0"),
        ("attention", "bf16", "B=4,Hq=16,Hkv=16,Sq=4096,Skv=4096,D=128,causal=1"),
        ("attention", "bf16", "B=1,Hq=16,Hkv=16,Sq=16384,Skv=16384,D=128,causal=0"),
        ("attention", "bf16", "B=1,Hq=16,Hkv=16,Sq=16384,Skv=16384,D=128,causal=1"),
        ("attention", "bf16", "B=1,Hq=32,Hkv=8,Sq=1,Skv=131072,D=128,causal=0"),
        ("attention_bwd", "bf16", "B=2,Hq=32,Hkv=8,Sq=8192,Skv=8192,D=128,causal=1"),
        ("attention_bwd", "bf16", "B=4,Hq=32,Hkv=8,Sq=4096,Skv=4096,D=128,causal=0"),
        ("fp8_gemm", "e4m3", "M=4096,N=2112,K=7168,ue8m0=1"), ("fp8_gemm", "e4m3", "M=4096,N=24576,K=1536,ue8m0=1"),
        ("grouped_gemm", "e4m3", "G=8,M=512,N=4096,K=7168,masked=0,ue8m0=1"),
        ("grouped_gemm", "e4m3", "G=32,M=64,N=4096,K=7168,masked=1,ue8m0=1")]
    for spec, names, _, _ in groups:  # every DSL backend of both tracks, beside the vendor libraries
        assert {"triton-matched", "tilelang-matched", "triton-best", "tilelang-best"} <= set(names)
        assert set(spec.BASELINES) <= set(names)
    # gpu-full starts with the same groups, in the same order
    full = gpu_select(monkeypatch, ["run", "--suite", "gpu-full"])
    assert [(g[0].NAME, g[2], g[3]) for g in full[:len(groups)]] == [(g[0].NAME, g[2], g[3]) for g in groups]
    assert not any(cli.is_headline(g) for g in full[len(groups):])


def test_the_headline_suite_refuses_an_op_without_one(monkeypatch):
    from bench.core.ops import UsageError

    with pytest.raises(UsageError, match="act_quant has no headline cases; ops with one: matmul, attention, attention_bwd, fp8_gemm, grouped_gemm"):
        gpu_select(monkeypatch, ["run", "--suite", "headline", "--op", "act_quant"])
    assert len(gpu_select(monkeypatch, ["run", "--suite", "headline", "--op", "fp8_gemm"])) == 2


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_sharding_never_splits_the_headline(monkeypatch, n):
    from bench import cli

    groups = gpu_select(monkeypatch, ["run", "--suite", "gpu-full"])
    head = [g for g in groups if cli.is_headline(g)]
    shards = [cli.shard(groups, f"{k}/{n}") for k in range(1, n + 1)]
    assert shards[0][:len(head)] == head  # shard 1 answers the headline on its own
    assert not any(cli.is_headline(g) for s in shards[1:] for g in s)
    together = [id(g) for s in shards for g in s]
    assert sorted(together) == sorted(id(g) for g in groups)  # every group once
    sizes = [len([g for g in s if not cli.is_headline(g)]) for s in shards]
    assert max(sizes) - min(sizes) <= 1  # the rest dealt out evenly


def test_a_reader_that_leaves_early_gets_no_traceback():
    import subprocess
    import sys

    import os

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line written as printed: head has left before the last
    done = subprocess.run(f"{sys.executable} -m bench list | head -1", shell=True, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.stdout.startswith("device: ") and "Traceback" not in done.stderr, done.stderr

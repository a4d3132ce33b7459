"""Users' own kernels (`--kernel FILE`, README: Your own kernel) and the honesty guards every
backend passes (bench/run/guards.py). Kernel files are written into a temporary folder: the
README's Triton matmul (checked, timed, reported, compiled for Hopper), and torch ones that are
wrong, write their input, answer from a cache, raise, hang, import a DSL that is not installed,
need a GPU, or come from an installed package's entry point."""
import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from bench import cli
from bench.core import ops
from bench.results.report import write as write_report
from bench.run import backends, check, timing
from tests.conftest import DEVICE

ROOT = Path(__file__).resolve().parent.parent
SHAPE = "M=33,N=40,K=24"


def dslbench(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


def readme_kernel(folder):
    """The README's example file, as a user would save it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Your own kernel"):]
    source = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = folder / "rowmajor_matmul.py"
    path.write_text(source)
    return path


def kernel_file(folder, name, body, op="matmul"):
    path = folder / f"{name}.py"
    path.write_text(f'OP = "{op}"\n' + textwrap.dedent(body))
    return path


TORCH_KERNELS = {  # matmul(a, b, c) in plain torch, each with one thing wrong (or none)
    "honest": """
        import torch
        def matmul(a, b, c):
            torch.matmul(a, b, out=c)
        """,
    "off_by_a_little": """
        import torch
        def matmul(a, b, c):
            c.copy_(a @ b * 1.01)
        """,
    "writes_its_input": """
        import torch
        def matmul(a, b, c):
            torch.matmul(a, b, out=c)
            a.zero_()
        """,
    "cached": """
        import torch
        CACHE = {}
        def matmul(a, b, c):
            key = (tuple(a.shape), tuple(b.shape))
            if key not in CACHE:
                CACHE[key] = a @ b
            c.copy_(CACHE[key])
        """,
    "raises": """
        def matmul(a, b, c):
            raise ValueError("this kernel has no code path for K=24")
        """,
    "hangs": """
        import time
        def matmul(a, b, c):
            time.sleep(3600)
        """,
    "missing_dsl": """
        import not_an_installed_dsl_xyz
        DSL = "xyz"
        def matmul(a, b, c):
            not_an_installed_dsl_xyz.run(a, b, c)
        """,
    "gpu_only": """
        DEVICES = ("cuda",)
        def matmul(a, b, c):
            pass
        """,
}


def entry_point_package(folder):
    """An installed package that ships a kernel through the `dslbench.kernels` entry point."""
    (folder / "shipped_kernels").mkdir()
    (folder / "shipped_kernels" / "__init__.py").write_text("")
    kernel_file(folder / "shipped_kernels", "gemm", TORCH_KERNELS["honest"])
    info = folder / "shipped_kernels-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shipped-kernels\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[dslbench.kernels]\nshipped_gemm = shipped_kernels.gemm\n")


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path's run")
def test_the_readme_kernel_is_checked_timed_and_reported(tmp_path):
    path = readme_kernel(tmp_path)
    out = tmp_path / "run.jsonl"
    p = dslbench("run", "--kernel", str(path), "--shape", SHAPE, "--dtype", "fp16",
                 "--backend", "user:rowmajor_matmul,triton-best,torch", "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stdout + p.stderr
    records = {r["backend"]: r for r in map(json.loads, out.read_text().splitlines()) if r.get("kind") == "case"}
    mine = records["user:rowmajor_matmul"]
    assert mine["status"] == "pass" and (mine["dsl"], mine["track"]) == ("triton", "user")
    assert mine["kernel_file"] == {"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert mine["path"] == "Triton interpreter" and mine["time"]["median_ms"] > 0
    assert mine["config"] == dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, num_warps=4, num_stages=3)
    assert all(r["second_call"]["seed"] == 7919 for r in records.values())  # the guards ran for ours too
    report, _ = write_report(out, tmp_path / "report")
    text = report.read_text()
    assert re.search(r"\| M=33,N=40,K=24 \| user:rowmajor_matmul \| pass \|", text)  # the performance table
    your_own = text[text.index("### Your own kernels"):]
    assert re.search(r"\| matmul \| fp16 \| user:rowmajor_matmul \| triton \| [0-9a-f]{12} \| 1/1 \|", your_own)


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path's check")
def test_dishonest_broken_and_unavailable_kernels_are_results(tmp_path):
    """One check of every torch kernel: each is its own result, and a hang ends only its case."""
    files = [kernel_file(tmp_path, name, body) for name, body in TORCH_KERNELS.items()]
    entry_point_package(tmp_path)
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    names = ",".join(f"user:{n}" for n in [*TORCH_KERNELS, "shipped_gemm"])
    p = dslbench("check", *(a for f in files for a in ("--kernel", str(f))), "--shape", SHAPE, "--dtype", "fp32",
                 "--backend", names, "--timeout", "10", "--json", env=env)
    assert p.returncode == 1, p.stderr
    got = {r["backend"]: r for r in json.loads(p.stdout)}
    assert {n: r["status"] for n, r in got.items()} == {
        "user:honest": "pass", "user:off_by_a_little": "fail", "user:writes_its_input": "fail", "user:cached": "fail",
        "user:raises": "error", "user:hangs": "error", "user:missing_dsl": "skipped", "user:gpu_only": "skipped",
        "user:shipped_gemm": "pass"}
    assert got["user:off_by_a_little"]["reason"].startswith("c: rel_err")
    assert got["user:writes_its_input"]["reason"].startswith("wrote its input a ")
    assert got["user:cached"]["reason"].startswith("a second call, on other inputs (seed 7919), fails: c: rel_err")
    assert got["user:raises"]["reason"] == "ValueError: this kernel has no code path for K=24"
    assert "timed out after 10 s" in got["user:hangs"]["reason"] and "prepare" in got["user:hangs"]["reason"]
    assert got["user:missing_dsl"]["reason"].startswith("not_an_installed_dsl_xyz is not installed")
    assert got["user:missing_dsl"]["dsl"] == "xyz" and got["user:honest"]["dsl"] == "python"
    assert got["user:gpu_only"]["reason"] == "needs a CUDA GPU"
    assert got["user:shipped_gemm"]["kernel_file"]["path"] == str((tmp_path / "shipped_kernels" / "gemm.py").resolve())


BROKEN = {
    "no such file": (None, "--kernel {dir}/absent.py: no such file"),
    "no OP": ("def matmul(a, b, c): pass\n", "lacks OP = \"<op>\", the op it implements"),
    "unknown op": ('OP = "matmull"\ndef matmull(a, b, c): pass\n', "is not an op (did you mean 'matmul'?)"),
    "no host function": ('OP = "matmul"\ndef gemm(a, b, c): pass\n', "lacks its host function: def matmul(a, b, c, **flags)"),
    "too few arguments": ('OP = "attention"\ndef attention(q, k, v, o): pass\n',
                          "attention(q, k, v, o) takes 4 positional arguments; attention passes 5: q, k, v, o, lse"),
    "syntax error": ('OP = "matmul"\ndef matmul(a, b, c):\n  return (\n', "broken.py:3:"),
}


@pytest.mark.parametrize("source,message", BROKEN.values(), ids=BROKEN.keys())
def test_a_file_off_the_convention_is_one_line_naming_what_it_lacks(tmp_path, capsys, monkeypatch, source, message):
    monkeypatch.setenv(ops.USER_KERNELS_ENV, "")
    path = tmp_path / ("absent.py" if source is None else "broken.py")
    if source is not None:
        path.write_text(source)
    assert cli.main(["check", "--kernel", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(dir=tmp_path) in err[0], err


def register(monkeypatch, path):
    from bench.core import user

    monkeypatch.setenv(ops.USER_KERNELS_ENV, "")  # the environment as it was, after the test
    kernel = user.parse(path)
    ops.register_user_kernels([kernel])
    return kernel["name"]


def test_outputs_are_poisoned_again_before_the_chosen_config_runs(tmp_path, monkeypatch):
    """Autotune picks the faster config; the call whose outputs are checked is that config's
    alone: a config that writes nothing cannot pass on what the other config wrote."""
    path = kernel_file(tmp_path, "lazy_config", """
        import torch
        CONFIGS = [dict(lazy=False), dict(lazy=True)]
        def matmul(a, b, c, lazy):
            if not lazy:
                torch.matmul(a, b, out=c)
        """)
    name = register(monkeypatch, path)
    medians = iter([2.0, 1.0])  # the timing says the lazy config is faster, whatever this machine is doing
    monkeypatch.setattr(timing, "time_fn", lambda fn, device: {"median_ms": next(medians)})
    spec, shape = ops.load_spec("matmul"), {"M": 8, "N": 8, "K": 8}
    inputs = spec.make_inputs(shape, "fp32", 0, "cpu")
    prepared = backends.prepare(name, spec, shape, "fp32", "autotune", inputs, "cpu")
    assert prepared.config == {"lazy": True}
    result = check.compare(prepared.outputs, spec.reference(inputs), spec.TOLERANCE["fp32"])
    assert not result["passed"] and "NaN" in result["reason"]


class TwoStreamGpu:
    """A GPU in simulated milliseconds with the timed stream and one other: events stamp the timed
    stream; a synchronize waits for both."""

    def __init__(self):
        self.host = self.stream = self.other = 0.0

    def now_ms(self):
        return self.host

    def sync(self):
        self.host = max(self.host, self.stream, self.other)

    def event(self):
        self.stream = max(self.stream, self.host)
        return self.stream

    @staticmethod
    def elapsed_ms(start, end):
        return end - start

    def kernel(self, device_ms, on_other_stream=False):
        def call():
            self.host += 0.01
            if on_other_stream:
                self.other = max(self.other, self.host) + device_ms
            else:
                self.stream = max(self.stream, self.host) + device_ms
        return call


@pytest.mark.parametrize("device_ms", [0.005, 0.3, 4.0])
def test_the_stream_check_flags_work_the_timed_stream_never_waited_for(device_ms):
    gpu = TwoStreamGpu()
    honest = timing.stream_check(gpu.kernel(device_ms), gpu)
    assert honest["agree"] and honest["device_ms"] == pytest.approx(honest["stream_ms"])
    hidden = timing.stream_check(gpu.kernel(device_ms, on_other_stream=True), gpu)
    assert hidden["agree"] == (device_ms < 0.05)  # only what a synchronize's own latency covers can hide
    assert timing.stream_checks({"x": gpu.kernel(1.0)}, "cpu") == {}


def test_a_case_whose_stream_disagreed_is_warned_about_and_its_time_not_used(tmp_path):
    from synthetic import case, write

    shape = {"M": 4096, "N": 4096, "K": 4096}
    flagged = {"stream_ms": 0.2, "device_ms": 1.1, "agree": False}
    run = write(tmp_path / "run.jsonl", [case("triton-best", shape, [1.0] * 9, dtype="bf16"),
                                         case("tilelang-best", shape, [0.2] * 9, dtype="bf16", stream_check=flagged),
                                         case("torch", shape, [0.9] * 9, dtype="bf16")])
    report, _ = write_report(run, tmp_path / "report")
    text = report.read_text()
    assert "1 case(s) left work on the GPU that the timed stream did not wait for" in text
    assert "matmul bf16 tilelang-best M=4096,N=4096,K=4096" in text
    assert "No shape where both DSLs passed and were timed." in text  # its 0.2 ms did not make a 5x win


@pytest.mark.skipif(DEVICE != "cpu", reason="the CPU path's check")
def test_a_tilelang_factory_file_is_compiled_as_ours_are(tmp_path):
    path = kernel_file(tmp_path, "tl_loops", """
        import tilelang.language as T
        CONFIGS = [dict(block_M=16, block_N=16)]
        def matmul_kernel(M, N, K, dtype, block_M, block_N):
            @T.prim_func
            def main(A: T.Tensor((M, K), dtype), B: T.Tensor((K, N), dtype), C: T.Tensor((M, N), dtype)):
                with T.Kernel(T.ceildiv(N, block_N), T.ceildiv(M, block_M), threads=128) as (bx, by):
                    acc = T.alloc_fragment((block_M, block_N), "float32")
                    T.clear(acc)
                    for k in T.serial(K):
                        for i, j in T.Parallel(block_M, block_N):
                            if by * block_M + i < M and bx * block_N + j < N:
                                acc[i, j] += T.cast(A[by * block_M + i, k], "float32") * T.cast(B[k, bx * block_N + j], "float32")
                    for i, j in T.Parallel(block_M, block_N):
                        if by * block_M + i < M and bx * block_N + j < N:
                            C[by * block_M + i, bx * block_N + j] = T.cast(acc[i, j], dtype)
            return main
        """)
    p = dslbench("check", "--kernel", str(path), "--shape", SHAPE, "--dtype", "fp16,bf16", "--backend", "user:tl_loops",
                 "--json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert [(r["status"], r["dsl"], r["path"], r["emulated"]) for r in got] == [
        ("pass", "tilelang", "TileLang C backend", False), ("pass", "tilelang", "TileLang C backend", True)]


def test_inspect_compiles_a_users_triton_kernel_for_hopper(tmp_path):
    path = readme_kernel(tmp_path)
    p = dslbench("inspect", "--kernel", str(path), "--backend", "user:rowmajor_matmul", "--dtype", "bf16",
                 "--configs", "one", "--json")
    assert p.returncode == 0, p.stderr
    (record,) = json.loads(p.stdout)
    assert (record["status"], record["dsl"], record["track"], record["arch"]) == ("compiled", "triton", "user", "sm_90a")
    assert record["tensor_core"]["native"] == "HGMMA" and record["metrics"]["threads"] == 128

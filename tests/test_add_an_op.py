"""Adding an op is a documented path (README: Add an op): a small elementwise op written in a
temporary folder, in both DSLs, goes through check, run, inspect and report like ours."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SPEC = '''
"""y = alpha * x, elementwise: an op added from outside kernels/ (README: Add an op)."""
import torch

from kernels import dtypes

NAME = "axpy"
SHAPE_KEYS = ("N",)
DTYPES = ("fp32", "fp16")
INPUTS = ("x",)
OUTPUTS = ("y",)
BASELINES = ("torch",)
ALPHA = 3.0
CONFIGS = {"matched": [dict(block=256, threads=128), dict(block=1024, threads=256)]}
TOLERANCE = {"fp32": (1e-6, 1e-6), "fp16": (1e-3, 1e-3)}
CPU_SUITE = [dict(N=1000), dict(N=7)]
GPU_SUITE = [dict(N=1 << 24)]


def configs_for(dtype, track):
    return CONFIGS[track]


def validate(shape):
    return None


def kernel_flags(shape):
    return {}


def make_inputs(shape, dtype, seed, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(shape["N"], generator=g).to(device=device, dtype=dtypes.TORCH[dtype])}


def make_outputs(shape, dtype, device="cpu"):
    return {"y": torch.full((shape["N"],), float("nan"), dtype=dtypes.TORCH[dtype], device=device)}


def reference(inputs):
    return {"y": ALPHA * inputs["x"].double()}


def flops(shape):
    return shape["N"]


def bytes_moved(shape, dtype):
    return 2 * shape["N"] * dtypes.BYTES[dtype]
'''
TRITON = '''
"""y = alpha * x in Triton. Track: matched (plain masked loads, one block per program)."""
import triton
import triton.language as tl

from extra_ops.axpy.spec import ALPHA


@triton.jit
def axpy_kernel(x_ptr, y_ptr, n, alpha, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(y_ptr + offs, (x * alpha).to(y_ptr.dtype.element_ty), mask=offs < n)


def axpy(x, y, block, threads):
    axpy_kernel[(triton.cdiv(x.numel(), block),)](x, y, x.numel(), ALPHA, BLOCK=block, num_warps=threads // 32)
'''
TILELANG = '''
"""y = alpha * x in TileLang. Track: matched (plain guarded loads, one block per program)."""
import tilelang.language as T

from extra_ops.axpy.spec import ALPHA


def axpy_kernel(N, dtype, block, threads):
    @T.prim_func
    def axpy(X: T.Tensor((N,), dtype), Y: T.Tensor((N,), dtype)):
        with T.Kernel(T.ceildiv(N, block), threads=threads) as bx:
            for i in T.Parallel(block):
                if bx * block + i < N:
                    Y[bx * block + i] = X[bx * block + i] * ALPHA
    return axpy
'''
BASELINES = '''
"""The torch baseline of axpy."""


def torch_axpy(x, y):
    y.copy_(3.0 * x)


BASELINES = {"torch": torch_axpy}
'''


@pytest.fixture(scope="module")
def op_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops")
    folder = root / "extra_ops" / "axpy"
    folder.mkdir(parents=True)
    (root / "extra_ops" / "__init__.py").write_text("")
    for name, text in {"__init__.py": "", "spec.py": SPEC, "triton_matched.py": TRITON,
                       "tilelang_matched.py": TILELANG, "baselines.py": BASELINES}.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())
    return root


def dslbench(root, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(ROOT)]), "DSLBENCH_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def test_a_new_op_goes_through_check_run_inspect_and_report(op_folder):
    p = dslbench(op_folder, "check", "--op", "extra_ops.axpy", "--json")
    assert p.returncode == 0, p.stderr
    checked = json.loads(p.stdout)
    assert {(r["backend"], r["status"]) for r in checked} >= {("triton-matched", "pass"), ("tilelang-matched", "pass"),
                                                              ("torch", "pass")}
    out = op_folder / "run.jsonl"
    p = dslbench(op_folder, "run", "--op", "extra_ops.axpy", "--dtype", "fp16", "--quiet", "--out", str(out))
    assert p.returncode == 0, p.stderr
    from bench.inspect.toolchain import cuda_root

    if cuda_root() is not None:  # the inspect extra: compile the new op for Hopper too
        p = dslbench(op_folder, "inspect", "--op", "extra_ops.axpy", "--dtype", "fp16", "--jobs", "1", "--out", str(out))
        assert p.returncode == 0, p.stdout + p.stderr
    p = dslbench(op_folder, "report", str(out), "--out", str(op_folder / "report"))
    assert p.returncode == 0, p.stderr
    text = (op_folder / "report" / "report.md").read_text()
    assert "### axpy fp16" in text and "| axpy | fp16 | matched |" in text


def test_a_spec_lacking_a_field_is_a_one_line_error(op_folder, tmp_path):
    broken = op_folder / "extra_ops" / "broken"
    broken.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "spec.py").write_text(textwrap.dedent(SPEC).replace("def flops(shape):", "def _flops(shape):"))
    p = dslbench(op_folder, "check", "--op", "extra_ops.broken")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "extra_ops/broken/spec.py lacks flops (README: Add an op)" in p.stderr

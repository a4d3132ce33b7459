"""Constants a kernel shares with its reference are pinned to the upstream code they imitate
(a wrong value would move kernel and reference together and pass), and each tolerance is tight
enough that a slightly wrong kernel fails it."""
import math

import pytest
import torch

from bench.run import check
from kernels import dtypes
from kernels.attention import spec as attention
from kernels.fp8_gemm import spec as gemm
from kernels.matmul import spec as matmul
from kernels.sparse_mla import spec as mla


def test_sparse_mla_default_scale_is_the_upstream_one():
    # TileLang's examples/deepseek_v32/sparse_mla_fwd.py (DeepSeek-V3.2's sparse MLA):
    # `sm_scale = (1.0 / (dim + tail_dim)) ** 0.5` with dim = 512 latent, tail_dim = 64 rotary dims.
    assert (mla.D_V, mla.D_ROPE) == (512, 64)
    assert mla.default_scale() == (1.0 / (512 + 64)) ** 0.5


def test_attention_default_scale_is_sdpas():
    # torch's scaled_dot_product_attention, our SDPA baselines, default to `1 / math.sqrt(E)`
    # (flash-attn's `q.shape[-1] ** (-0.5)` differs from it by one ulp for some head dims).
    for d in (32, 40, 64, 96, 128, 256):
        assert attention.default_scale(d) == 1 / math.sqrt(d)


@pytest.mark.parametrize("dtype", matmul.DTYPES)
def test_a_matmul_off_by_one_in_k_fails_and_the_right_one_passes(dtype):
    shape = dict(M=64, N=96, K=256)
    inputs = matmul.make_inputs(shape, dtype, seed=1)
    truth = matmul.reference(inputs)
    right = {"c": truth["c"].to(dtypes.TORCH[dtype])}
    a, b = inputs["a"].double(), inputs["b"].double()
    short = {"c": (a[:, :-1] @ b[:-1]).to(dtypes.TORCH[dtype])}  # the K loop stops one short
    assert check.compare(right, truth, matmul.TOLERANCE[dtype])["passed"]
    assert not check.compare(short, truth, matmul.TOLERANCE[dtype])["passed"]


@pytest.mark.parametrize("ue8m0", [0, 1])
def test_an_fp8_gemm_1pct_off_on_a_column_block_fails_and_the_right_one_passes(ue8m0):
    shape = dict(M=64, N=256, K=512, ue8m0=ue8m0)
    inputs = gemm.make_inputs(shape, "e4m3", seed=2)
    truth = gemm.reference(inputs)
    right = {"c": truth["c"].to(torch.bfloat16)}
    sb = gemm.decode(inputs["sb"]).clone()
    sb[1, :] *= 1.01  # the scales of one 128-column block of B 1% off: half of C 1% too large
    wrong = {"c": gemm.reference(dict(inputs, sb=sb))["c"].to(torch.bfloat16)}
    assert check.compare(right, truth, gemm.TOLERANCE["e4m3"])["passed"]
    result = check.compare(wrong, truth, gemm.TOLERANCE["e4m3"])
    assert not result["passed"], f"a 1% error in one block passed: {result}"
    assert math.isfinite(result["rel_err"])

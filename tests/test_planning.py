"""Host-side planning holds for every valid shape, not only the listed ones (hypothesis).

For every op, shapes drawn over the whole valid space (validate() says which are valid), and
every config of every track and dtype: planning never raises (a config that cannot fit is a
Skip, a recorded result), split-KV and split-top-k plans cover every key or slot exactly once
with whole tiles and no empty split, the workspaces have the shapes the kernels index (built
on torch's meta device: no memory), tiles fit the shared memory, and validate() answers in
one line. No kernel runs here: these are fast.
"""
import math

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.core import ops
from bench.core.ops import UsageError
from kernels import GRID_YZ_MAX, SMEM_LIMIT, Skip
from kernels.act_quant import spec as act_quant
from kernels.attention import spec as attention
from kernels.dsa_index import spec as dsa_index
from kernels.dsa_step import spec as dsa_step
from kernels.fp8_gemm import spec as fp8_gemm
from kernels.matmul import spec as matmul
from kernels.sparse_mla import spec as sparse_mla

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.filter_too_much])
SIZE = st.integers(1, 1 << 17)
POW2 = st.sampled_from([1 << i for i in range(9)])


def plans(spec):
    """Every (track, dtype, config) the op's planning must take."""
    return [(t, d, c) for t in ops.tracks(spec) for d in spec.DTYPES for c in spec.configs_for(d, t)]


def test_every_track_and_dtype_has_a_config_that_fits():
    for spec in (act_quant, attention, dsa_index, dsa_step, fp8_gemm, matmul, sparse_mla):
        for track in ops.tracks(spec):
            for dtype in getattr(spec, "GPU_DTYPES", spec.DTYPES):
                assert spec.configs_for(dtype, track), (spec.NAME, track, dtype)


def one_line_or_none(problem):
    assert problem is None or (isinstance(problem, str) and problem and "\n" not in problem), problem
    return problem is None


def covers_once(total, chunk, splits, tile):
    """Chunks [i*chunk, (i+1)*chunk) for i < splits cover [0, total) exactly once, in whole
    tiles, and none is empty."""
    assert splits >= 1 and chunk >= tile and chunk % tile == 0, (total, chunk, splits, tile)
    assert splits * chunk >= total, f"{splits} splits of {chunk} miss keys of {total}"
    assert (splits - 1) * chunk < total, f"split {splits - 1} of {chunk} is empty ({total} keys)"


# --- attention -------------------------------------------------------------------------

attention_shapes = st.builds(
    lambda B, Hkv, G, Sq, Skv, D, causal: dict(B=B, Hq=Hkv * G, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, causal=causal),
    B=st.integers(1, 512), Hkv=st.one_of(POW2, st.integers(1, 64)), G=st.sampled_from([1, 2, 4, 5, 7, 8, 16]),
    Sq=st.one_of(st.integers(1, attention.DECODE_MAX_SQ), SIZE), Skv=SIZE, D=st.integers(1, 300),
    causal=st.integers(0, 1))


@SETTINGS
@given(attention_shapes)
@example(dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=2100, D=128, causal=0))  # Llama-3-8B decode, 2k cache: the old rule raised
@example(dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=1030, D=128, causal=1))
def test_attention_plans_every_valid_shape(shape):
    if not one_line_or_none(attention.validate(shape)):
        return
    D = attention.padded_head_dim(shape["D"])
    assert D >= max(16, shape["D"]) and D & (D - 1) == 0
    for track, dtype, config in plans(attention):
        try:
            fitted = attention.fit(config, dtype, shape["D"])
        except Skip:
            continue
        assert attention.smem_bytes(fitted, dtype, shape["D"]) <= SMEM_LIMIT
        assert fitted["block_M"] >= fitted["threads"] // 2 or fitted["block_M"] == 64
        if track != "best" or attention.shape_class(shape) != "decode":
            continue
        dc = attention.decode_config(config, dtype, shape["D"])
        assert attention.smem_bytes(dc, dtype, shape["D"]) <= SMEM_LIMIT
        splits = attention.decode_splits(shape, dc["block_N"])
        assert 1 <= splits <= attention.MAX_SPLITS
        covers_once(shape["Skv"], attention.decode_chunk(shape["Skv"], dc["block_N"], splits), splits, dc["block_N"])
        scratch = attention.decode_workspace(shape, dtype, config, "meta")
        R = attention.decode_rows(shape)
        assert scratch["o_partial"].shape == (shape["B"], shape["Hkv"], splits, R, shape["D"])
        assert scratch["lse_partial"].shape == (shape["B"], shape["Hkv"], splits, R)
        assert shape["B"] * shape["Hkv"] <= GRID_YZ_MAX


def test_decode_splits_take_the_best_over_the_eligible_counts_only():
    """The rule flash-attention's num_splits_heuristic follows: a Llama-3-8B decode step whose
    best wave fill over all counts is at a count no distinct chunk size reaches."""
    shape = dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=1030, D=128, causal=0)
    splits = attention.decode_splits(shape, 64)
    tiles = math.ceil(1030 / 64)  # 17 key tiles, 8 programs a split
    assert 1 <= splits <= tiles and math.ceil(tiles / splits) != math.ceil(tiles / (splits - 1))


def test_attention_refuses_more_heads_than_one_grid_axis_takes():
    problem = attention.validate(dict(B=1024, Hq=128, Hkv=8, Sq=1, Skv=64, D=64, causal=0))
    assert problem and "65535" in problem and "\n" not in problem
    assert attention.validate(dict(B=511, Hq=128, Hkv=8, Sq=1, Skv=64, D=64, causal=0)) is None


# --- DeepSeek sparse attention: the indexer, sparse MLA, the step --------------------------

dsa_index_shapes = st.builds(dict, B=st.integers(1, 64), Sq=st.one_of(st.integers(1, 4), SIZE), Skv=SIZE,
                             H=st.sampled_from(dsa_index.HEAD_COUNTS + (8, 96)),
                             D=st.sampled_from([dsa_index.HEAD_DIM, 64]))


@SETTINGS
@given(dsa_index_shapes)
def test_dsa_index_plans_every_valid_shape(shape):
    if not one_line_or_none(dsa_index.validate(shape)):
        return
    for track, dtype, config in plans(dsa_index):
        assert dsa_index.smem_bytes(config, dtype) <= SMEM_LIMIT
        if track == "best":
            chunks, chunk_N = dsa_index.key_split(shape, config["block_N"])
            covers_once(shape["Skv"], chunk_N, chunks, config["block_N"])
            assert chunks <= GRID_YZ_MAX
        else:
            assert math.ceil(shape["Skv"] / config["chunk_N"]) <= GRID_YZ_MAX
    assert shape["B"] <= GRID_YZ_MAX


sparse_mla_shapes = st.builds(dict, B=st.integers(1, 128), Sq=st.one_of(st.integers(1, 4), SIZE), Skv=SIZE,
                              H=st.one_of(st.sampled_from([16, 64, 128]), st.integers(1, 256)),
                              topk=st.one_of(st.sampled_from([2048]), st.integers(1, 8192)))


@SETTINGS
@given(sparse_mla_shapes)
def test_sparse_mla_plans_every_valid_shape(shape):
    if not one_line_or_none(sparse_mla.validate(shape)):
        return
    for track, dtype, config in plans(sparse_mla):
        assert sparse_mla.smem_bytes(config, dtype) <= SMEM_LIMIT
        if track != "best":
            continue
        splits, chunk = sparse_mla.topk_split(shape, config["block_N"])
        covers_once(shape["topk"], chunk, splits, config["block_N"])
        assert math.ceil(shape["H"] / sparse_mla.BLOCK_H) * splits <= GRID_YZ_MAX
        scratch = sparse_mla.decode_workspace(shape, dtype, config, "meta")
        if splits == 1:
            assert scratch == {}
        else:
            B, Sq, H = shape["B"], shape["Sq"], shape["H"]
            assert scratch["o_partial"].shape == (B, Sq, splits, H, sparse_mla.D_V)
            assert scratch["lse_partial"].shape == (B, Sq, splits, H)


@SETTINGS
@given(st.builds(dict, B=st.integers(1, 64), Sq=st.one_of(st.integers(1, 4), SIZE), Skv=SIZE,
                 H=st.integers(1, 256), topk=st.integers(1, 8192)))
def test_dsa_step_validates_as_both_of_its_stages(shape):
    problem = dsa_step.validate(shape)
    assert one_line_or_none(problem) == (dsa_index.validate(dsa_step.index_shape(shape)) is None
                                         and sparse_mla.validate(dsa_step.mla_shape(shape)) is None)
    for track, dtype, config in plans(dsa_step):
        index_config, mla_config = dsa_step.split_config(config)
        assert dsa_step.step_config(index_config, mla_config) == config


# --- GEMMs and the activation quantizer ----------------------------------------------------

@SETTINGS
@given(st.builds(dict, M=st.integers(1, 1 << 20), N=st.integers(1, 1 << 16), K=st.integers(1, 1 << 16)))
@example(dict(M=600_000, N=16, K=64))  # a split-K partial sum with more row tiles than grid y takes
def test_matmul_plans_every_valid_shape(shape):
    assert one_line_or_none(matmul.validate(shape))
    for track, dtype, config in plans(matmul):
        assert matmul.smem_bytes(config, dtype, track) <= SMEM_LIMIT
        try:
            scratch = matmul.workspace(shape, dtype, config, "meta")
        except Skip as skip:
            assert config["split_k"] > 1 and math.ceil(shape["M"] / matmul.COMBINE_M) > GRID_YZ_MAX, skip
            continue
        if config["split_k"] > 1:
            assert scratch["partial"].shape == (config["split_k"], shape["M"], shape["N"])
            assert scratch["partial"].dtype == torch.float32
        else:
            assert scratch == {}


@SETTINGS
@given(st.builds(dict, M=st.integers(1, 1 << 20), N=st.integers(1, 1 << 16),
                 K=st.one_of(st.integers(1, 64).map(lambda k: k * fp8_gemm.BLOCK), st.integers(1, 1 << 14)),
                 ue8m0=st.integers(0, 1)))
def test_fp8_gemm_plans_every_valid_shape(shape):
    if not one_line_or_none(fp8_gemm.validate(shape)):
        assert shape["K"] % fp8_gemm.BLOCK
        return
    for track, dtype, config in plans(fp8_gemm):
        assert fp8_gemm.smem_bytes(config, dtype, track) <= SMEM_LIMIT
        try:
            scratch = fp8_gemm.workspace(shape, dtype, config, "meta", track)
        except Skip:
            assert config["split_k"] > 1 and math.ceil(shape["M"] / fp8_gemm.COMBINE_M) > GRID_YZ_MAX
            continue
        if track == "best":
            sa_t = scratch["sa_t"]
            assert sa_t.shape == (shape["K"] // fp8_gemm.BLOCK, fp8_gemm.padded_rows(shape["M"]))
            assert sa_t.shape[1] >= shape["M"] and sa_t.shape[1] * 4 % fp8_gemm.TMA_ALIGN == 0
        if config["split_k"] > 1:
            assert scratch["partial"].shape == (config["split_k"], shape["M"], shape["N"])


@SETTINGS
@given(st.builds(dict, M=st.integers(1, 1 << 22), N=st.integers(1, 1 << 14), ue8m0=st.integers(0, 1)))
def test_act_quant_validates_every_shape_in_one_line(shape):
    valid = one_line_or_none(act_quant.validate(shape))
    smallest = min(c["block_M"] for c in act_quant.CONFIGS["matched"])
    assert valid == (shape["N"] % act_quant.GROUP == 0 and math.ceil(shape["M"] / smallest) <= GRID_YZ_MAX)


# --- the command line: a refused shape is one line ------------------------------------------

@pytest.mark.parametrize("op, text", [
    ("attention", "B=1,Hq=6,Hkv=4,Sq=1,Skv=8,D=64,causal=0"),
    ("attention", "B=2048,Hq=64,Hkv=8,Sq=1,Skv=8,D=64,causal=0"),
    ("attention", "B=1,Hq=8,Hkv=8,Sq=1,Skv=8,D=512,causal=0"),
    ("fp8_gemm", "M=8,N=8,K=100,ue8m0=0"),
    ("act_quant", "M=8,N=100,ue8m0=1"),
    ("dsa_index", "B=70000,Sq=1,Skv=8,H=64,D=128"),
    ("sparse_mla", "B=70000,Sq=1,Skv=8,H=64,topk=8"),
    ("dsa_step", "B=1,Sq=1,Skv=1,H=64,topk=1<<40"),
])
def test_a_refused_shape_is_a_one_line_usage_error(op, text):
    spec = ops.load_spec(op)
    with pytest.raises(UsageError) as refused:
        ops.parse_shape(text.replace("1<<40", str(1 << 40)), spec)
    assert "\n" not in str(refused.value)

"""DeepSeek Sparse Attention (dsa_index, sparse_mla): both DSLs against the float64 references
on ragged shapes and every config, the end-aligned mask, rows without any index (zeros and
-inf, never NaN), unused and out-of-range slots, sparse = dense when every key is selected,
duplicates refused, the whole indexer -> top-k -> sparse MLA pipeline, the check's handling
of infinities, and wrong kernels that must fail."""
import math

import pytest
import torch

from bench.run import backends, check, runner
from bench.core import ops
from kernels.dsa_index import spec as index
from kernels.sparse_mla import spec as mla
from tests.conftest import DEVICE, kernel_configs

INDEX_BACKENDS = ops.dsl_backends(index)
MLA_BACKENDS = ops.dsl_backends(mla)
# An empty row's lse is log(0) = -inf by design; Triton's interpreter (numpy) warns about it.
EMPTY_ROWS_LOG = pytest.mark.filterwarnings("ignore:divide by zero encountered in log2")
DTYPE = {index: "e4m3", mla: "bf16"}
RAGGED_INDEX = dict(B=2, Sq=40, Skv=300, H=16, D=128)  # the diagonal crosses a chunk (256), hidden blocks
RAGGED_MLA = dict(B=1, Sq=20, Skv=200, H=16, topk=40)  # topk not a multiple of any block_N


def run(backend, spec, shape, inputs, config=None):
    """The backend's outputs for these inputs (first shared config unless one is given; a
    config may carry kernel overrides such as sm_scale)."""
    config = config or spec.configs_for(DTYPE[spec], ops.split_backend(backend)[1])[0]
    return backends.prepare(backend, spec, shape, DTYPE[spec], config, inputs, DEVICE).outputs


def compare(spec, outputs, reference):
    return check.compare(outputs, reference, spec.TOLERANCE[DTYPE[spec]])


# --- both ops through the harness ----------------------------------------------------------

@EMPTY_ROWS_LOG
@pytest.mark.parametrize("spec,shape", [(index, RAGGED_INDEX), (index, dict(B=1, Sq=40, Skv=24, H=16, D=128)),
                                        (mla, RAGGED_MLA), (mla, dict(B=2, Sq=20, Skv=8, H=72, topk=64))],
                         ids=["index-ragged", "index-Sq>Skv", "mla-ragged", "mla-Sq>Skv-H72"])
def test_every_backend_matches_reference(spec, shape):
    dsls = ops.dsl_backends(spec)
    records = list(runner.run_group(spec, dsls + ["torch"], DTYPE[spec], shape, seed=1, device=DEVICE, timed=False))
    assert sorted(r["backend"] for r in records) == sorted(dsls + ["torch"])  # one record per backend, none lost
    for r in records:
        assert r["status"] == "pass", f"{r['backend']} {shape}: {r['status']} {r['reason']}"
        assert r["reason"] == ""  # every output checked
        assert r["emulated"] == (DEVICE == "cpu" and r["backend"] in dsls)


@pytest.mark.parametrize("backend,config", kernel_configs(index, "e4m3"))
def test_every_index_config_is_correct_on_a_ragged_shape(backend, config):
    inputs = index.make_inputs(RAGGED_INDEX, "e4m3", seed=2, device=DEVICE)
    result = compare(index, run(backend, index, RAGGED_INDEX, inputs, config), index.reference(inputs))
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("backend,config", kernel_configs(mla, "bf16"))
def test_every_mla_config_is_correct_on_a_ragged_shape(backend, config):
    inputs = mla.make_inputs(RAGGED_MLA, "bf16", seed=2, device=DEVICE)
    result = compare(mla, run(backend, mla, RAGGED_MLA, inputs, config), mla.reference(inputs))
    assert result["passed"], result["reason"]


def test_vendor_baselines_that_need_a_gpu_say_why():
    if DEVICE != "cpu":
        pytest.skip("CPU behaviour")
    for spec, name in ((index, "deepgemm"), (mla, "flashmla")):
        [r] = runner.run_group(spec, [name], DTYPE[spec], spec.CPU_SUITE[0], seed=1, device=DEVICE, timed=False)
        assert r["status"] == "skipped" and ("not installed" in r["reason"] or "GPU" in r["reason"])


# --- the indexer -----------------------------------------------------------------------------

def test_index_mask_is_end_aligned_and_masked_scores_are_minus_inf():
    """Sq=3 queries, Skv=5 keys: query i sees keys 0..i+2; the rest are exactly -inf."""
    shape = dict(B=1, Sq=3, Skv=5, H=16, D=128)
    inputs = index.make_inputs(shape, "e4m3", seed=3)
    score = index.reference(inputs)["score"][0]
    seen = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.isfinite(score[seen]).all() and (score[~seen] == float("-inf")).all()
    q, w, k, ks = (inputs[n][0].double() for n in index.INPUTS)
    by_hand = sum(w[2, h] * torch.relu(q[2, h] @ k[4]) for h in range(16)) * ks[4]
    assert torch.isclose(score[2, 4], by_hand)


@pytest.mark.parametrize("backend", INDEX_BACKENDS)
def test_index_rows_that_see_no_key_are_all_minus_inf(backend):
    shape = dict(B=1, Sq=40, Skv=24, H=16, D=128)  # queries 0..15 see nothing
    score = run(backend, index, shape, index.make_inputs(shape, "e4m3", seed=4, device=DEVICE))["score"].cpu()
    assert (score[:, :16] == float("-inf")).all()
    assert torch.isfinite(score[:, 16:, 0]).all()  # query 16 + j sees keys 0..j


WRONG_INDEX_INPUTS = {
    "key-scale-1pct-off": lambda t: dict(t, ks=t["ks"] * 1.01),
    "one-head-weight-dropped": lambda t: dict(t, w=torch.cat([t["w"][..., :1] * 0, t["w"][..., 1:]], -1)),
}


@pytest.mark.parametrize("backend", INDEX_BACKENDS)
@pytest.mark.parametrize("wrong", WRONG_INDEX_INPUTS.values(), ids=WRONG_INDEX_INPUTS.keys())
def test_a_wrong_index_kernel_fails_the_check(backend, wrong):
    shape = dict(B=1, Sq=20, Skv=70, H=16, D=128)
    inputs = index.make_inputs(shape, "e4m3", seed=5, device=DEVICE)
    outputs = run(backend, index, shape, wrong(inputs))
    assert not compare(index, outputs, index.reference(inputs))["passed"]


def test_index_inputs_are_quantized_per_row_with_power_of_two_scales():
    inputs = index.make_inputs(dict(B=2, Sq=3, Skv=7, H=16, D=128), "e4m3", seed=6)
    assert inputs["q"].dtype == inputs["k"].dtype == torch.float8_e4m3fn
    mantissa, _ = torch.frexp(inputs["ks"])
    assert (mantissa == 0.5).all(), "UE8M0 key scales are powers of two"
    assert (inputs["k"].float().abs().amax(-1) > 224).all(), "each key row uses the upper e4m3 octave"
    assert inputs["w"].shape == (2, 3, 16) and (inputs["w"] != 0).all()


def test_topk_indices_keep_the_best_visible_keys_and_pad_with_minus_one():
    inf = float("-inf")
    score = torch.tensor([[[0.5, 2.0, inf, inf], [3.0, 1.0, 2.0, inf]]])
    assert index.topk_indices(score, 2).tolist() == [[[1, 0], [0, 2]]]
    assert index.topk_indices(score, 6).tolist() == [[[1, 0, -1, -1, -1, -1], [0, 2, 1, -1, -1, -1]]]
    assert index.topk_indices(score, 2).dtype == torch.int32


# --- sparse MLA ------------------------------------------------------------------------------

@EMPTY_ROWS_LOG
@pytest.mark.parametrize("backend", MLA_BACKENDS)
def test_queries_without_an_index_give_zeros_and_minus_inf_lse_not_nan(backend):
    shape = dict(B=1, Sq=20, Skv=8, H=16, topk=64)  # queries 0..11 see no key
    inputs = mla.make_inputs(shape, "bf16", seed=7, device=DEVICE)
    inputs["indices"][0, 15] = -1  # and one in the middle selects nothing either
    out = run(backend, mla, shape, inputs)
    empty = [*range(12), 15]
    assert (out["o"][0, empty] == 0).all() and (out["lse"][0, empty] == float("-inf")).all()
    assert not out["o"].isnan().any() and not out["lse"].isnan().any()
    assert compare(mla, out, mla.reference(inputs))["passed"]


@pytest.mark.parametrize("backend", MLA_BACKENDS)
def test_unused_slots_anywhere_and_out_of_range_indices_change_nothing(backend):
    shape = dict(B=1, Sq=9, Skv=50, H=16, topk=64)  # 42..50 keys visible: the last slots are -1
    inputs = mla.make_inputs(shape, "bf16", seed=8, device=DEVICE)
    g = torch.Generator().manual_seed(0)
    order = torch.stack([torch.randperm(64, generator=g) for _ in range(9)]).to(DEVICE)
    shuffled = inputs["indices"].gather(-1, order[None])  # -1 slots now in the middle
    beyond = shuffled.masked_fill(shuffled < 0, shape["Skv"] + 5)  # >= Skv: unused too
    truth = mla.reference(inputs)
    out = run(backend, mla, shape, dict(inputs, indices=shuffled))
    assert compare(mla, out, truth)["passed"]
    # an unused slot weighs exactly 0, whichever row its clamped index reads
    out_beyond = run(backend, mla, shape, dict(inputs, indices=beyond))
    assert torch.equal(out_beyond["o"], out["o"]) and torch.equal(out_beyond["lse"], out["lse"])


def dense_mla(inputs, scale):
    """Plain causal (end-aligned) MLA over every key, in float64: no indices at all."""
    q, kv = inputs["q"][0].double(), inputs["kv"][0].double()
    Sq, Skv = q.shape[0], kv.shape[0]
    scores = scale * torch.einsum("ihd,sd->ihs", q, kv)
    hidden = torch.arange(Skv)[None, :] > torch.arange(Sq)[:, None] + (Skv - Sq)
    scores.masked_fill_(hidden[:, None, :].to(scores.device), float("-inf"))
    lse = torch.logsumexp(scores, -1)
    return {"o": (torch.softmax(scores, -1) @ kv[:, :mla.D_V])[None], "lse": lse[None]}


@pytest.mark.parametrize("backend", MLA_BACKENDS)
def test_sparse_attention_over_every_key_equals_dense_mla(backend):
    shape = dict(B=1, Sq=24, Skv=48, H=16, topk=64)  # topk >= Skv: every visible key selected
    inputs = mla.make_inputs(shape, "bf16", seed=9, device=DEVICE)
    result = compare(mla, run(backend, mla, shape, inputs), dense_mla(inputs, mla.default_scale()))
    assert result["passed"], result["reason"]


def test_the_reference_refuses_duplicate_indices():
    shape = dict(B=1, Sq=4, Skv=16, H=16, topk=8)
    inputs = mla.make_inputs(shape, "bf16", seed=10)
    mla.reference(inputs)  # distinct: fine, -1 padding repeated included
    inputs["indices"][0, 3, 1] = inputs["indices"][0, 3, 0]
    with pytest.raises(ValueError, match="query 3 of batch 0 selects a key twice"):
        mla.reference(inputs)


@pytest.mark.parametrize("backend", MLA_BACKENDS)
@pytest.mark.parametrize("wrong", ["scale-1pct-off", "indices-off-by-one"])
def test_a_wrong_mla_kernel_fails_the_check(backend, wrong):
    shape = dict(B=1, Sq=16, Skv=80, H=16, topk=32)
    inputs = mla.make_inputs(shape, "bf16", seed=11, device=DEVICE)
    config = mla.configs_for("bf16", ops.split_backend(backend)[1])[0]
    if wrong == "scale-1pct-off":
        outputs = run(backend, mla, shape, inputs, dict(config, sm_scale=1.01 * mla.default_scale()))
    else:
        shifted = torch.where(inputs["indices"] > 0, inputs["indices"] - 1, inputs["indices"])
        outputs = run(backend, mla, shape, dict(inputs, indices=shifted))
    assert not compare(mla, outputs, mla.reference(inputs))["passed"]


def test_the_scale_override_is_honoured_by_the_reference_and_both_kernels():
    inputs = mla.make_inputs(RAGGED_MLA, "bf16", seed=12, device=DEVICE)
    truth = mla.reference(inputs, sm_scale=0.1)
    for backend in MLA_BACKENDS:
        config = dict(mla.configs_for("bf16", ops.split_backend(backend)[1])[0], sm_scale=0.1)
        assert compare(mla, run(backend, mla, RAGGED_MLA, inputs, config), truth)["passed"], backend


def test_generated_indices_are_causal_distinct_and_every_visible_key_up_to_topk():
    shape = dict(B=2, Sq=30, Skv=50, H=16, topk=24)
    indices = mla.make_inputs(shape, "bf16", seed=13)["indices"]
    counts = mla.valid_counts(shape)
    for b in range(2):
        for i in range(30):
            row = indices[b, i]
            chosen = row[row >= 0]
            assert len(chosen) == counts[i] == min(24, i + 21) and (row[len(chosen):] == -1).all()
            assert len(set(chosen.tolist())) == len(chosen) and chosen.max() <= i + 20
    again = mla.make_inputs(shape, "bf16", seed=13)["indices"]
    other = mla.make_inputs(shape, "bf16", seed=14)["indices"]
    assert torch.equal(indices, again) and not torch.equal(indices, other)
    assert not torch.equal(indices[0], indices[1]), "each sequence of the batch selects its own keys"


def test_the_index_hash_is_a_bijection_so_no_scores_tie():
    x = torch.arange(1 << 16) * 65521 + 7
    assert len(torch.unique(mla.hash32(x))) == len(x)


# --- the whole pipeline ------------------------------------------------------------------------

def test_indexer_then_topk_then_sparse_mla_matches_the_reference():
    """Triton's indexer scores, the shared top-k, TileLang's sparse MLA over those keys."""
    Sq, Skv, topk = 24, 40, 16
    idx_shape = dict(B=1, Sq=Sq, Skv=Skv, H=16, D=128)
    score = run("triton-matched", index, idx_shape, index.make_inputs(idx_shape, "e4m3", seed=15, device=DEVICE))["score"]
    chosen = index.topk_indices(score, topk)
    assert torch.equal(chosen, index.topk_indices(index.reference(index.make_inputs(idx_shape, "e4m3", seed=15,
                                                                                   device=DEVICE))["score"], topk))
    mla_shape = dict(B=1, Sq=Sq, Skv=Skv, H=16, topk=topk)
    inputs = dict(mla.make_inputs(mla_shape, "bf16", seed=15, device=DEVICE), indices=chosen)
    result = compare(mla, run("tilelang-matched", mla, mla_shape, inputs), mla.reference(inputs))
    assert result["passed"], result["reason"]


# --- the check's infinities (bench/run/check.py) ----------------------------------------------------

INF = float("inf")


@pytest.mark.parametrize("got,passes", [
    ([1.0, -INF, 2.0], True),  # the same -inf where the reference has it
    ([1.0, 5.0, 2.0], False),  # a number where the reference is -inf
    ([1.0, INF, 2.0], False),  # the wrong sign
    ([1.0, float("nan"), 2.0], False),  # NaN where the reference is -inf
    ([1.0, -INF, -INF], False),  # -inf where the reference is finite
    ([1.0, -INF, float("nan")], False),
], ids=["matching", "finite-for-inf", "wrong-sign", "nan-for-inf", "inf-for-finite", "nan-for-finite"])
def test_check_treats_matching_infinities_as_equal_and_nothing_else(got, passes):
    ref = {"x": torch.tensor([1.0, -INF, 2.0], dtype=torch.float64)}
    result = check.compare({"x": torch.tensor(got)}, ref, (1e-6, 1e-6))
    assert result["passed"] == passes, result
    if passes:  # the errors are over the finite values
        assert result["max_abs_err"] == 0 and result["rel_err"] == 0


def test_check_measures_errors_over_the_finite_values_only():
    ref = {"x": torch.tensor([1.0, -INF, 2.0], dtype=torch.float64)}
    result = check.compare({"x": torch.tensor([1.1, -INF, 2.0])}, ref, (1e-3, 1e-3))
    assert not result["passed"] and math.isclose(result["max_abs_err"], 0.1, rel_tol=1e-6)
    assert check.compare({"x": torch.tensor([float("nan")] * 3)}, {"x": torch.full((3,), float("nan"))},
                         (INF, INF))["passed"] is False  # NaN never passes, not even against NaN


# --- shapes, formulas, configs ------------------------------------------------------------------

@pytest.mark.parametrize("spec,text,message", [
    (index, "B=1,Sq=4,Skv=4,H=16,D=64", "D=64 is not supported"),
    (index, "B=1,Sq=4,Skv=4,H=24,D=128", "H=24 is not supported"),
    (mla, "B=1,Sq=4,Skv=4,H=16", "lacks topk"),
    (index, "B=1,Sq=65536,Skv=65536,H=64,D=128", "reach 2\\^31"),
    (mla, "B=1,Sq=32768,Skv=32768,H=128,topk=2048", "reaches 2\\^31"),
])
def test_bad_shapes_are_one_line_usage_errors(spec, text, message):
    with pytest.raises(ops.UsageError, match=message):
        ops.parse_shape(text, spec)


def test_flops_count_visible_pairs_and_valid_indices_only():
    shape = dict(B=2, Sq=3, Skv=5, H=16, D=128)  # rows see 3, 4, 5 keys
    assert index.flops(shape) == 2 * 2 * 16 * 128 * (3 + 4 + 5)
    assert index.flops(dict(shape, Sq=7)) == 2 * 2 * 16 * 128 * (0 + 0 + 1 + 2 + 3 + 4 + 5)  # Sq > Skv
    m = dict(B=2, Sq=3, Skv=5, H=16, topk=4)  # valid indices 3, 4, 4
    assert mla.flops(m) == 2 * 2 * 16 * (576 + 512) * (3 + 4 + 4)
    assert mla.flops(dict(m, Sq=7)) == 2 * 2 * 16 * 1088 * (0 + 0 + 1 + 2 + 3 + 4 + 4)


@pytest.mark.parametrize("spec", [index, mla], ids=["dsa_index", "sparse_mla"])
def test_configs_are_shared_and_fit(spec):
    for track in ops.tracks(spec):
        assert all(ops.kernel_module(spec, ops.backend_name(d, track)).CONFIGS is spec.CONFIGS for d in ops.DSLS)
        configs = spec.configs_for(DTYPE[spec], track)
        assert configs == spec.CONFIGS[track]
        assert all(spec.smem_bytes(c, DTYPE[spec]) <= spec.SMEM_LIMIT for c in configs)


@pytest.mark.parametrize("spec", [index, mla], ids=["dsa_index", "sparse_mla"])
def test_inputs_are_seeded_outputs_poisoned_and_meta_tensors_work(spec):
    shape = spec.CPU_SUITE[1]
    a, b, c = (spec.make_inputs(shape, DTYPE[spec], seed=s) for s in (3, 3, 4))
    first = spec.INPUTS[0]
    assert torch.equal(a[first].float(), b[first].float()) and not torch.equal(a[first].float(), c[first].float())
    assert all(torch.isnan(t.float()).all() for t in spec.make_outputs(shape, DTYPE[spec]).values())
    with torch.device("meta"):  # `dslbench inspect` builds launches from meta inputs
        meta = spec.make_inputs(spec.GPU_SUITE[0], DTYPE[spec], 0, "meta")
    assert all(t.is_meta for t in meta.values())


# --- the best track's decode: splits and chunks that fill the GPU ---------------------------------

BEST = {spec: [b for b in ops.dsl_backends(spec) if ops.split_backend(b)[1] == "best"] for spec in (index, mla)}


@EMPTY_ROWS_LOG
@pytest.mark.parametrize("backend", BEST[mla])
@pytest.mark.parametrize("shape", [dict(B=1, Sq=2, Skv=300, H=16, topk=128), dict(B=2, Sq=1, Skv=40, H=72, topk=100)],
                         ids=["four-splits", "empty-splits-H72"])
def test_best_mla_decode_splits_the_top_k_and_combines_exactly(backend, shape):
    """Each query's slots cut into splits (partials in the workspace), merged by the combine; a
    split whose slots are all unused (the second shape: 40 keys, 100 slots) weighs nothing."""
    config = mla.configs_for("bf16", "best")[0]
    assert mla.topk_split(shape, config["block_N"])[0] > 1
    inputs = mla.make_inputs(shape, "bf16", seed=16, device=DEVICE)
    result = compare(mla, run(backend, mla, shape, inputs), mla.reference(inputs))
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("backend", BEST[index])
def test_best_index_decode_cuts_the_keys_into_chunks(backend):
    shape = index.CPU_SUITE[2]  # B=2, Sq=2: two programs of one query block, too few for the GPU
    config = index.configs_for("e4m3", "best")[0]
    assert index.key_split(shape, config["block_N"])[0] > 1
    inputs = index.make_inputs(shape, "e4m3", seed=17, device=DEVICE)
    result = compare(index, run(backend, index, shape, inputs), index.reference(inputs))
    assert result["passed"], result["reason"]


def test_decode_splits_fill_the_h100_and_cover_every_slot_once():
    for B, Sq, H in [(1, 1, 128), (8, 2, 64), (128, 4, 64), (1, 4096, 128)]:
        shape = dict(B=B, Sq=Sq, H=H, topk=2048, Skv=65536, D=128)
        for block_N in (32, 64):
            splits, chunk = mla.topk_split(shape, block_N)
            assert chunk % block_N == 0 and (splits - 1) * chunk < 2048 <= splits * chunk  # each slot in one split
            programs = B * Sq * -(-H // mla.BLOCK_H)
            assert programs * splits >= 0.9 * min(index.H100_SMS, programs * 2048 // block_N)  # fills the SMs
            assert (splits == 1) == (programs >= index.H100_SMS)  # prefill: no combine
        chunks, chunk_N = index.key_split(shape, 256)
        assert chunk_N % 256 == 0 and (chunks - 1) * chunk_N < 65536 <= chunks * chunk_N
    assert index.queries_per_block(64) == 2 and index.queries_per_block(128) == 1  # a 128-wide MMA (upstream)
    for spec in (index, mla):
        assert spec.shape_class(dict(B=1, Sq=4, Skv=9, H=64, D=128, topk=8)) == "decode"
        assert spec.shape_class(dict(B=1, Sq=5, Skv=9, H=64, D=128, topk=8)) is None


def test_the_suites_hold_the_shapes_users_run():
    """V3.2's 128 heads and 64 after a tensor-parallel split, topk 2048, decode up to a 128k
    cache and batches up to 128; gpu-full small enough for every op's ~10 minutes."""
    mla_gpu, index_gpu = mla.GPU_SUITE, index.GPU_SUITE
    assert {s["H"] for s in mla_gpu} == {64, 128} and {s["topk"] for s in mla_gpu} == {2048}
    for suite in (mla_gpu, index_gpu):
        decode = [s for s in suite if s["Sq"] <= 4]
        assert max(s["Skv"] for s in decode) == 131072 and max(s["B"] for s in decode) == 128
        assert {s["Sq"] for s in decode} >= {1, 2, 4}
    for spec in (index, mla):
        assert all(s in spec.GPU_SUITE for s in spec.GPU_FULL_SUITE) and len(spec.GPU_FULL_SUITE) <= 4
        assert all(s["B"] <= 8 for s in spec.GPU_FULL_SUITE)  # the large batches' float64 references stay out


# --- the CPU path of a warp-specialized TileLang kernel (bench/run/tilelang_cpu.py) --------------

def test_warp_specialized_roles_run_step_by_step_on_the_cpu():
    """A producer that fills a one-element ring for the next step while a consumer reads this
    step's: run as written (role after role) the consumer would read the last fill only; the
    CPU dialect fuses the roles' loops, so it reads each step's value."""
    import tilelang.language as T

    from bench.run.tilelang_cpu import compile_cpu

    def factory(N, dtype="float32"):
        @T.prim_func
        def ring(A: T.Tensor((N,), dtype), B: T.Tensor((N,), dtype)):
            with T.Kernel(1, threads=256):
                slot = T.alloc_shared((1,), dtype)
                full = T.alloc_barrier(128)
                with T.ws(0):
                    for t in T.serial(N):
                        T.barrier_wait(full, t % 2)
                        B[t] = slot[0] + 1
                with T.ws(1):
                    slot[0] = A[0]
                    for t in T.serial(N):
                        if t + 1 < N:
                            slot[0] = A[t + 1] * 2
                        T.barrier_arrive(full)
        return ring

    kernel = compile_cpu(factory, {}, 6)
    a, b = torch.arange(6.0), torch.zeros(6)
    kernel(a, b)
    assert b.tolist() == [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]

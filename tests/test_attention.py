"""Attention: every backend (both DSLs, both tracks) x dtype x shape class against the float64
reference, the mask convention (end-aligned; queries that see no key as flash-attention 2
writes them), causal tiles skipped (not just masked), head dims that are not powers of two,
split-KV decode (its split count, empty splits), and wrong kernels that must fail."""
import math

import pytest
import torch

from bench.core import ops
from bench.run import backends, check, runner
from kernels import dtypes
from kernels.attention import spec
from tests.conftest import DEVICE, SAMPLE_SEED, kernel_configs

SHAPES = {
    "mha-block-multiple": dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=0),
    "mha-causal": dict(B=1, Hq=2, Hkv=2, Sq=128, Skv=128, D=64, causal=1),
    "gqa2-ragged-causal-Sq<Skv": dict(B=1, Hq=4, Hkv=2, Sq=100, Skv=257, D=64, causal=1),
    "gqa4-ragged-17-causal": dict(B=2, Hq=4, Hkv=1, Sq=17, Skv=17, D=128, causal=1),
    "gqa4-decode-Sq1": dict(B=1, Hq=8, Hkv=2, Sq=1, Skv=200, D=128, causal=1),
    "gqa2-Sq>Skv-D32": dict(B=1, Hq=2, Hkv=1, Sq=257, Skv=100, D=32, causal=0),
    "gqa4-decode-Sq4-causal": dict(B=1, Hq=8, Hkv=2, Sq=4, Skv=150, D=64, causal=1),
}
DSL_BACKENDS = ops.dsl_backends(spec)
BACKENDS = [*DSL_BACKENDS, "torch"]
RAGGED = dict(B=1, Hq=4, Hkv=2, Sq=100, Skv=257, D=64, causal=1)


def run_kernel(backend, shape, dtype, inputs, config=None, **overrides):
    """Outputs of one DSL kernel called directly, with kernel arguments (causal, sm_scale)
    overridden: how a wrong kernel is made."""
    dsl, track = ops.split_backend(backend)
    config = config or spec.configs_for(dtype, track)[0]
    outputs = spec.make_outputs(shape, dtype, DEVICE)
    args = {"causal": bool(shape["causal"]), **overrides}
    module = backends.load_triton(spec, backend, DEVICE) if dsl == "triton" else ops.kernel_module(spec, backend)
    scratch = backends.workspace(module, shape, dtype, config, DEVICE)  # split-KV partials of a decode step
    if dsl == "triton":
        module.attention(*inputs.values(), *outputs.values(), **scratch, **args, **config)
    else:
        from bench.run.tilelang_cpu import compile_cpu

        kernel = compile_cpu(module.attention_kernel, getattr(module, "PASS_CONFIGS", {}), **{**shape, **args},
                             dtype=dtypes.TILELANG[dtype], **config)
        kernel(*inputs.values(), *outputs.values(), *scratch.values())
    return outputs


def sampled_cases(seed=SAMPLE_SEED):
    """Each shape class in one dtype, rotating with the sample seed (every dtype appears; CI's fixed
    seed is reproducible, DSLBENCH_FUZZ_SEED=<n> draws another), as the backward's tests sample:
    seven cases, not twenty-one. `dslbench check --op attention` runs every dtype of the CPU
    suite; tests/test_random_shapes.py draws more shapes."""
    out = []
    for i, (name, shape) in enumerate(SHAPES.items()):
        dtype = spec.DTYPES[(seed + i) % len(spec.DTYPES)]
        out.append(pytest.param(shape, dtype, id=f"{dtype}-{name}"))
    return out


def test_the_sample_covers_every_shape_class_and_every_dtype():
    for seed in (SAMPLE_SEED, SAMPLE_SEED + 1, SAMPLE_SEED + 2):
        cases = [p.values for p in sampled_cases(seed)]
        assert [shape for shape, _ in cases] == list(SHAPES.values()) and {d for _, d in cases} == set(spec.DTYPES)
    assert {p.values[1] for seed in range(3) for p in sampled_cases(seed)[:1]} == set(spec.DTYPES)  # each rotates


@pytest.mark.parametrize("shape, dtype", sampled_cases())
def test_every_backend_matches_reference(shape, dtype):
    records = list(runner.run_group(spec, BACKENDS, dtype, shape, seed=1, device=DEVICE, timed=False))
    assert sorted(r["backend"] for r in records) == sorted(BACKENDS)  # one record per backend, none lost
    for r in records:
        assert r["status"] == "pass", f"{r['backend']} {dtype} {shape}: {r['status']} {r['reason']}"
    checked = {r["backend"]: r["reason"] for r in records}
    assert all(checked[b] == "" for b in DSL_BACKENDS)  # both outputs checked
    assert checked["torch"] == "not produced, not checked: lse"  # SDPA gives o only
    if DEVICE == "cpu":  # the labels say which CPU paths lack the dtype
        emulated = {r["backend"]: r["emulated"] for r in records}
        assert emulated == {**{b: dtype == "bf16" for b in DSL_BACKENDS}, "torch": False}


@pytest.mark.parametrize("backend,config", kernel_configs(spec, "fp16"))
def test_every_config_is_correct_on_a_ragged_shape(backend, config):
    inputs = spec.make_inputs(RAGGED, "fp16", seed=2, device=DEVICE)
    outputs = run_kernel(backend, RAGGED, "fp16", inputs, config)
    result = check.compare(outputs, spec.reference(inputs, causal=True), spec.TOLERANCE["fp16"])
    assert result["passed"], result["reason"]


def tile_sizes(params):
    """One config per backend and (block_M, block_N): the key loop's bounds depend on nothing else."""
    seen, out = set(), []
    for p in params:
        backend, config = p.values
        if (backend, config["block_M"], config["block_N"]) not in seen:
            seen.add((backend, config["block_M"], config["block_N"]))
            out.append(p)
    return out


@pytest.mark.filterwarnings("ignore:All-NaN slice")  # rows 128.. do see the NaN keys
@pytest.mark.parametrize("backend,config", tile_sizes(kernel_configs(spec, "fp16")))
def test_causal_tiles_above_the_diagonal_are_never_loaded(backend, config):
    # Queries 0..127 of Sq=256, Skv=384 see keys 0..255 (the mask is end-aligned, offset 128).
    # Keys 256.. are NaN: a kernel that loaded their tiles and only masked the scores would
    # turn those rows NaN (NaN·q is NaN, and -inf + NaN too); skipping them keeps the rows exact.
    shape = dict(B=1, Hq=1, Hkv=1, Sq=256, Skv=384, D=64, causal=1)
    inputs = spec.make_inputs(shape, "fp16", seed=3, device=DEVICE)
    truth = spec.reference(inputs, causal=True)
    for name in ("k", "v"):
        inputs[name][:, :, 256:] = float("nan")
    outputs = run_kernel(backend, shape, "fp16", inputs, config)
    first = {name: out[:, :, :128] for name, out in outputs.items()}
    result = check.compare(first, {name: ref[:, :, :128] for name, ref in truth.items()}, spec.TOLERANCE["fp16"])
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("offset", [1, -1], ids=["diagonal-one-key-past-a-tile", "diagonal-one-key-short-of-one"])
@pytest.mark.parametrize("backend,config", tile_sizes(kernel_configs(spec, "fp16")))
def test_the_causal_diagonal_next_to_a_tile_boundary(backend, config, offset):
    """Skv - Sq = block_N + 1 puts each query block's last visible key first in a key tile of its
    own (a loop bound one key short never loads it); block_N - 1, one key before a boundary.
    Sq is whole query blocks, so every block's last row is a real query."""
    Sq = 2 * config["block_M"]
    shape = dict(B=1, Hq=1, Hkv=1, Sq=Sq, Skv=Sq + config["block_N"] + offset, D=32, causal=1)
    inputs = spec.make_inputs(shape, "fp16", seed=13, device=DEVICE)
    outputs = run_kernel(backend, shape, "fp16", inputs, config)
    result = check.compare(outputs, spec.reference(inputs, causal=True), spec.TOLERANCE["fp16"])
    assert result["passed"], result["reason"]


def test_mask_convention_matches_a_hand_built_mask():
    """Sq=3 queries against Skv=5 keys, causal: the mask is aligned to the end of the keys."""
    visible = torch.tensor([[1, 1, 1, 0, 0],
                            [1, 1, 1, 1, 0],
                            [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(spec.visible(3, 5, causal=True), visible)
    inputs = spec.make_inputs(dict(B=1, Hq=1, Hkv=1, Sq=3, Skv=5, D=32, causal=1), "fp32", seed=4)
    q, k, v = (inputs[n][0, 0].double() for n in spec.INPUTS)
    ref = spec.reference(inputs, causal=True)
    for i in range(3):
        keys = [j for j in range(5) if visible[i, j]]
        scores = [q[i] @ k[j] / math.sqrt(32) for j in keys]
        weights = torch.softmax(torch.stack(scores), 0)
        o = sum(w * v[j] for w, j in zip(weights, keys))
        assert torch.allclose(ref["o"][0, 0, i], o)
        assert torch.allclose(ref["lse"][0, 0, i], torch.logsumexp(torch.stack(scores), 0))


def test_a_decode_step_sees_every_key_and_square_causal_is_the_lower_triangle():
    inputs = spec.make_inputs(dict(B=1, Hq=2, Hkv=1, Sq=1, Skv=9, D=32, causal=1), "fp32", seed=5)
    causal, full = spec.reference(inputs, causal=True), spec.reference(inputs, causal=False)
    assert torch.equal(causal["o"], full["o"]) and torch.equal(causal["lse"], full["lse"])
    assert torch.equal(spec.visible(4, 4, causal=True), torch.ones(4, 4, dtype=torch.bool).tril())


def test_grouped_query_heads_read_kv_head_h_over_G():
    shape = dict(B=1, Hq=4, Hkv=2, Sq=5, Skv=7, D=32, causal=0)
    inputs = spec.make_inputs(shape, "fp32", seed=6)
    o = spec.reference(inputs)["o"]
    kv_of_head = {"h // G": lambda t: t.repeat_interleave(2, dim=1), "h % Hkv": lambda t: t.repeat(1, 2, 1, 1)}
    mha = {rule: spec.reference(dict(inputs, k=f(inputs["k"]), v=f(inputs["v"])))["o"] for rule, f in kv_of_head.items()}
    assert torch.allclose(o, mha["h // G"]) and not torch.allclose(o, mha["h % Hkv"])


def test_the_reference_in_chunks_equals_the_reference_at_once(monkeypatch):
    shape = dict(B=2, Hq=4, Hkv=2, Sq=33, Skv=40, D=32, causal=1)
    inputs = spec.make_inputs(shape, "fp32", seed=7)
    whole = spec.reference(inputs, causal=True)
    monkeypatch.setattr(spec, "REFERENCE_CHUNK", 2 * 2 * 40 * 5)  # 5 rows at a time
    chunked = spec.reference(inputs, causal=True)
    assert torch.allclose(whole["o"], chunked["o"]) and torch.allclose(whole["lse"], chunked["lse"])


@pytest.mark.parametrize("backend", DSL_BACKENDS)
def test_the_scale_override_is_honoured(backend):
    inputs = spec.make_inputs(RAGGED, "fp16", seed=8, device=DEVICE)
    outputs = run_kernel(backend, RAGGED, "fp16", inputs, sm_scale=0.3)
    assert check.compare(outputs, spec.reference(inputs, causal=True, sm_scale=0.3), spec.TOLERANCE["fp16"])["passed"]


@pytest.mark.parametrize("backend", DSL_BACKENDS)
@pytest.mark.parametrize("wrong", [dict(causal=False), dict(sm_scale=1.01 / math.sqrt(RAGGED["D"]))],
                         ids=["no-causal-mask", "scale-1pct-off"])
def test_a_wrong_kernel_fails_the_check(backend, wrong):
    inputs = spec.make_inputs(RAGGED, "fp16", seed=9, device=DEVICE)
    outputs = run_kernel(backend, RAGGED, "fp16", inputs, **wrong)
    result = check.compare(outputs, spec.reference(inputs, causal=True), spec.TOLERANCE["fp16"])
    assert not result["passed"], f"a wrong kernel ({wrong}) passed: {result}"


def test_an_output_left_unwritten_fails_and_a_missing_one_is_named():
    inputs = spec.make_inputs(RAGGED, "fp16", seed=10)
    ref = spec.reference(inputs, causal=True)
    outputs = spec.make_outputs(RAGGED, "fp16")
    outputs["o"].copy_(ref["o"])  # o right, lse still NaN: fails
    assert "lse: " in check.compare(outputs, ref, spec.TOLERANCE["fp16"])["reason"]
    only_o = check.compare({"o": outputs["o"]}, ref, spec.TOLERANCE["fp16"])
    assert only_o["passed"] and only_o["reason"] == "not produced, not checked: lse"
    assert not check.compare({}, ref, spec.TOLERANCE["fp16"])["passed"]


def test_gpu_baselines_are_skipped_with_a_reason_on_the_cpu():
    if DEVICE != "cpu":
        pytest.skip("CPU behaviour")
    records = runner.run_group(spec, ["sdpa-flash", "sdpa-cudnn", "flash-attn", "flash-kvcache"], "fp16", SHAPES["gqa4-decode-Sq1"],
                               seed=1, device=DEVICE, timed=False)
    assert [(r["status"], r["reason"]) for r in records] == [("skipped", "a GPU baseline (no CUDA device here)")] * 4


def test_validate_refuses_bad_shapes_in_one_line():
    base = dict(B=1, Hq=4, Hkv=2, Sq=8, Skv=8, D=64, causal=0)
    assert spec.validate(base) is None
    for fine in (dict(D=96), dict(D=59), dict(D=256), dict(Sq=9, causal=1)):  # any D <= 256; causal Sq > Skv
        assert spec.validate({**base, **fine}) is None
    for bad, words in [(dict(Hq=3), "multiple of Hkv"), (dict(D=257), "head dim D=257")]:
        problem = spec.validate({**base, **bad})
        assert words in problem and "\n" not in problem


@pytest.mark.parametrize("track", ops.tracks(spec))
def test_configs_are_shared_and_fit(track):
    assert all(ops.kernel_module(spec, ops.backend_name(d, track)).CONFIGS is spec.CONFIGS for d in ops.DSLS)
    for dtype in spec.DTYPES:
        configs = spec.configs_for(dtype, track)
        assert configs and all(spec.smem_bytes(c, dtype) <= spec.SMEM_LIMIT for c in configs)


def test_inputs_are_seeded_random_and_outputs_poisoned():
    shape = SHAPES["gqa4-ragged-17-causal"]
    a, b, c = (spec.make_inputs(shape, "fp32", seed=s) for s in (3, 3, 4))
    assert all(torch.equal(a[n], b[n]) and not torch.equal(a[n], c[n]) for n in spec.INPUTS)
    assert a["k"].shape == (2, 1, 17, 128) and (a["q"] != 0).all() and a["q"].std() > 0.5
    out = spec.make_outputs(shape, "bf16")
    assert out["o"].dtype == torch.bfloat16 and out["lse"].dtype == torch.float32
    assert all(torch.isnan(t).all() for t in out.values())


def test_flops_count_visible_pairs_and_bytes_count_each_tensor_once():
    shape = dict(B=2, Hq=4, Hkv=2, Sq=3, Skv=5, D=8, causal=1)
    assert spec.flops(shape) == 4 * 2 * 4 * 8 * (3 + 4 + 5)  # rows see 3, 4, 5 keys
    assert spec.flops({**shape, "causal": 0}) == 4 * 2 * 4 * 8 * 15
    assert spec.flops(dict(shape, Sq=1)) == 4 * 2 * 4 * 8 * 5  # decode sees every key
    assert spec.bytes_moved(shape, "fp16") == (2 * 2 * 4 * 3 * 8 + 2 * 2 * 2 * 5 * 8) * 2 + 2 * 4 * 3 * 4


# --- queries that see no key (causal, Sq > Skv) ------------------------------------------------

def test_flash_attention_2s_lse_for_a_query_that_sees_no_key_is_plus_infinity():
    """flash-attention 2 (the `flash_attn` package) writes INFINITY: csrc/flash_attn/src/softmax.h,
    normalize_softmax_lse: `(sum == 0.f || sum != sum) ? (Split ? -INFINITY : INFINITY)`, and
    flash_fwd_kernel.h `gLSE(row) = INFINITY` for a block of such rows (FA3 writes -inf)."""
    assert spec.EMPTY_ROW_LSE == math.inf


def test_queries_that_see_no_key_get_zero_output_and_plus_infinite_lse():
    """Sq=5 queries, Skv=2 keys, causal: query i sees key j iff j <= i - 3, so queries 0..2 see none."""
    shape = dict(B=1, Hq=2, Hkv=1, Sq=5, Skv=2, D=8, causal=1)
    assert torch.equal(spec.visible(5, 2, causal=True), torch.tensor([[0, 0], [0, 0], [0, 0], [1, 0], [1, 1]]).bool())
    inputs = spec.make_inputs(shape, "fp32", seed=11)
    ref = spec.reference(inputs, causal=True)
    assert (ref["o"][:, :, :3] == 0).all() and (ref["lse"][:, :, :3] == math.inf).all()
    assert torch.allclose(ref["o"][0, :, 3], inputs["v"][0, 0, 0].double().expand(2, 8))  # one key: its value
    assert torch.isfinite(ref["lse"][:, :, 3:]).all() and torch.isfinite(ref["o"]).all()
    assert spec.flops(shape) == 4 * 2 * 8 * (1 + 2)


@pytest.mark.parametrize("wrong", [-math.inf, float("nan"), 0.0], ids=["minus-inf", "nan", "zero"])
def test_an_other_lse_for_a_query_that_sees_no_key_fails_the_check(wrong):
    shape = dict(B=1, Hq=2, Hkv=1, Sq=6, Skv=3, D=8, causal=1)
    ref = spec.reference(spec.make_inputs(shape, "fp32", seed=12), causal=True)
    outputs = {name: t.clone().float() for name, t in ref.items()}
    assert check.compare(outputs, ref, spec.TOLERANCE["fp32"])["passed"]
    outputs["lse"][:, :, :3] = wrong
    assert not check.compare(outputs, ref, spec.TOLERANCE["fp32"])["passed"]


# --- head dims that are not powers of two ------------------------------------------------------

@pytest.mark.parametrize("D", [40, 111, 192, 256])
@pytest.mark.parametrize("backend", DSL_BACKENDS)
def test_head_dims_are_padded_inside_the_kernel(backend, D):
    """Any D up to 256: the kernels pad it to the next power of two themselves (111 also leaves
    TMA's 16-byte strides: the best Triton kernel falls back to pointer loads), and shrink the
    tiles of the largest head dims to fit the shared memory (spec.fit). Causal with Sq > Skv:
    the first 11 queries see no key (o = 0, lse = +inf)."""
    shape = dict(B=1, Hq=2, Hkv=1, Sq=20, Skv=9, D=D, causal=1)
    inputs = spec.make_inputs(shape, "fp16", seed=13, device=DEVICE)
    outputs = run_kernel(backend, shape, "fp16", inputs)
    result = check.compare(outputs, spec.reference(inputs, causal=True), spec.TOLERANCE["fp16"])
    assert result["passed"], result["reason"]


def test_configs_shrink_to_fit_the_largest_head_dims():
    for track in ops.tracks(spec):
        for dtype in spec.DTYPES:
            for config in spec.configs_for(dtype, track):
                for D in (32, 64, 100, 128):
                    assert spec.fit(config, dtype, D) == config
                for D in (192, 256):
                    fitted = spec.fit(config, dtype, D)
                    assert spec.smem_bytes(fitted, dtype, D) <= spec.SMEM_LIMIT
                    assert fitted["block_M"] >= min(config["block_M"], config["threads"] // 2)
                    assert spec.smem_bytes(spec.decode_config(config, dtype, D), dtype, D) <= spec.SMEM_LIMIT
    assert [spec.padded_head_dim(D) for D in (1, 16, 17, 40, 59, 64, 96, 111, 128, 192, 256)] == [
        16, 16, 32, 64, 64, 64, 128, 128, 128, 256, 256]


def test_best_configs_give_each_consumer_warpgroup_64_rows():
    """Both DSLs' warp-specialized kernels split a tile into 64-row consumer warpgroups (Triton's
    Hopper partitioner always does): threads must be 2 · block_M for the tracks to agree."""
    assert all(c["threads"] == 2 * c["block_M"] for c in spec.CONFIGS["best"])


# --- decode steps: split-KV ---------------------------------------------------------------------

def test_decode_steps_are_a_shape_class_of_their_own():
    assert spec.shape_class(dict(SHAPES["gqa4-decode-Sq1"])) == "decode"
    assert spec.shape_class(dict(SHAPES["mha-causal"], Sq=8)) == "decode"
    assert spec.shape_class(dict(SHAPES["mha-causal"], Sq=9)) is None
    gpu_decode = [s for s in spec.GPU_SUITE if spec.shape_class(s) == "decode"]
    assert {(s["Hq"], s["Hkv"], s["D"]) for s in gpu_decode} == {(32, 8, 128), (64, 8, 128)}  # Llama-3 8B, 70B
    assert {s["B"] for s in gpu_decode} == {1, 8, 64} and {s["Sq"] for s in gpu_decode} == {1, 4}
    assert min(s["Skv"] for s in gpu_decode) == 1024 and max(s["Skv"] for s in gpu_decode) == 131072
    assert 2 <= sum(spec.shape_class(s) == "decode" for s in spec.GPU_FULL_SUITE) <= 3


def test_decode_splits_fill_the_gpu_and_cover_every_key_once():
    llama8b = dict(B=1, Hq=32, Hkv=8, Sq=1, Skv=131072, D=128, causal=0)
    splits = spec.decode_splits(llama8b, 128)
    # 8 programs a split: one wave, within 85% of the best eligible fill (16 splits, 97%): 14
    assert 0.85 * 0.97 * spec.SMS <= 8 * splits <= spec.SMS
    assert spec.decode_splits(dict(llama8b, B=64, Skv=4096), 128) == 1  # 512 programs fill it already
    for Skv in (1, 100, 128, 129, 200, 4097):
        for block_N in (64, 128):
            n = spec.decode_splits(dict(llama8b, Skv=Skv), block_N)
            chunk = spec.decode_chunk(Skv, block_N, n)
            assert 1 <= n <= -(-Skv // block_N) and chunk % block_N == 0
            assert (n - 1) * chunk < Skv <= n * chunk  # every key in one split, no split empty
    work = spec.decode_workspace(llama8b, "bf16", spec.CONFIGS["best"][0], "meta")
    assert work["o_partial"].shape == (1, 8, splits, 4, 128) and work["lse_partial"].shape == (1, 8, splits, 4)
    assert spec.decode_workspace(SHAPES["mha-causal"], "bf16", spec.CONFIGS["best"][0], "meta") == {}


BEST = [b for b in DSL_BACKENDS if ops.split_backend(b)[1] == "best"]


@pytest.mark.parametrize("backend", BEST)
def test_a_split_that_sees_no_key_weighs_nothing(backend, monkeypatch):
    """More splits than key tiles (by hand: the heuristic never picks it): the splits past the
    keys write lse -inf and the combine must weigh them 0."""
    shape = dict(B=1, Hq=4, Hkv=2, Sq=2, Skv=70, D=32, causal=1)
    monkeypatch.setattr(spec, "decode_splits", lambda shape, block_N: -(-shape["Skv"] // block_N) + 2)
    inputs = spec.make_inputs(shape, "fp16", seed=14, device=DEVICE)
    outputs = run_kernel(backend, shape, "fp16", inputs)
    result = check.compare(outputs, spec.reference(inputs, causal=True), spec.TOLERANCE["fp16"])
    assert result["passed"], result["reason"]

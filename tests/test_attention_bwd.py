"""Attention backward (kernels/attention_bwd): the float64 reference is the gradient of the float64
forward, the FLOP count is flash-attention's, each tolerance passes the rounding the kernels do
and fails a slightly wrong kernel (a dropped scale, a dQ missing a key tile, a GQA reduction over
the wrong heads), and every backend matches the reference on every shape class."""
import math

import pytest
import torch

from bench.core import ops
from bench.run import check, runner
from kernels import dtypes
from kernels.attention import spec as forward
from kernels.attention_bwd import spec
from tests.conftest import DEVICE, SAMPLE_SEED

GQA_RAGGED = dict(B=1, Hq=8, Hkv=2, Sq=50, Skv=129, D=40, causal=1)  # four key tiles of 32 or more


def test_the_reference_is_autograd_through_the_float64_forward():
    """Autograd through kernels/attention/spec.py's reference. Where causal Sq > Skv, the first
    Sq - Skv queries see no key (autograd's softmax over no key is NaN): the reference's dq is 0
    there, and everything else is autograd's over the queries that see a key, which are a case of
    their own (the mask is aligned to the end of the keys)."""
    for shape in (GQA_RAGGED, spec.CPU_SUITE[3]):  # the second: Sq = 50 > Skv = 33, causal
        inputs = spec.make_inputs(shape, "fp32", seed=3)
        truth = spec.reference(inputs, causal=bool(shape["causal"]))
        blind = max(0, shape["Sq"] - shape["Skv"]) if shape["causal"] else 0
        leaves = {n: inputs[n].double().requires_grad_() for n in ("q", "k", "v")}
        seeing = dict(leaves, q=leaves["q"][:, :, blind:])
        o = forward.reference(seeing, causal=bool(shape["causal"]))["o"]
        o.backward(inputs["do"].double()[:, :, blind:])
        assert torch.equal(truth["dq"][:, :, :blind], torch.zeros_like(truth["dq"][:, :, :blind]))
        assert torch.allclose(truth["dq"][:, :, blind:], leaves["q"].grad[:, :, blind:], rtol=1e-10, atol=1e-12)
        for name, leaf in (("dk", leaves["k"]), ("dv", leaves["v"])):
            assert torch.allclose(truth[name], leaf.grad, rtol=1e-10, atol=1e-12), name


def test_the_reference_in_row_chunks_is_the_reference_whole(monkeypatch):
    """A GPU case is done a slice of stacked query rows at a time; slices that cut through a
    head group and a query head give the same gradients as one slice."""
    for shape in (GQA_RAGGED, spec.CPU_SUITE[3]):
        inputs = spec.make_inputs(shape, "fp32", seed=5)
        whole = spec.reference(inputs, causal=bool(shape["causal"]))
        monkeypatch.setattr(forward, "REFERENCE_CHUNK", 7 * shape["B"] * shape["Hkv"] * shape["Skv"])  # 7 rows
        sliced = spec.reference(inputs, causal=bool(shape["causal"]))
        monkeypatch.undo()
        for name in spec.OUTPUTS:
            assert torch.allclose(sliced[name], whole[name], rtol=1e-12, atol=1e-13), name


def test_the_inputs_o_and_lse_are_the_forwards():
    inputs = spec.make_inputs(GQA_RAGGED, "fp16", seed=4)
    out = forward.reference({n: inputs[n] for n in ("q", "k", "v")}, causal=True)
    assert torch.equal(inputs["o"], out["o"].half()) and torch.equal(inputs["lse"], out["lse"].float())
    assert inputs["do"].dtype == torch.float16 and inputs["do"].std() > 0.5


def test_flops_are_flash_attentions_backward_count():
    # flash-attention's benchmarks/benchmark_flash_attention.py: f = 4 * batch * seqlen**2 * nheads *
    # headdim (// 2 if causal); `2.5 * f` for mode "bwd". Causal here counts the exact visible pairs.
    shape = dict(B=2, Hq=16, Hkv=4, Sq=1024, Skv=1024, D=128, causal=0)
    assert spec.BACKWARD_FLOPS == 2.5
    assert spec.flops(shape) == 2.5 * 4 * 2 * 1024 ** 2 * 16 * 128
    causal = dict(shape, causal=1)
    assert spec.flops(causal) == 2.5 * 4 * 2 * 16 * 128 * (1024 * 1025 // 2)


def rounded(inputs, dtype, causal, scale_dq=1.0, drop_key_tile=None, wrong_heads=False):
    """What a kernel computes in float64, rounding where the kernels round (P, dS and the
    operands of each product to dtype; TF32 for fp32), with an optional defect."""
    t = dtypes.TORCH[dtype]

    def r(x):
        if dtype != "fp32":
            return x.to(t).double()
        return (x.float().view(torch.int32) & ~0x1FFF).view(torch.float32).double()  # TF32
    q, k, v, o, do = (inputs[n].double() for n in ("q", "k", "v", "o", "do"))
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    G = Hq // Hkv
    scale = spec.default_scale(D)
    kh, vh = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)
    seen = spec.visible(Sq, Skv, causal)
    p = torch.exp(scale * r(q) @ r(kh).transpose(-1, -2) - inputs["lse"].double()[..., None])
    p = p.masked_fill(~seen, 0).nan_to_num(0)
    ds = p * (r(do) @ r(vh).transpose(-1, -2) - (do * o).sum(-1, keepdim=True))
    kept = torch.ones(Skv, dtype=torch.float64)
    if drop_key_tile is not None:
        kept[drop_key_tile] = 0  # the dQ pass skips one key tile
    dq = scale_dq * scale * (r(ds) * kept) @ r(kh)
    per_head_dk, per_head_dv = scale * r(ds).transpose(-1, -2) @ r(q), r(p).transpose(-1, -2) @ r(do)
    if wrong_heads:  # kv head h takes query heads h, h + Hkv, ... (h % Hkv) instead of G·h .. G·h + G - 1
        dk = per_head_dk.reshape(B, G, Hkv, Skv, D).sum(1)
        dv = per_head_dv.reshape(B, G, Hkv, Skv, D).sum(1)
    else:
        dk = per_head_dk.reshape(B, Hkv, G, Skv, D).sum(2)
        dv = per_head_dv.reshape(B, Hkv, G, Skv, D).sum(2)
    return {"dq": dq.to(t), "dk": dk.to(t), "dv": dv.to(t)}


OFF = {"fp16": 0.005, "bf16": 0.03, "fp32": 0.03}  # a small error each dtype's tolerance must catch


@pytest.mark.parametrize("dtype", spec.DTYPES)
def test_each_tolerance_passes_the_kernels_rounding_and_fails_a_slightly_wrong_kernel(dtype):
    inputs = spec.make_inputs(GQA_RAGGED, dtype, seed=5)
    truth = spec.reference(inputs, causal=True)
    tolerance = spec.TOLERANCE[dtype]
    assert check.compare(rounded(inputs, dtype, True), truth, tolerance)["passed"]
    wrong = {
        "a dropped softmax scale in dQ": rounded(inputs, dtype, True, scale_dq=1 / spec.default_scale(40)),
        "dQ missing one key tile of 32": rounded(inputs, dtype, True, drop_key_tile=slice(96, 128)),
        "dK, dV reduced over the wrong query heads": rounded(inputs, dtype, True, wrong_heads=True),
        f"dQ {OFF[dtype]:.1%} too large": rounded(inputs, dtype, True, scale_dq=1 + OFF[dtype]),
    }
    for what, outputs in wrong.items():
        assert not check.compare(outputs, truth, tolerance)["passed"], f"{dtype}: {what} passed"


def test_tiles_shrink_alike_for_a_large_head_dim_and_always_fit():
    from kernels import SMEM_LIMIT

    for track in spec.TRACKS:
        for dtype in spec.DTYPES:
            for config in spec.configs_for(dtype, track):
                for D in range(1, spec.HEAD_DIM_MAX + 1):  # every head dim the op takes
                    fitted = spec.fit(config, dtype, D, track)
                    assert spec.smem_bytes(fitted, dtype, D, track) <= SMEM_LIMIT, (track, dtype, config, D)
                    assert fitted["threads"] == config["threads"], (track, dtype, config, D)
                    assert fitted["block_M"] <= config["block_M"] and fitted["block_N"] <= config["block_N"]
                    if track == "best":  # dK and dV held in registers without spilling
                        assert spec.accumulator_registers(fitted, D) <= spec.ACC_REGISTERS, (dtype, config, D)
    # the tutorial's 4-warp config, 128 keys, runs 64 at head dim 128 (dK, dV: 128 registers a thread)
    assert spec.fit(dict(block_M=32, block_N=128, num_stages=5, threads=128), "bf16", 128, "best")["block_N"] == 64
    assert math.isclose(spec.flops(dict(GQA_RAGGED, causal=0)) / forward.flops(dict(GQA_RAGGED, causal=0)), 2.5)


BACKENDS = [*ops.dsl_backends(spec), "torch"]


def sampled_cases(seed=SAMPLE_SEED):
    """Each CPU-suite shape in one dtype, rotating with the sample seed (every dtype appears; CI's
    fixed seed is reproducible, DSLBENCH_FUZZ_SEED=<n> draws another): five cases, not fifteen.
    `dslbench check --op attention_bwd` runs all of them; tests/test_random_shapes.py draws more."""
    return [pytest.param(shape, spec.DTYPES[(seed + i) % len(spec.DTYPES)],
                         id=f"{ops.shape_str(shape)}-{spec.DTYPES[(seed + i) % len(spec.DTYPES)]}")
            for i, shape in enumerate(spec.CPU_SUITE)]


def test_the_sample_covers_every_shape_and_every_dtype():
    cases = [p.values for p in sampled_cases()]
    assert [shape for shape, _ in cases] == spec.CPU_SUITE and {d for _, d in cases} == set(spec.DTYPES)


@pytest.mark.parametrize("shape, dtype", sampled_cases())
def test_every_backend_matches_the_reference(shape, dtype):
    records = list(runner.run_group(spec, BACKENDS, dtype, shape, seed=1, device=DEVICE, timed=False))
    assert sorted(r["backend"] for r in records) == sorted(BACKENDS)
    for r in records:
        assert r["status"] == "pass", f"{r['backend']} {dtype} {shape}: {r['status']} {r['reason']}"
        assert r["second_call"]["seed"] == 1 + 7919  # the honesty guards ran

"""DeepSeek-V3.2's FP8 kernels (act_quant, fp8_gemm): both DSLs (fp8_gemm: in the matched and
best tracks) against the float64 reference, the UE8M0 scale properties, the e4m3 error bound,
ragged M and N, the best track's scale layout and store fallback, and checks that must fail."""
import pytest
import torch

from bench.run import backends, check, runner
from bench.core import ops
from kernels.act_quant import spec as aq
from kernels.fp8_gemm import spec as gemm
from tests.conftest import DEVICE, kernel_configs

AQ_BACKENDS = ops.dsl_backends(aq)
GEMM_BACKENDS = ops.dsl_backends(gemm)
E4M3_UNIT = 2.0 ** -4  # e4m3 keeps 3 mantissa bits: rounding to nearest is within 2^-4 relative
E4M3_SUBNORMAL_STEP = 2.0 ** -9  # spacing below e4m3's smallest normal, 2^-6


def run(backend, spec, shape, inputs, config=None):
    """The backend's outputs for these inputs (first shared config unless one is given)."""
    config = config or spec.configs_for("e4m3", ops.split_backend(backend)[1])[0]
    return backends.prepare(backend, spec, shape, "e4m3", config, inputs, DEVICE).outputs


def passes(spec, shape, inputs, outputs):
    reference = spec.reference(inputs, **spec.kernel_flags(shape))
    return check.compare(outputs, reference, spec.TOLERANCE["e4m3"])


@pytest.mark.parametrize("spec", [aq, gemm], ids=["act_quant", "fp8_gemm"])
@pytest.mark.parametrize("case", range(4))
def test_every_backend_matches_reference_on_the_cpu_suite(spec, case):
    shape = spec.CPU_SUITE[case]
    dsls = ops.dsl_backends(spec)
    names = dsls + list(spec.BASELINES)
    records = list(runner.run_group(spec, names, "e4m3", shape, seed=1, device=DEVICE, timed=False))
    assert sorted(r["backend"] for r in records) == sorted(names)  # one record per backend, none lost
    for r in records:
        if r["status"] == "skipped":  # GPU-only baselines; DeepGEMM when not installed
            assert r["backend"] in ("scaled-mm", "deepgemm"), r["reason"]
            continue
        assert r["status"] == "pass", f"{r['backend']} {shape}: {r['status']} {r['reason']}"
        assert r["emulated"] == (DEVICE == "cpu" and r["backend"] in dsls)


@pytest.mark.parametrize("backend", AQ_BACKENDS)
@pytest.mark.parametrize("ue8m0", [0, 1])
def test_act_quant_is_exactly_the_reference_quantizer(backend, ue8m0):
    # IEEE divisions and one rounding to e4m3, as the reference: not merely within tolerance.
    shape = dict(M=37, N=384, ue8m0=ue8m0)
    inputs = aq.make_inputs(shape, "e4m3", seed=5, device=DEVICE)
    out = run(backend, aq, shape, inputs)
    ref = aq.reference(inputs, ue8m0=bool(ue8m0))
    assert torch.equal(out["s"].double(), ref["s"]) and torch.equal(out["y"].double(), ref["y"])


def test_the_constants_shared_with_the_reference_are_deepseeks():
    # DeepSeek-V3.2-Exp inference/kernel.py, act_quant_kernel: `fp8_max = 448.0`,
    # `fp8_max_inv = 1 / fp8_max` (an fp32 in the kernel), `T.max(amax_local[i], 1e-4)`.
    assert aq.FP8_MAX == 448.0
    assert aq.FP8_MAX_INV == 0.0022321429569274187  # 1/448 rounded to fp32
    assert aq.AMAX_FLOOR == 9.999999747378752e-05  # 1e-4 rounded to fp32


@pytest.mark.parametrize("backend", AQ_BACKENDS)
@pytest.mark.parametrize("ue8m0", [0, 1])
def test_the_scale_multiplies_by_the_fp32_reciprocal_as_deepseek(backend, ue8m0):
    # amax 3, 11, 13, 100: amax * fp32(1/448) and amax / 448 differ by one fp32 ulp there;
    # 448 * 2^k: the scale is a power of two exactly, which UE8M0 must keep (not round up).
    amaxes = [3.0, 11.0, 13.0, 100.0, 448.0, 448.0 * 8]
    shape = dict(M=len(amaxes), N=128, ue8m0=ue8m0)
    x = torch.zeros(len(amaxes), 128, dtype=torch.bfloat16)
    x[:, 0] = torch.tensor(amaxes)  # bf16 holds these exactly
    s = run(backend, aq, shape, {"x": x.to(DEVICE)})["s"].double().cpu()[:, 0]
    product = (torch.tensor(amaxes, dtype=torch.float32) * torch.tensor(1 / 448.0, dtype=torch.float32)).double()
    expected = aq.pow2_ceil(product) if ue8m0 else product
    assert torch.equal(s, expected)
    if not ue8m0:
        quotient = (torch.tensor(amaxes, dtype=torch.float32) / 448.0).double()
        assert not torch.equal(s[:4], quotient[:4])  # a divide would fail this test


@pytest.mark.parametrize("backend", AQ_BACKENDS)
def test_ue8m0_scales_are_powers_of_two_that_never_clip(backend):
    shape = dict(M=100, N=512, ue8m0=1)
    inputs = aq.make_inputs(shape, "e4m3", seed=6, device=DEVICE)
    s = run(backend, aq, shape, inputs)["s"].double()
    mantissa, _ = torch.frexp(s)
    assert (mantissa == 0.5).all(), "a UE8M0 scale is not a power of two"
    groups = inputs["x"].double().abs().view(100, 4, aq.GROUP)
    amax = groups.amax(-1).clamp_min(aq.AMAX_FLOOR)
    assert (amax / s <= aq.FP8_MAX).all(), "a UE8M0 scale is too small: values would clip at 448"
    assert (amax / s > aq.FP8_MAX / 2).all(), "a UE8M0 scale is not the smallest power of two that fits"


@pytest.mark.parametrize("backend", AQ_BACKENDS)
@pytest.mark.parametrize("ue8m0", [0, 1])
def test_quantize_dequantize_error_is_within_the_e4m3_bound(backend, ue8m0):
    shape = dict(M=64, N=256, ue8m0=ue8m0)
    inputs = aq.make_inputs(shape, "e4m3", seed=7, device=DEVICE)
    out = run(backend, aq, shape, inputs)
    x = inputs["x"].double()
    s = out["s"].double().repeat_interleave(aq.GROUP, 1)
    error = (out["y"].double() * s - x).abs()
    # normal e4m3 values: 2^-4 relative; subnormals: half a step, in units of the scale
    bound = torch.maximum(E4M3_UNIT * x.abs(), E4M3_SUBNORMAL_STEP / 2 * s)
    assert (error <= bound).all(), f"worst error / bound: {(error / bound).max().item():.3f}"


@pytest.mark.parametrize("backend", GEMM_BACKENDS)
@pytest.mark.parametrize("M,ue8m0", [(37, 0), (129, 1)])  # M=1 in both formats: the CPU suite
def test_fp8_gemm_matches_reference_for_ragged_M(backend, ue8m0, M):
    shape = dict(M=M, N=200, K=256, ue8m0=ue8m0)
    inputs = gemm.make_inputs(shape, "e4m3", seed=M, device=DEVICE)
    result = passes(gemm, shape, inputs, run(backend, gemm, shape, inputs))
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("backend,config", kernel_configs(gemm, "e4m3"))
def test_every_fp8_gemm_config_is_correct(backend, config):
    # N=200: a 256-wide tile spans two B scale blocks, one of them ragged
    shape = dict(M=100, N=200, K=384, ue8m0=1)
    inputs = gemm.make_inputs(shape, "e4m3", seed=8, device=DEVICE)
    result = passes(gemm, shape, inputs, run(backend, gemm, shape, inputs, config))
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("backend,config", kernel_configs(aq, "e4m3"))
def test_every_act_quant_config_is_correct(backend, config):
    shape = dict(M=100, N=256, ue8m0=0)
    inputs = aq.make_inputs(shape, "e4m3", seed=9, device=DEVICE)
    result = passes(aq, shape, inputs, run(backend, aq, shape, inputs, config))
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("backend", ["triton-matched", "triton-best"])
def test_triton_takes_ue8m0_scales_as_bytes_or_fp32(backend):
    # The same power-of-two scales, stored as exponent bytes or as fp32 values: same C.
    shape = dict(M=40, N=128, K=256, ue8m0=1)
    inputs = gemm.make_inputs(shape, "e4m3", seed=10, device=DEVICE)
    as_fp32 = dict(inputs, sa=gemm.decode(inputs["sa"]).float(), sb=gemm.decode(inputs["sb"]).float())
    c_bytes = run(backend, gemm, shape, inputs)["c"]
    c_fp32 = run(backend, gemm, dict(shape, ue8m0=0), as_fp32)["c"]
    assert torch.equal(c_bytes, c_fp32)


@pytest.mark.parametrize("track", ops.tracks(gemm))
def test_fp8_gemm_configs_are_shared_and_every_field_is_used_by_both_dsls(track):
    import inspect

    modules = [ops.kernel_module(gemm, ops.backend_name(d, track)) for d in ops.DSLS]
    assert all(m.CONFIGS is gemm.CONFIGS for m in modules)
    fields = set(gemm.CONFIGS[track][0])
    assert all(set(c) == fields for c in gemm.CONFIGS[track]) and gemm.configs_for("e4m3", track)
    assert fields <= set(inspect.signature(modules[0].fp8_gemm).parameters)
    assert fields <= set(inspect.signature(modules[1].fp8_gemm_kernel).parameters)
    # decode shapes (M=64, N=2112, K=7168: 17 tiles of 128 columns) fill 132 SMs with split-K
    assert max(-(-2112 // gemm.block_n(c)) * c["split_k"] for c in gemm.configs_for("e4m3", track)) >= 132


def run_best(backend, shape, inputs, config):
    """A best-track kernel called directly: (its outputs, its workspace, Triton's returned path)."""
    from bench.run import backends as harness

    outputs = gemm.make_outputs(shape, "e4m3", DEVICE)
    outputs = harness.emulate(outputs, ()) if DEVICE == "cpu" else outputs  # bf16 C: fp32 storage on the CPU
    scratch = gemm.workspace(shape, "e4m3", config, DEVICE, "best")
    for t in scratch.values():
        t.fill_(float("nan"))
    module = harness.load_triton(gemm, backend, DEVICE) if backend.startswith("triton") else ops.kernel_module(gemm, backend)
    if backend.startswith("triton"):
        path = module.fp8_gemm(*inputs.values(), *outputs.values(), **scratch, **config)
    else:
        from bench.run.tilelang_cpu import compile_cpu

        assert DEVICE == "cpu", "this test calls TileLang's CPU path"
        run_in = harness.emulate(inputs, ())
        kernel = compile_cpu(module.fp8_gemm_kernel, {}, **{k: v for k, v in shape.items()}, dtype="float32", **config)
        kernel(*run_in.values(), *outputs.values(), *scratch.values())
        path = module.store_path(shape["N"])
    return outputs, scratch, path


@pytest.mark.parametrize("backend", ["triton-best", "tilelang-best"])
def test_best_track_transposes_a_scales_for_tma_and_falls_back_to_a_pointer_store(backend):
    """sa_t holds A's scales as fp32 in DeepGEMM's MN-major layout (K/128, M padded to 16 bytes,
    zeros in the padding): what one TMA box per K-block reads. N=300 (600-byte rows of C): TMA
    cannot store C, the kernel says so and stores through pointers; the result is right."""
    shape = dict(M=37, N=300, K=256, ue8m0=1)
    config = next(c for c in gemm.configs_for("e4m3", "best") if c["split_k"] == 1 and c["block_N"] == 256)
    inputs = gemm.make_inputs(shape, "e4m3", seed=14, device=DEVICE)
    outputs, scratch, path = run_best(backend, shape, inputs, config)
    want = torch.zeros(2, gemm.padded_rows(37), dtype=torch.float64)
    want[:, :37] = gemm.decode(inputs["sa"]).T.cpu()
    assert scratch["sa_t"].shape == (2, 40) and torch.equal(scratch["sa_t"].double().cpu(), want)
    assert not gemm.tma_store_compatible(shape) and gemm.tma_store_compatible(dict(shape, N=256))
    assert path in ("tma loads, pointer store", "pointers")
    rounded = {"c": outputs["c"].to(torch.bfloat16)}
    assert passes(gemm, shape, inputs, rounded)["passed"]


def test_exponent_bytes_round_trip():
    s = torch.exp2(torch.arange(-30, 20, dtype=torch.float64))
    assert torch.equal(gemm.decode(gemm.to_exponent_bytes(s)), s)


WRONG_LAYOUTS = {
    # sb (ceil(N/128), K/128) given as its transpose: same shape when the two are equal
    "sb-transposed": lambda t: dict(t, sb=t["sb"].t().contiguous()),
    # sa's values laid out column-major in a row-major (M, K/128) tensor
    "sa-column-major": lambda t: dict(t, sa=t["sa"].t().contiguous().view(t["sa"].shape)),
}


@pytest.mark.parametrize("backend", GEMM_BACKENDS)
@pytest.mark.parametrize("wrong", WRONG_LAYOUTS.values(), ids=WRONG_LAYOUTS.keys())
def test_a_wrong_scale_layout_fails_the_check(backend, wrong):
    shape = dict(M=64, N=256, K=256, ue8m0=0)
    inputs = gemm.make_inputs(shape, "e4m3", seed=11, device=DEVICE)
    outputs = run(backend, gemm, shape, wrong(inputs))
    assert not passes(gemm, shape, inputs, outputs)["passed"]


def test_a_wrong_act_quant_scale_fails_the_check():
    # scales of the right values in the wrong groups (rows swapped): y and s both wrong
    shape = dict(M=16, N=256, ue8m0=1)
    inputs = aq.make_inputs(shape, "e4m3", seed=12, device=DEVICE)
    outputs = run("triton-matched", aq, shape, inputs)
    swapped = {"y": outputs["y"].flip(0), "s": outputs["s"].flip(0)}
    assert passes(aq, shape, inputs, outputs)["passed"]
    assert not passes(aq, shape, inputs, swapped)["passed"]


@pytest.mark.parametrize("spec,text,message", [
    (aq, "M=4,N=100,ue8m0=0", "N=100 must be a multiple of 128"),
    (gemm, "M=4,N=100,K=200,ue8m0=1", "K=200 must be a multiple of 128"),
    (gemm, "M=4,N=100,K=256,ue8m0=2", "ue8m0=2 must be 0 or 1"),
])
def test_bad_shapes_are_one_line_usage_errors(spec, text, message):
    with pytest.raises(ops.UsageError, match=message):
        ops.parse_shape(text, spec)


@pytest.mark.parametrize("spec", [aq, gemm], ids=["act_quant", "fp8_gemm"])
def test_inputs_are_seeded_and_outputs_poisoned(spec):
    shape = spec.CPU_SUITE[0]
    a, b, c = (spec.make_inputs(shape, "e4m3", seed=s) for s in (3, 3, 4))
    first = spec.INPUTS[0]
    assert torch.equal(a[first].float(), b[first].float()) and not torch.equal(a[first].float(), c[first].float())
    assert (a[first].float() != 0).float().mean() > 0.9
    assert all(torch.isnan(t.float()).all() for t in spec.make_outputs(shape, "e4m3").values())


def test_gemm_inputs_are_quantized_by_the_reference_quantizer():
    shape = dict(M=3, N=130, K=256, ue8m0=0)
    t = gemm.make_inputs(shape, "e4m3", seed=13)
    assert t["a"].dtype == t["b"].dtype == torch.float8_e4m3fn
    assert t["sa"].shape == (3, 2) and t["sb"].shape == (2, 2) and t["sa"].dtype == torch.float32
    # each group / block uses the full e4m3 range: its amax became 448
    assert (t["a"].double().abs().view(3, 2, 128).amax(-1) == aq.FP8_MAX).all()
    assert t["b"].double().abs()[:128].view(128, 2, 128).amax(dim=(0, 2)).eq(aq.FP8_MAX).all()

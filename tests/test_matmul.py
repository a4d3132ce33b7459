"""Matmul: every backend (both DSLs, matched and best tracks) x dtype x shape class against the
float64 reference; every config; split-K, the persistent grid and the best track's fallback
where TMA cannot address the operands; the matched track's sizes handling."""
import inspect

import pytest
import torch

from bench.core import ops
from bench.run import backends, check, runner
from kernels.matmul import spec
from tests.conftest import DEVICE, kernel_configs

SHAPES = {
    "block-multiple": dict(M=128, N=128, K=128),
    "decode-M1": dict(M=1, N=256, K=96),
    "ragged": dict(M=77, N=45, K=100),
    "ragged-129x255x63": dict(M=129, N=255, K=63),
    "K-below-block": dict(M=64, N=96, K=33),
}
DSL_BACKENDS = ops.dsl_backends(spec)
BACKENDS = [*DSL_BACKENDS, "torch"]


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("dtype", spec.DTYPES)
def test_every_backend_matches_reference(shape, dtype):
    records = list(runner.run_group(spec, BACKENDS, dtype, shape, seed=1, device=DEVICE, timed=False))
    assert sorted(r["backend"] for r in records) == sorted(BACKENDS)  # one record per backend, none lost
    for r in records:
        assert r["status"] == "pass", f"{r['backend']} {dtype} {shape}: {r['status']} {r['reason']}"
        assert r["rel_err"] <= spec.TOLERANCE[dtype][0]
    emulated = {r["backend"]: r["emulated"] for r in records}
    if DEVICE == "cpu":  # the labels say which CPU paths lack the dtype
        assert emulated == {**{b: dtype == "bf16" for b in DSL_BACKENDS}, "torch": False}


# Ragged against every tile (M, N, K), yet with rows of 16-byte multiples: the best track's TMA
# path (the CPU suite's 129x255x63 and 77x45x100 take its pointer fallback).
RAGGED_ALIGNED = dict(M=70, N=136, K=136)


@pytest.mark.parametrize("backend,config", kernel_configs(spec, "fp16"))
def test_every_config_is_correct_on_a_ragged_shape(backend, config):
    shape, dtype = RAGGED_ALIGNED, "fp16"
    inputs = spec.make_inputs(shape, dtype, seed=2, device=DEVICE)
    prepared = backends.prepare(backend, spec, shape, dtype, config, inputs, DEVICE)
    result = check.compare(prepared.outputs, spec.reference(inputs), spec.TOLERANCE[dtype])
    assert result["passed"], result["reason"]


@pytest.mark.parametrize("track", ops.tracks(spec))
def test_configs_are_shared_and_fit(track):
    modules = [ops.kernel_module(spec, ops.backend_name(d, track)) for d in ops.DSLS]
    assert all(m.CONFIGS is spec.CONFIGS for m in modules)
    assert spec.configs_for("fp16", track)
    assert all(spec.smem_bytes(c, "fp32", track) <= spec.SMEM_LIMIT for c in spec.configs_for("fp32", track))
    # every field of a config is a parameter of both DSLs' entry points
    triton_module, tilelang_module = modules
    fields = set(spec.CONFIGS[track][0])
    assert all(set(c) == fields for c in spec.CONFIGS[track])
    assert fields <= set(inspect.signature(triton_module.matmul).parameters)
    assert fields <= set(inspect.signature(tilelang_module.matmul_kernel).parameters)


def test_the_tracks_hold_the_configs_decode_shapes_need():
    """Split-K and 64-row tiles in both tracks: M=16, N=14336, K=4096 fills 132 SMs."""
    for track in ops.tracks(spec):
        decode = [c for c in spec.configs_for("bf16", track) if c["split_k"] > 1 and c["block_M"] == 64]
        assert decode, track
        blocks = max(-(-14336 // c["block_N"]) * c["split_k"] for c in decode)
        assert blocks >= 132, (track, blocks)


def constexprs(kernel):
    """The names of a @triton.jit kernel's tl.constexpr parameters (compiled or interpreted)."""
    import triton.language as tl

    return {n for n, p in inspect.signature(kernel.fn).parameters.items() if p.annotation is tl.constexpr}


def test_matched_track_specializes_on_the_sizes_in_both_dsls():
    """Sizes taken the same way: compile-time constants in both (Triton tl.constexpr, TileLang
    Python ints), so each drops a bounds check where a size is a multiple of its tile."""
    from kernels.matmul import tilelang_matched, triton_matched

    assert {"M", "N", "K"} <= constexprs(triton_matched.matmul_kernel)
    config = spec.CONFIGS["matched"][0]
    func = tilelang_matched.matmul_kernel(M=77, N=45, K=100, dtype="float16", **config)
    a, b = (func.buffer_map[p] for p in func.params[:2])
    assert [int(x) for x in (*a.shape, *b.shape)] == [77, 100, 100, 45]
    assert tilelang_matched.PASS_CONFIGS["tl.disable_tma_lower"] and tilelang_matched.PASS_CONFIGS["tl.disable_warp_specialized"]


def run_kernel(backend, inputs, outputs, scratch, config, shape, dtype):
    """Call a DSL backend's kernel module directly, with a workspace the test can read back."""
    module = backends.load_triton(spec, backend, DEVICE) if backend.startswith("triton") else ops.kernel_module(spec, backend)
    if backend.startswith("triton"):
        return module.matmul(*inputs.values(), *outputs.values(), **scratch, **config)
    if DEVICE == "cpu":
        from bench.run.tilelang_cpu import compile_cpu

        kernel = compile_cpu(module.matmul_kernel, getattr(module, "PASS_CONFIGS", {}), **shape, dtype=dtype, **config)
    else:
        import tilelang

        kernel = tilelang.compile(module.matmul_kernel(**shape, dtype=dtype, **config), target="cuda",
                                  pass_configs=getattr(module, "PASS_CONFIGS", {}))
    return kernel(*inputs.values(), *outputs.values(), *scratch.values())


@pytest.mark.parametrize("backend", DSL_BACKENDS)
def test_split_k_writes_each_slice_partial_and_sums_them_into_c(backend):
    """split_k=4, three K-tiles a slice: each slice's product lands in its own fp32 slab of
    the workspace (none empty, none the whole) and C is their sum."""
    shape = dict(M=40, N=136, K=700)
    config = next(c for c in spec.configs_for("fp16", ops.split_backend(backend)[1])
                  if c["split_k"] == 4 and c["block_K"] == 64)
    inputs = spec.make_inputs(shape, "fp16", seed=7, device=DEVICE)
    outputs = spec.make_outputs(shape, "fp16", DEVICE)
    scratch = {k: v.fill_(float("nan")) for k, v in spec.workspace(shape, "fp16", config, DEVICE).items()}
    run_kernel(backend, inputs, outputs, scratch, config, shape, "float16")
    a, b, width = inputs["a"].double(), inputs["b"].double(), 3 * config["block_K"]
    for s in range(4):
        want = a[:, s * width:(s + 1) * width] @ b[s * width:(s + 1) * width]
        assert torch.allclose(scratch["partial"][s].double(), want, rtol=1e-5, atol=1e-3), f"slice {s}"
    assert check.compare(outputs, spec.reference(inputs), spec.TOLERANCE["fp16"])["passed"]


@pytest.mark.parametrize("dsl", ops.DSLS)
def test_the_persistent_grid_covers_more_work_than_it_has_programs(dsl, monkeypatch):
    """The best track's persistent loop: 16 work items (4 tiles x 4 K slices) on 5 "SMs"."""
    module = ops.kernel_module(spec, f"{dsl}-best")
    monkeypatch.setattr(module, "num_sms", lambda: 5)
    shape, dtype = RAGGED_ALIGNED, "fp16"
    config = next(c for c in spec.configs_for(dtype, "best") if c["split_k"] == 4)
    inputs = spec.make_inputs(shape, dtype, seed=8, device=DEVICE)
    prepared = backends.prepare(f"{dsl}-best", spec, shape, dtype, config, inputs, DEVICE)
    assert check.compare(prepared.outputs, spec.reference(inputs), spec.TOLERANCE[dtype])["passed"]


def test_best_track_falls_back_to_pointers_where_tma_cannot_address_the_operands():
    """K=100 in fp16: A's rows are 200 bytes, not a multiple of 16; TMA cannot take them. Both
    DSLs decide by spec.tma_compatible and say which path they took; the result is right."""
    from kernels.matmul import tilelang_best

    shape, dtype = dict(M=33, N=256, K=100), "fp16"
    assert not spec.tma_compatible(shape, 2) and spec.tma_compatible(dict(shape, K=104), 2)
    assert not spec.tma_compatible(dict(M=1, N=45, K=64), 2)  # C's rows: 90 bytes
    assert tilelang_best.load_path(**shape, dtype="float16") == "cp.async"
    assert tilelang_best.load_path(**dict(shape, K=104), dtype="float16") == "tma"
    inputs = spec.make_inputs(shape, dtype, seed=9, device=DEVICE)
    config = spec.configs_for(dtype, "best")[0]
    for backend in ("triton-best", "tilelang-best"):
        outputs = spec.make_outputs(shape, dtype, DEVICE)
        path = run_kernel(backend, inputs, outputs, spec.workspace(shape, dtype, config, DEVICE), config, shape, "float16")
        if backend == "triton-best":
            assert path == "pointers"
        assert check.compare(outputs, spec.reference(inputs), spec.TOLERANCE[dtype])["passed"], backend
    aligned = dict(shape, K=104)
    inputs = spec.make_inputs(aligned, dtype, seed=9, device=DEVICE)
    outputs = spec.make_outputs(aligned, dtype, DEVICE)
    assert run_kernel("triton-best", inputs, outputs, {}, config, aligned, "float16") == "tma"


def test_best_triton_is_warp_specialized_on_hopper_for_two_consumer_warpgroups_in_16_bit(monkeypatch):
    """launch_options: Hopper's partitioner for TMA, 16-bit, 256-thread configs (4 warps: it
    makes a producer and two consumer warpgroups); Blackwell's flattened loop; else pipelined."""
    from kernels.matmul import triton_best

    def options(major, tma=True, threads=256, element_size=2):
        monkeypatch.setattr(triton_best, "cuda_major", lambda device: major)
        return triton_best.launch_options(torch.device("meta"), tma, threads, 3, element_size)
    hopper, path = options(9)
    assert path == "tma-ws" and hopper["num_warps"] == 4 and not hopper["FLATTEN"] and hopper["DEVICE_DESCRIPTORS"]
    assert options(9, threads=128)[1] == options(9, element_size=4)[1] == options(0)[1] == "tma"
    assert options(9, threads=128)[0]["num_warps"] == 4 and options(9, element_size=4)[0]["num_warps"] == 8
    blackwell, path = options(10, threads=128)
    assert path == "tma-ws" and blackwell["FLATTEN"] and not blackwell["DEVICE_DESCRIPTORS"] and blackwell["num_warps"] == 4
    assert options(9, tma=False)[1] == "pointers"
    # Triton 3.6 (the GPU image's) fails to partition the loop: the 256-thread config runs pipelined, 8 warps
    monkeypatch.setattr(triton_best.triton, "__version__", "3.6.0")
    older, path = options(9)
    assert path == "tma" and older["num_warps"] == 8 and not older["WARP_SPECIALIZE"]
    assert triton_best.partitions_hopper_loop("3.9.0") and triton_best.partitions_hopper_loop("3.10.1+git")
    assert not triton_best.partitions_hopper_loop("3.6.0")


@pytest.mark.parametrize("split_k", [1, 4])
def test_best_triton_device_side_descriptors_are_right(split_k, monkeypatch):
    """The Hopper warp-specialized path builds its TMA descriptors in the kernel (A, B, C or the
    3-D split-K partials): run here by the interpreter (which takes no warp specialization),
    on a ragged shape, against the float64 reference."""
    if DEVICE != "cpu":
        pytest.skip("the device's own arch picks the path on a GPU")
    module = backends.load_triton(spec, "triton-best", DEVICE)
    monkeypatch.setattr(module, "cuda_major", lambda device: 9)
    shape, dtype = dict(M=136, N=264, K=200), "fp16"
    config = dict(block_M=128, block_N=128, block_K=64, num_stages=4, threads=256, split_k=split_k)
    inputs = spec.make_inputs(shape, dtype, seed=11, device=DEVICE)
    outputs = spec.make_outputs(shape, dtype, DEVICE)
    scratch = spec.workspace(shape, dtype, config, DEVICE)
    assert module.matmul(*inputs.values(), *outputs.values(), **scratch, **config) == "tma-ws"
    result = check.compare(outputs, spec.reference(inputs), spec.TOLERANCE[dtype])
    assert result["passed"], result["reason"]


def test_inputs_are_seeded_random_and_outputs_poisoned():
    shape = dict(M=8, N=9, K=10)
    a = spec.make_inputs(shape, "fp32", seed=3)
    b = spec.make_inputs(shape, "fp32", seed=3)
    c = spec.make_inputs(shape, "fp32", seed=4)
    assert torch.equal(a["a"], b["a"]) and not torch.equal(a["a"], c["a"])
    assert (a["a"] != 0).all() and a["a"].std() > 0.5
    assert torch.isnan(spec.make_outputs(shape, "fp16")["c"]).all()


def test_flops_and_bytes():
    shape = dict(M=2, N=3, K=5)
    assert spec.flops(shape) == 2 * 2 * 3 * 5
    assert spec.bytes_moved(shape, "fp16") == (2 * 5 + 5 * 3 + 2 * 3) * 2


@pytest.mark.parametrize("backend", ["triton-matched", "tilelang-best"])  # each DSL, each track once: CI time
def test_autotune_tries_every_config_and_keeps_the_fastest_correct_one(backend):
    shape, dtype = dict(M=65, N=70, K=40), "fp16"
    inputs = spec.make_inputs(shape, dtype, seed=6, device=DEVICE)
    prepared = backends.prepare(backend, spec, shape, dtype, "autotune", inputs, DEVICE)
    assert [t["config"] for t in prepared.tried] == spec.configs_for(dtype, ops.split_backend(backend)[1])
    fastest = min(prepared.tried, key=lambda t: t["median_ms"])
    assert prepared.config == fastest["config"] and prepared.compile_ms > 0 and prepared.autotune_ms > 0
    assert check.compare(prepared.outputs, spec.reference(inputs), spec.TOLERANCE[dtype])["passed"]

"""MoE grouped GEMM (kernels/grouped_gemm): the routing and both layouts hold for any shape, the
float64 reference is one GEMM per expert, each tolerance fails a slightly wrong kernel (one
expert's wrong scale, one row block given to the wrong expert, a masked row written), and every
backend (both DSLs, both tracks, the baselines) matches the reference on every CPU shape."""
import random

import pytest
import torch

from bench.core import ops
from bench.run import check, runner
from kernels.fp8_gemm.spec import BLOCK
from kernels.grouped_gemm import spec
from tests.conftest import DEVICE, SAMPLE_SEED

DSL_BACKENDS = ops.dsl_backends(spec)
GPU_ONLY = ("deepgemm", "torch-grouped")


def drawn_shapes(n=60, seed=SAMPLE_SEED):
    r = random.Random(seed)
    return [dict(G=r.randint(1, 40), M=r.choice((1, 2, 3, 7, 64, 130, 1000)), N=r.randint(1, 300),
                 K=128 * r.randint(1, 3), masked=r.randint(0, 1), ue8m0=r.randint(0, 1)) for _ in range(n)]


def test_the_routing_and_both_layouts_hold_for_any_shape():
    """Planning code, property-tested: counts sum to G·M, the contiguous layout gives each
    expert its rows in order, padded to ALIGN_M with -1, the masked one the counts, with room."""
    for shape in drawn_shapes():
        counts = spec.token_counts(shape)
        assert counts.shape == (shape["G"],) and int(counts.sum()) == shape["G"] * shape["M"] and (counts >= 0).all()
        assert torch.equal(counts, spec.token_counts(dict(shape, N=7, K=128)))  # routing: (G, M) alone
        layout = spec.grouped_layout(shape)
        R = spec.rows(shape)
        if shape["masked"]:
            assert torch.equal(layout.long(), counts) and R % spec.MASKED_ALIGN == 0 and R >= counts.max()
            assert int(spec.valid_rows(shape).sum()) == int(counts.sum())
            continue
        assert layout.shape == (R,) and R % spec.ALIGN_M == 0
        start = 0
        for e, n in enumerate(counts.tolist()):
            run = layout[start:start + spec.round_up(n, spec.ALIGN_M)]
            assert (run[:n] == e).all() and (run[n:] == -1).all(), (shape, e)
            start += len(run)
        assert start == R
        for block_M in (64, 128):  # no tile of the contiguous layout spans two experts
            tiles = layout.view(-1, block_M)
            assert all(len(set(t[t >= 0].tolist())) <= 1 for t in tiles)


def test_the_cpu_suite_has_experts_with_no_token_and_with_one_in_both_layouts():
    for masked in (0, 1):
        counts = torch.cat([spec.token_counts(s) for s in spec.CPU_SUITE if s["masked"] == masked])
        assert (counts == 0).any() and (counts == 1).any(), masked
    assert {s["ue8m0"] for s in spec.CPU_SUITE} == {0, 1} and any(s["N"] % BLOCK for s in spec.CPU_SUITE)


@pytest.mark.parametrize("dtype", spec.DTYPES)
@pytest.mark.parametrize("shape", spec.CPU_SUITE, ids=ops.shape_str)
def test_the_reference_is_one_gemm_per_expert_and_nan_where_nothing_may_be_written(shape, dtype):
    inputs = spec.make_inputs(shape, dtype, seed=3)
    ref = spec.reference(inputs, masked=bool(shape["masked"]))["c"]
    a, b = spec.dequantized(inputs)
    valid = spec.valid_rows(shape)
    assert not torch.isnan(ref[valid]).any()
    if shape["masked"]:  # rows past a count: NaN, and unwritten (the check wants the poison there)
        assert torch.isnan(ref[~valid]).all() and torch.equal(spec.unwritten(inputs)["c"][..., 0], ~valid)
    else:  # padding rows: make_outputs' 0 (not checked), nothing unwritten
        assert (ref[~valid] == 0).all() and spec.unwritten(inputs) == {}
    for e, n in enumerate(spec.token_counts(shape).tolist()):
        rows = a[e, :n] if shape["masked"] else a[inputs["grouped_layout"] == e]
        got = ref[e, :n] if shape["masked"] else ref[inputs["grouped_layout"] == e]
        assert torch.allclose(got, torch.einsum("mk,nk->mn", rows, b[e]), rtol=1e-12, atol=1e-9)
    # A's rows past a count and padding rows are finite: a row computed and stored there shows in C
    assert torch.isfinite(inputs["a"].float()).all() and torch.isfinite(a).all()


def test_inputs_are_seeded_and_outputs_poisoned():
    shape = spec.CPU_SUITE[0]
    for dtype in spec.DTYPES:
        one, two, other = (spec.make_inputs(shape, dtype, seed=s) for s in (1, 1, 2))
        assert all(torch.equal(one[k].view(torch.uint8), two[k].view(torch.uint8)) for k in one)
        assert not torch.equal(one["a"].float(), other["a"].float())
        assert torch.equal(one["grouped_layout"], other["grouped_layout"])  # routing by the shape
        c = spec.make_outputs(shape, dtype)["c"].float()
        valid = spec.valid_rows(shape)
        assert torch.isnan(c[valid]).all() and (c[~valid] == 0).all()  # padding rows: not checked
        masked = dict(shape, masked=1)
        assert torch.isnan(spec.make_outputs(masked, dtype)["c"].float()).all()
    assert spec.make_inputs(shape, "bf16", 1)["sa"].numel() == 0  # a bf16 GEMM has no scales


def test_flops_count_valid_rows_only():
    for shape in spec.CPU_SUITE + spec.GPU_SUITE:
        tokens = int(spec.token_counts(shape).sum())
        assert spec.flops(shape) == 2 * tokens * shape["N"] * shape["K"] == 2 * shape["G"] * shape["M"] * shape["N"] * shape["K"]
        assert spec.bytes_moved(shape, "e4m3") < spec.bytes_moved(shape, "bf16")


def rounded_kernel(inputs, shape):
    """A correct kernel's C: the float64 result rounded to bf16 on the valid rows, NaN poison
    elsewhere (untouched)."""
    ref = spec.reference(inputs, masked=bool(shape["masked"]))["c"]
    out = spec.make_outputs(shape, "bf16")["c"]
    valid = spec.valid_rows(shape)
    out[valid] = ref[valid].bfloat16()
    return ref, out


@pytest.mark.parametrize("dtype", spec.DTYPES)
def test_each_tolerance_passes_rounding_and_fails_a_slightly_wrong_kernel(dtype):
    for shape in (dict(G=4, M=40, N=200, K=256, masked=0, ue8m0=1), dict(G=4, M=40, N=200, K=256, masked=1, ue8m0=0)):
        inputs = spec.make_inputs(shape, dtype, seed=4)
        ref, good = rounded_kernel(inputs, shape)
        tolerance = spec.TOLERANCE[dtype]
        truth = spec.reference_for(inputs, {"c": good}, {"c": ref})
        assert check.compare({"c": good}, truth, tolerance, spec.unwritten(inputs))["passed"], shape
        counts = spec.token_counts(shape)
        e = int(counts.argmax())
        a, b = spec.dequantized(inputs)
        wrong = {}
        # one expert's weight scale off by a factor of two (one exponent step: the smallest UE8M0 error)
        c = good.clone()
        sel = (slice(e, e + 1), slice(0, int(counts[e]))) if shape["masked"] else inputs["grouped_layout"] == e
        c[sel] = (ref[sel] * 2).bfloat16()
        wrong["one expert's scale doubled"] = c
        # one row block of 64 given to the next expert's weights
        c = good.clone()
        other = (e + 1) % shape["G"]
        rows = a[e, :64] if shape["masked"] else a[inputs["grouped_layout"] == e][:64]
        block = (rows @ b[other].T).bfloat16()
        if shape["masked"]:
            c[e, :len(rows)] = block
        else:
            first = int((inputs["grouped_layout"] == e).nonzero()[0])
            c[first:first + len(rows)] = block
        wrong["a row block on the wrong expert"] = c
        if shape["masked"]:  # one row past a count computed and stored, as a whole-tile store would
            c = good.clone()
            few = int(counts.argmin())  # its count is below M_max
            c[few, int(counts[few])] = (a[few, int(counts[few])] @ b[few].T).bfloat16()
            wrong["a masked row written"] = c
        for what, out in wrong.items():
            result = check.compare({"c": out}, spec.reference_for(inputs, {"c": out}, {"c": ref}), tolerance,
                                   spec.unwritten(inputs))
            assert not result["passed"], f"{dtype} {shape}: {what} passed"


def test_a_contiguous_padding_row_is_not_checked_but_a_nan_there_still_fails():
    shape = spec.CPU_SUITE[0]
    inputs = spec.make_inputs(shape, "bf16", seed=4)
    ref, out = rounded_kernel(inputs, shape)
    pad = inputs["grouped_layout"] < 0
    assert check.compare({"c": out}, spec.reference_for(inputs, {"c": out}, {"c": ref}), spec.TOLERANCE["bf16"])["passed"]
    out[pad] = 1e4  # whatever a whole-tile kernel leaves there
    assert check.compare({"c": out}, spec.reference_for(inputs, {"c": out}, {"c": ref}), spec.TOLERANCE["bf16"])["passed"]
    out[pad] = float("nan")
    assert not check.compare({"c": out}, spec.reference_for(inputs, {"c": out}, {"c": ref}), (1, 1))["passed"]


@pytest.mark.parametrize("text, message", [("G=0,M=3,N=8,K=128,masked=0,ue8m0=0", "G=0 must be at least 1"),
                                           ("G=2,M=3,N=8,K=100,masked=0,ue8m0=0", "K=100 must be a multiple of 128")])
def test_bad_shapes_are_one_line_usage_errors(text, message):
    shape = dict(zip(spec.SHAPE_KEYS, (int(v.split("=")[1]) for v in text.split(","))))
    assert message in spec.validate(shape) and "\n" not in spec.validate(shape)


@pytest.mark.parametrize("dtype", spec.DTYPES)
@pytest.mark.parametrize("shape", spec.CPU_SUITE, ids=ops.shape_str)
def test_every_backend_matches_the_reference(shape, dtype):
    names = [*DSL_BACKENDS, *spec.BASELINES, "reference"]  # the reference too: its NaN rows are the unwritten ones
    records = list(runner.run_group(spec, names, dtype, shape, seed=1, device=DEVICE, timed=False))
    assert sorted(r["backend"] for r in records) == sorted(names)  # one record per backend, none lost
    for r in records:
        if r["status"] == "skipped" and DEVICE == "cpu":
            assert r["backend"] in GPU_ONLY, r["reason"]
            continue
        assert r["status"] == "pass", f"{r['backend']} {dtype} {shape}: {r['status']} {r['reason']}"

"""The correctness check itself: it must be able to fail."""
import torch

from bench.run import check
from kernels.matmul import spec


def reference_and_output(dtype="fp16"):
    inputs = spec.make_inputs(dict(M=64, N=48, K=80), dtype, seed=5)
    ref = spec.reference(inputs)
    return ref, {"c": ref["c"].to(torch.float16)}


def test_a_rounded_correct_output_passes():
    ref, out = reference_and_output()
    assert check.compare(out, ref, spec.TOLERANCE["fp16"])["passed"]


def test_a_perturbed_output_fails():
    ref, out = reference_and_output()
    # One element off by 0.3 (C's entries reach ~40): small in norm, so only the
    # elementwise bound catches it, as it must catch a bad edge mask.
    out["c"][3, 7] += 0.3
    result = check.compare(out, ref, spec.TOLERANCE["fp16"])
    assert not result["passed"] and "max_abs_err" in result["reason"]


def test_a_slightly_wrong_output_everywhere_fails():
    ref, out = reference_and_output()
    out["c"] *= 1.01  # 1% off: far beyond fp16 rounding
    assert not check.compare(out, ref, spec.TOLERANCE["fp16"])["passed"]


def test_nan_never_passes_even_with_infinite_tolerance():
    ref, out = reference_and_output()
    out["c"][0, 0] = float("nan")
    result = check.compare(out, ref, (float("inf"), float("inf")))
    assert not result["passed"] and "NaN" in result["reason"] and result["rel_err"] is None


def test_an_unwritten_poisoned_output_fails():
    ref, _ = reference_and_output()
    poisoned = spec.make_outputs(dict(M=64, N=48, K=80), "fp16")
    assert not check.compare(poisoned, ref, spec.TOLERANCE["fp16"])["passed"]


def test_an_all_zero_reference_takes_the_bounds_as_absolute():
    """The dq of queries that each see one key is exactly zero: a kernel's rounding there
    (dp - delta, two fp32 sums of the same products in other orders) passes, a real error fails."""
    ref = {"c": torch.zeros(8, 8, dtype=torch.float64)}
    rounding, wrong = torch.full((8, 8), 1e-6), torch.zeros(8, 8)
    wrong[2, 3] = 0.05
    assert check.compare({"c": rounding}, ref, (1e-2, 2e-2))["passed"]
    assert not check.compare({"c": wrong}, ref, (1e-2, 2e-2))["passed"]
    assert not check.compare({"c": wrong}, ref, (1.0, 2e-2))["passed"]  # the max-abs bound alone
    assert not check.compare({"c": torch.full((8, 8), float("nan"))}, ref, (1e-2, 2e-2))["passed"]


def test_an_unwritten_element_must_keep_its_poison_and_counts_in_no_error():
    """A masked layout's rows past an expert's count (spec.unwritten): left alone (NaN) passes
    and does not count in the errors; a value written there, even the right one, fails; a NaN
    anywhere else still fails, even against a NaN in the reference."""
    ref, out = reference_and_output()
    rows_past = torch.zeros(ref["c"].shape[0], 1, dtype=torch.bool)
    rows_past[5:] = True
    out["c"][5:] = float("nan")
    assert check.compare(out, ref, spec.TOLERANCE["fp16"], {"c": rows_past})["passed"]
    assert not check.compare(out, ref, spec.TOLERANCE["fp16"])["passed"]  # without the mask: unwritten rows fail
    out["c"][9, 3] = ref["c"][9, 3]
    result = check.compare(out, ref, spec.TOLERANCE["fp16"], {"c": rows_past})
    assert not result["passed"] and "1 values written where nothing may be" in result["reason"]
    out["c"][9, 3] = float("nan")
    out["c"][2, 2], ref["c"][2, 2] = float("nan"), float("nan")
    assert not check.compare(out, ref, (float("inf"), float("inf")), {"c": rows_past})["passed"]


def test_an_input_left_as_it_was_is_unwritten_even_where_it_holds_nan():
    """The input guard compares bits: an fp8 tensor with NaN rows (a masked layout's rows past a
    count) that the kernel left alone is unwritten; one changed byte is a write."""
    from bench.run import guards

    for dtype in (torch.float8_e4m3fn, torch.bfloat16):
        x = torch.randn(4, 8).to(dtype)
        x.view(torch.uint8)[1] = 0x7F if dtype == torch.float8_e4m3fn else 0xFF  # NaN bytes
        copy = x.clone()
        assert guards.written({"a": x}, {"a": copy}) == []
        x.view(torch.uint8)[0, 0] ^= 1
        assert guards.written({"a": x}, {"a": copy}) == ["a"]

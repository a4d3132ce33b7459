"""Compare a backend's outputs with the float64 reference, under the op's tolerance."""
import torch


def compare(outputs, reference, tolerance, unwritten=None):
    """Errors of every output against the reference, and whether all are within tolerance.

    tolerance = (normwise relative, max-abs relative to max|ref|), or a dict of those per
    output name. NaN anywhere fails, whatever the tolerance, and so does an infinity the
    reference does not have at that position with that sign; the errors are then None.
    Infinities that match the reference's (a masked score's -inf) are equal; the errors
    are measured over the reference's finite values.
    An output whose reference is all zeros (the dq of a query that sees one key: its dS is
    p·(dp - delta) with dp = delta exactly) has no size to be relative to: both bounds are
    then absolute, so rounding passes and an error of the tolerance's size fails.
    unwritten: {name: bool mask} of elements no kernel may write (an op's spec.unwritten: a
    masked grouped GEMM's rows past an expert's count): the output must still hold its NaN
    poison there, and those elements are left out of the errors; a value written there fails.
    Only the outputs a backend produces are compared (a baseline may lack some: its
    prepared outputs omit them); a passing result names the ones left unchecked."""
    unchecked = [name for name in reference if name not in outputs]
    result = {"max_abs_err": 0.0, "rel_err": 0.0, "passed": len(unchecked) < len(reference),
              "reason": f"not produced, not checked: {', '.join(unchecked)}" if unchecked else ""}
    for name, ref in ((n, r) for n, r in reference.items() if n in outputs):
        rel_tol, abs_tol = tolerance[name] if isinstance(tolerance, dict) else tolerance
        got = outputs[name].detach().to(device=ref.device, dtype=torch.float64)
        ref = ref.to(torch.float64)
        keep = (unwritten or {}).get(name)
        if keep is not None:  # where nothing may be written: the NaN poison must still be there
            keep = keep.to(ref.device).expand_as(ref)
            written = int((~torch.isnan(got[keep])).sum())
            if written:
                result.update(passed=False, max_abs_err=None, rel_err=None,
                              reason=f"{name}: {written} values written where nothing may be")
                break
            got, ref = got[~keep], ref[~keep]
        if not torch.isfinite(got).all():
            bad = int((~torch.isfinite(got) & (got != ref)).sum())  # NaN != anything
            if bad:
                result.update(passed=False, max_abs_err=None, rel_err=None,
                              reason=f"{name}: {bad} of {got.numel()} values are NaN or Inf")
                break
        finite = torch.isfinite(ref)
        if not finite.all():
            wrong = int((got[~finite] != ref[~finite]).sum())
            if wrong:
                result.update(passed=False, max_abs_err=None, rel_err=None,
                              reason=f"{name}: {wrong} finite values where the reference is infinite")
                break
            got, ref = got[finite], ref[finite]
        max_abs = (got - ref).abs().max().item() if got.numel() else 0.0
        scale = (ref.abs().max().item() if ref.numel() else 0.0) or 1.0  # all zeros: absolute (see above)
        ref_norm = torch.linalg.vector_norm(ref).item()
        rel = torch.linalg.vector_norm(got - ref).item() / ref_norm if ref_norm else max_abs
        result["max_abs_err"] = max(result["max_abs_err"], max_abs)
        result["rel_err"] = max(result["rel_err"], rel)
        if result["passed"] and rel > rel_tol:
            result.update(passed=False, reason=f"{name}: rel_err {rel:.2e} > {rel_tol:.0e}")
        elif result["passed"] and max_abs > abs_tol * scale:
            result.update(passed=False, reason=f"{name}: max_abs_err {max_abs:.2e} > {abs_tol:.0e} * max|ref| ({scale:.2e})")
    return result

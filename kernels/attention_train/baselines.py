"""Vendor baselines for attention_train: each vendor's forward (kernels/attention/baselines.py),
then its backward (kernels/attention_bwd/baselines.py), both stages or one (stage=).

The backward baselines run autograd through the vendor's own forward, built once per set of
input values outside the timed calls (see kernels/attention_bwd/baselines.py), so a whole step
times the vendor's forward once and its backward once. The math SDPA ("torch") writes no lse.
"""
from kernels.attention import baselines as forward
from kernels.attention_bwd import baselines as backward


def chain(name):
    """A host function for the step from the vendor's forward and backward baselines."""
    fwd, bwd = forward.BASELINES[name], backward.BASELINES[name]

    def step(q, k, v, do, o, lse, dq, dk, dv, causal, stage=None):
        if stage in (None, "forward"):
            fwd(q, k, v, o, lse, causal)
        if stage in (None, "backward"):
            bwd(q, k, v, o, lse, do, dq, dk, dv, causal)

    def unavailable(dtype, device):
        """The first half's reason it cannot run here, if either has one."""
        return next((part.unavailable(dtype, device) for part in (fwd, bwd)
                     if hasattr(part, "unavailable") and part.unavailable(dtype, device)), None)
    step.unavailable = unavailable
    if hasattr(fwd, "outputs"):
        step.outputs = (*fwd.outputs, "dq", "dk", "dv")
    return step


BASELINES = {name: chain(name) for name in ("sdpa-flash", "sdpa-cudnn", "flash-attn", "torch")}

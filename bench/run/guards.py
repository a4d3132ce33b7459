"""Honesty guards, for every backend alike (ours, the vendors', users'): a check a kernel cannot
pass by writing its inputs or by answering from a cache.

- Poison: every output the run writes is refilled with the poison it was made with before each
  call whose result is kept (spec.make_outputs: NaN, or a value no index can hold), so that an
  output written by an earlier call (another config, the compile call) cannot pass for this one.
- After the checked call, the inputs are compared with a copy taken before the first call: a
  kernel that writes its inputs fails.
- A second checked call in the same process, on other inputs (the same shape, another seed)
  copied into the same tensors, against their own float64 reference: a kernel that returns what
  it computed for the first call (cached by shape, by pointer, by tensor) fails. The tensors are
  then given their first values back, so that the timing runs on the case's own inputs.
(On a GPU the timing checks that the device had no work left the timed stream did not wait
for: bench/run/timing.py, stream_agreement.)
"""
import torch

SECOND_SEED = 7919  # the second call's inputs: the case's seed plus this


class Poison:
    """Snapshots of tensors as they were made (poisoned); calling it refills them."""

    def __init__(self, tensors):
        unique = list({id(t): t for t in tensors}.values())
        self.pairs = [(t, t.clone()) for t in unique]

    def __call__(self):
        for tensor, poison in self.pairs:
            tensor.copy_(poison)


def snapshot(tensors):
    """Copies of the tensors a run reads, taken before its first call."""
    return {name: t.clone() for name, t in tensors.items()}


def same(a, b):
    """Bit-for-bit equal values (NaN equal to NaN where both have it)."""
    if a.dtype.is_floating_point and a.element_size() == 1:  # fp8: its bytes (torch.equal has NaN != NaN)
        return torch.equal(a.view(torch.uint8), b.view(torch.uint8))
    if a.dtype.is_floating_point:
        both_nan = torch.isnan(a) & torch.isnan(b)
        return bool(((a == b) | both_nan).all())
    return torch.equal(a, b)


def written(tensors, copies):
    """The names of the tensors whose values are no longer their copies'."""
    return [name for name, t in tensors.items() if not same(t, copies[name])]


def written_reason(names):
    return (f"wrote its input{'s' if len(names) > 1 else ''} {', '.join(names)} (a kernel must leave its inputs as "
            "they were)")


def as_read(tensors, copies):
    """The copies in the dtypes the run reads them in (fp32 where emulated: exact)."""
    return {name: copies[name].to(t.dtype) for name, t in tensors.items()}


def restore(tensors, copies):
    """Give the tensors the copies' values back."""
    for name, tensor in tensors.items():
        tensor.copy_(copies[name])


def second_call(prepared, other_inputs, device):
    """Run the prepared kernel once more on `other_inputs` (copied into the tensors it reads),
    outputs poisoned first: (its outputs, cloned; the inputs it wrote). The tensors get their
    first values back after it, whatever happens."""
    originals = snapshot(prepared.inputs)
    try:
        restore(prepared.inputs, other_inputs)
        prepared.poison()
        prepared.run()
        if device == "cuda":
            torch.cuda.synchronize()
        wrote = written(prepared.inputs, as_read(prepared.inputs, other_inputs))
        return {name: out.clone() for name, out in prepared.outputs.items()}, wrote
    finally:
        restore(prepared.inputs, originals)

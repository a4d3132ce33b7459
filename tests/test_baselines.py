"""Vendor baselines whose conventions differ from ours are converted, never assumed."""
import math

import pytest
import torch

from kernels.sparse_mla import baselines as mla


def test_flashmla_lse_convention_is_detected_from_a_known_answer():
    truth = torch.tensor([[1.5, 7.25, -0.5]], dtype=torch.float64)
    assert mla.convention_of(truth.float(), truth) == "natural"  # FlashMLA since January 2026
    assert mla.convention_of((truth / math.log(2)).float(), truth) == "base2"  # before
    with pytest.raises(ValueError, match="neither natural-log nor base-2"):
        mla.convention_of(truth.float() * 1.1, truth)


def test_flashmla_lse_becomes_ours_and_an_empty_query_is_minus_infinity():
    theirs = torch.tensor([2.0, float("inf"), -1.0])  # +inf: FlashMLA's query without a valid key
    ours = mla.natural_lse(theirs, "base2")
    assert torch.allclose(ours[[0, 2]], torch.tensor([2.0, -1.0]) * math.log(2))
    assert ours[1] == float("-inf")
    assert torch.equal(mla.natural_lse(theirs, "natural")[[0, 2]], theirs[[0, 2]])

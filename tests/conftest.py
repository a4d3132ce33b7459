"""Shared test setup: without a GPU, Triton kernels run in its interpreter.

TRITON_INTERPRET is read when @triton.jit decorates, so it is set here, before any test
module imports a kernel."""
import os

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def device():
    return DEVICE

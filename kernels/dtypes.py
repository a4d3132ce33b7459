"""The dtypes every op is checked in, by the short names the CLI and the result files use."""
import torch

# e4m3 is the "fn" variant both GPUs and torch use: no infinities, largest finite value 448.
TORCH = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "e4m3": torch.float8_e4m3fn}
TILELANG = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "e4m3": "float8_e4m3fn"}
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "e4m3": 1}


def round_to(x, dtype, storage=torch.float32):
    """Round x to `dtype` and hand it back in wider `storage`: how a CPU path that lacks
    `dtype` still computes on exactly the values a GPU would see (labelled `emulated`)."""
    return x.to(TORCH[dtype]).to(storage)

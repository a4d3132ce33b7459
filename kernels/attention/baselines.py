"""Vendor baselines for attention: torch SDPA pinned to one backend per row, flash-attn, math SDPA.

- "sdpa-flash", "sdpa-cudnn": F.scaled_dot_product_attention inside sdpa_kernel(<that backend>)
  only, so a row never silently falls back to another kernel; GPU only, fp16/bf16.
- "flash-attn": flash_attn_func (FlashAttention-2) when the package imports; fp16/bf16.
- "flash-kvcache": flash_attn_with_kvcache, flash-attn's decode entry (split-KV, grouped
  heads packed), for decode steps (spec.shape_class "decode"); fp16/bf16, GPU, when installed.
- "torch": the math SDPA (plain matmul-softmax-matmul), which runs on the CPU too; given
  our mask explicitly when its own causal flag would place it differently.
Grouped-query heads go in as they are: enable_gqa=True for SDPA, and flash-attn takes
Hkv < Hq natively, so no backend is timed copying k and v per query head.
SDPA returns o only (outputs = ("o",)): only o is checked for those rows; flash-attn also
returns the row log-sum-exp, so it is checked on both. SDPA and flash-attn allocate their
own o (flash-attn in (B, S, H, D) order), so the timed call ends with one copy into ours.
SDPA's is_causal aligns the mask to the top-left; ours is aligned to the end (see spec.py),
which is the same when Sq = Skv, and for Sq = 1 is no mask at all; other causal Sq != Skv
cases are skipped for the fused SDPA rows rather than checked against a different mask.
Queries that see no key (causal, Sq > Skv): flash-attn writes o = 0 and lse = +inf itself,
as the spec defines them; the math SDPA row gets our mask and its rows without a key are set
to 0 explicitly (torch versions differ on what a softmax over no key gives).
"""
import importlib.util

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from kernels import Skip
from kernels.attention.spec import shape_class, visible

# The math SDPA materializes every score: beyond this many (fp32, 4 GiB) it is skipped.
MATH_MAX_SCORES = 1 << 30


def sdpa_causal(q, k, causal):
    """SDPA's is_causal for our end-aligned mask, or Skip when SDPA cannot express it."""
    Sq, Skv = q.shape[2], k.shape[2]
    if not causal or Sq == 1:
        return False
    if Sq != Skv:
        raise Skip("SDPA's causal mask is top-left aligned; ours is end-aligned (equal only when Sq = Skv or Sq = 1)")
    return True


def sdpa(backend):
    def run(q, k, v, o, lse, causal):
        is_causal = sdpa_causal(q, k, causal)
        try:
            with sdpa_kernel(backend):
                o.copy_(F.scaled_dot_product_attention(q, k, v, is_causal=is_causal, enable_gqa=k.shape[1] != q.shape[1]))
        except RuntimeError as exc:  # this torch's gate refused the case (e.g. GQA on old cuDNN)
            if "No available kernel" not in str(exc):
                raise
            raise Skip(f"{backend.name} SDPA refuses this case in torch {torch.__version__}") from exc
    run.outputs = ("o",)
    run.unavailable = lambda dtype, device: (
        "a GPU baseline (no CUDA device here)" if device != "cuda"
        else f"{backend.name} SDPA runs fp16/bf16 only" if dtype == "fp32" else None)
    return run


def flash_attn(q, k, v, o, lse, causal):
    from flash_attn import flash_attn_func

    # flash-attn works in (B, S, H, D); transposed views keep the last dim contiguous.
    out, softmax_lse, _ = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                          causal=bool(causal), return_attn_probs=True)
    o.copy_(out.transpose(1, 2))
    lse.copy_(softmax_lse[..., :q.shape[2]])  # (B, Hq, Sq); some versions pad the rows


def flash_attn_unavailable(dtype, device):
    if device != "cuda":
        return "a GPU baseline (no CUDA device here)"
    if importlib.util.find_spec("flash_attn") is None:
        return "flash-attn is not installed"
    return "flash-attn runs fp16/bf16 only" if dtype == "fp32" else None


flash_attn.unavailable = flash_attn_unavailable


def flash_attn_kvcache(q, k, v, o, lse, causal):
    """flash_attn_with_kvcache over the whole cache (no new keys appended): a decode step."""
    from flash_attn import flash_attn_with_kvcache

    B, Hq, Sq, D = q.shape
    if shape_class(dict(B=B, Hq=Hq, Hkv=k.shape[1], Sq=Sq, Skv=k.shape[2], D=D, causal=int(causal))) != "decode":
        raise Skip("flash_attn_with_kvcache is flash-attn's decode entry: decode steps only")
    out, softmax_lse = flash_attn_with_kvcache(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               causal=bool(causal), return_softmax_lse=True)
    o.copy_(out.transpose(1, 2))
    lse.copy_(softmax_lse[..., :Sq])


flash_attn_kvcache.unavailable = flash_attn_unavailable


def torch_math(q, k, v, o, lse, causal):
    """The math SDPA; an end-aligned causal mask it cannot express is passed as attn_mask."""
    B, Hq, Sq, _ = q.shape
    Skv = k.shape[2]
    if B * Hq * Sq * Skv > MATH_MAX_SCORES:
        raise Skip(f"the math SDPA would hold {B * Hq * Sq * Skv:,} scores at once")
    mask = visible(Sq, Skv, causal, device=q.device) if causal and 1 < Sq != Skv else None
    with sdpa_kernel(SDPBackend.MATH):
        o.copy_(F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None and Sq > 1,
                                               enable_gqa=k.shape[1] != Hq))
    if mask is not None and Sq > Skv:  # queries that see no key: o = 0, as the spec defines
        o[:, :, ~mask.any(dim=-1)] = 0


torch_math.outputs = ("o",)

BASELINES = {
    "sdpa-flash": sdpa(SDPBackend.FLASH_ATTENTION),
    "sdpa-cudnn": sdpa(SDPBackend.CUDNN_ATTENTION),
    "flash-attn": flash_attn,
    "flash-kvcache": flash_attn_kvcache,
    "torch": torch_math,
}

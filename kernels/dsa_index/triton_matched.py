"""DeepSeek Sparse Attention's lightning indexer in Triton: FP8 logits, ReLU, weighted head sum.

Track: matched (README: two tracks), the same code path as kernels/dsa_index/tilelang_matched.py:
cp.async loads (Triton's pipeliner), the same sizes handling, the same thread count. Each
program scores one query against one chunk of chunk_N keys: the query's H x D tile stays on
chip while the chunk's keys stream through a num_stages-deep pipeline, block_N at a time;
one FP8 dot per step gives the block_N x H logits (keys as the MMA's M, heads as its N),
which are ReLU'd, weighted by w and summed along the row, then scaled by ks. A chunk the
query cannot see at all is never loaded: it is written as -inf; in the chunk on the diagonal
every block is scored and the keys past the diagonal are set to -inf (TileLang 0.1.15 cannot
pipeline a loop whose trip count depends on the program, so neither kernel stops early).

SASS on sm_90a: cp.async, QGMMA 64x64, no spills. Not: TMA load.
"""
import triton
import triton.language as tl

from kernels.dsa_index.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)


@triton.jit
def dsa_index_kernel(
    # pointers to q (B, Sq, H, D), w (B, Sq, H), k (B, Skv, D), ks (B, Skv), score (B, Sq, Skv)
    q_ptr, w_ptr, k_ptr, ks_ptr, score_ptr,
    # problem size: any Sq, Skv >= 1
    Sq, Skv,
    # strides, in elements
    stride_qb, stride_qs, stride_qh, stride_qd, stride_wb, stride_ws, stride_wh,
    stride_kb, stride_ks, stride_kd, stride_sb, stride_ss,
    stride_ob, stride_os, stride_on,
    # sizes and tile sizes
    H: tl.constexpr, D: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK_N: tl.constexpr,
):
    """score[i, s] = ks[s] · Σ_h w[i, h] · ReLU(q[i, h]·k[s]) for s <= i + Skv - Sq, else -inf."""
    i = tl.program_id(0)
    chunk = tl.program_id(1)
    b = tl.program_id(2)
    offs_h = tl.arange(0, H)
    offs_d = tl.arange(0, D)
    offs_n = tl.arange(0, BLOCK_N)
    k_ptrs = k_ptr + b * stride_kb + offs_n[:, None] * stride_ks + offs_d[None, :] * stride_kd
    ks_ptrs = ks_ptr + b * stride_sb + offs_n * stride_ss
    # Sq·Skv scores reach 2^31 at 46k x 46k: the row offset in 64 bits.
    out_ptrs = score_ptr + b.to(tl.int64) * stride_ob + i.to(tl.int64) * stride_os + offs_n * stride_on

    start = chunk * CHUNK_N
    seen = i + Skv - Sq + 1  # query i sees keys 0 .. seen-1 (none when seen <= 0)
    if seen > start:  # a key of the chunk is visible: every block of it, masked
        # q as its transpose, D x H with D contiguous: the K-major B operand FP8 MMAs want.
        qt = tl.load(q_ptr + b * stride_qb + i * stride_qs + offs_h[None, :] * stride_qh + offs_d[:, None] * stride_qd)
        w = tl.load(w_ptr + b * stride_wb + i * stride_ws + offs_h * stride_wh)
        for n in range(start, start + CHUNK_N, BLOCK_N):
            keys = n + offs_n
            k = tl.load(k_ptrs + n * stride_ks, mask=keys[:, None] < Skv, other=0.0)
            ks = tl.load(ks_ptrs + n * stride_ss, mask=keys < Skv, other=0.0)
            logits = tl.dot(k, qt)  # block_N x H, fp32
            s = tl.sum(tl.maximum(logits, 0.0) * w[None, :], axis=1) * ks
            s = tl.where(keys < seen, s, float("-inf"))
            tl.store(out_ptrs + n * stride_on, s, mask=keys < Skv)
    else:  # a chunk wholly past the diagonal: -inf, no load
        hidden = tl.full((BLOCK_N,), float("-inf"), tl.float32)
        for n in range(start, start + CHUNK_N, BLOCK_N):
            tl.store(out_ptrs + n * stride_on, hidden, mask=n + offs_n < Skv)


def dsa_index(q, w, k, ks, score, block_N, chunk_N, num_stages, threads):
    """score = the indexer's scores into the preallocated score, with one shared config."""
    return launch(dsa_index_kernel, q, w, k, ks, score, block_N, chunk_N, num_stages, threads)


def launch(kernel, q, w, k, ks, score, block_N, chunk_N, num_stages, threads):
    """The wrapper, with the @triton.jit kernel it launches given (kernels/dsa_step chains it
    under its own module's name for it)."""
    B, Sq, H, D = q.shape
    Skv = k.shape[1]
    assert w.shape == (B, Sq, H) and k.shape == (B, Skv, D) and ks.shape == (B, Skv), "shapes do not match"
    assert score.shape == (B, Sq, Skv), "score must be (B, Sq, Skv)"
    assert chunk_N % block_N == 0, "a chunk is a whole number of key blocks"
    # Queries along x (no 65535 limit); neighbours read the same key chunk, from L2.
    grid = (Sq, triton.cdiv(Skv, chunk_N), B)
    kernel[grid](
        q, w, k, ks, score, Sq, Skv,
        *q.stride(), *w.stride(), *k.stride(), *ks.stride(), *score.stride(),
        H=H, D=D, BLOCK_N=block_N, CHUNK_N=chunk_N,
        num_warps=threads // 32, num_stages=num_stages,
    )
    return score

"""DeepSeek Sparse Attention's lightning indexer in Triton, best track: a query block per program.

Track: best (README: two tracks). Techniques, as DeepSeek's own indexer kernels use them
(DeepGEMM's fp8_mqa_logits; TileLang's examples/deepseek_v32 fp8_lighting_indexer):
- block_Q = 128 / H queries per program (spec.queries_per_block): their H heads each make the
  FP8 MMA's N 128 wide (queries x heads), so each key block is read once per query block
  instead of once per query; block_N keys (256 on four warpgroups) are the MMA's M, D its K.
- TMA: the query block and the key blocks come through tensor descriptors over the
  flattened (B*Sq*H, D) and (B*Skv, D) views, software-pipelined num_stages deep; rows past
  a sequence's end belong to the next one (or are zero past the tensor) and are never stored.
- The per-(key, query) sum over heads: ReLU(logits) * w, viewed as block_N x block_Q x H and
  summed over H, times ks; -inf past each query's diagonal (end-aligned causal mask). Key
  blocks no query of the block sees are written as -inf without a load.
- Decode (1-4 queries over a long cache): spec.key_split cuts the keys into chunks, one
  program each, so that a small batch still fills the GPU; scores of different keys are
  independent, no combine.

SASS on sm_90a: TMA load, QGMMA 64x128, no spills, 1 kernel.
"""
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from kernels.dsa_index.spec import CONFIGS, key_split, queries_per_block  # noqa: F401  (CONFIGS: shared)


@triton.jit
def dsa_index_kernel(
    # q as (B*Sq*H, D) and k as (B*Skv, D) tensor descriptors; w (B, Sq, H), ks (B, Skv), score (B, Sq, Skv)
    q_desc, k_desc, w_ptr, ks_ptr, score_ptr,
    # problem size: any Sq, Skv >= 1; each program scores the keys of one chunk
    Sq, Skv,
    # strides, in elements
    stride_wb, stride_ws, stride_wh, stride_sb, stride_ss,
    stride_ob, stride_os, stride_on,
    # sizes and tile sizes
    H: tl.constexpr, D: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_N: tl.constexpr, CHUNK_N: tl.constexpr,
):
    """score[i, s] = ks[s] * sum_h w[i, h] * ReLU(q[i, h].k[s]) for s <= i + Skv - Sq, else -inf,
    for the block_Q queries i of this program and the keys s of its chunk."""
    q0 = tl.program_id(0) * BLOCK_Q
    chunk = tl.program_id(1)
    b = tl.program_id(2)
    offs_q = tl.arange(0, BLOCK_Q)
    offs_n = tl.arange(0, BLOCK_N)
    queries = q0 + offs_q
    # the query block, (block_Q * H) x D, transposed: the K-major B operand FP8 MMAs want
    qt = tl.trans(q_desc.load([(b * Sq + q0) * H, 0]))
    offs_qh = tl.arange(0, BLOCK_Q * H)
    w = tl.load(w_ptr + b * stride_wb + (q0 + offs_qh // H) * stride_ws + (offs_qh % H) * stride_wh,
                mask=q0 + offs_qh // H < Sq, other=0.0)
    ks_ptrs = ks_ptr + b * stride_sb + offs_n * stride_ss
    # Sq*Skv scores reach 2^31 at 46k x 46k: the row offsets in 64 bits.
    out_ptrs = (score_ptr + b.to(tl.int64) * stride_ob + queries[None, :].to(tl.int64) * stride_os
                + offs_n[:, None] * stride_on)

    start = chunk * CHUNK_N
    end = tl.minimum(start + CHUNK_N, Skv)
    seen = queries + Skv - Sq + 1  # query i sees keys 0 .. seen_i - 1 (none when seen_i <= 0)
    last = tl.minimum(q0 + BLOCK_Q, Sq) - 1 + Skv - Sq + 1  # the block's last query sees the most
    computed = tl.maximum(tl.minimum(end, last) - start, 0)
    for n in tl.range(start, start + computed, BLOCK_N):
        keys = n + offs_n
        k = k_desc.load([b * Skv + n, 0])
        ks = tl.load(ks_ptrs + n * stride_ss, mask=keys < Skv, other=0.0)
        logits = tl.dot(k, qt)  # block_N x (block_Q * H), fp32
        weighted = tl.reshape(tl.maximum(logits, 0.0) * w[None, :], (BLOCK_N, BLOCK_Q, H))
        s = tl.sum(weighted, axis=2) * ks[:, None]  # block_N x block_Q
        s = tl.where(keys[:, None] < seen[None, :], s, float("-inf"))
        tl.store(out_ptrs + n * stride_on, s, mask=(keys[:, None] < end) & (queries[None, :] < Sq))
    # Blocks past every query's diagonal: -inf, no load.
    first_hidden = start + tl.cdiv(computed, BLOCK_N) * BLOCK_N
    hidden = tl.full((BLOCK_N, BLOCK_Q), float("-inf"), tl.float32)
    for n in range(first_hidden, end, BLOCK_N):
        tl.store(out_ptrs + n * stride_on, hidden, mask=(n + offs_n[:, None] < end) & (queries[None, :] < Sq))


def dsa_index(q, w, k, ks, score, block_N, num_stages, threads):
    """score = the indexer's scores into the preallocated score, with one shared config."""
    return launch(dsa_index_kernel, q, w, k, ks, score, block_N, num_stages, threads)


def launch(kernel, q, w, k, ks, score, block_N, num_stages, threads):
    """The wrapper, with the @triton.jit kernel it launches given (kernels/dsa_step chains it
    under its own module's name for it)."""
    B, Sq, H, D = q.shape
    Skv = k.shape[1]
    assert w.shape == (B, Sq, H) and k.shape == (B, Skv, D) and ks.shape == (B, Skv), "shapes do not match"
    assert score.shape == (B, Sq, Skv), "score must be (B, Sq, Skv)"
    assert q.is_contiguous() and k.is_contiguous(), "q and k are read through 2-D tensor descriptors"
    block_Q = queries_per_block(H)
    chunks, chunk_N = key_split(dict(B=B, Sq=Sq, Skv=Skv, H=H), block_N)
    q_desc = TensorDescriptor.from_tensor(q.view(B * Sq * H, D), [block_Q * H, D])
    k_desc = TensorDescriptor.from_tensor(k.view(B * Skv, D), [block_N, D])
    grid = (triton.cdiv(Sq, block_Q), chunks, B)  # query blocks along x: no 65535 limit
    kernel[grid](
        q_desc, k_desc, w, ks, score, Sq, Skv,
        *w.stride(), *ks.stride(), *score.stride(),
        H=H, D=D, BLOCK_Q=block_Q, BLOCK_N=block_N, CHUNK_N=chunk_N,
        num_warps=threads // 32, num_stages=num_stages,
    )
    return score

"""DeepSeek Sparse Attention's lightning indexer in TileLang: FP8 logits, ReLU, weighted head sum.

Track: matched (README: two tracks), the same code path as kernels/dsa_index/triton_matched.py:
cp.async loads issued by every thread (PASS_CONFIGS: no TMA, no producer warpgroup), the same
sizes handling, the same thread count. Each block scores one query against one chunk of
chunk_N keys: the query's H x D tile stays in shared memory while the chunk's keys stream
through a num_stages-deep pipeline (T.Pipelined), block_N at a time; one FP8 gemm per step
gives the block_N x H logits (keys as the MMA's M, heads as its N), which are ReLU'd, weighted
by w and reduced along the row, then scaled by ks. A chunk the query cannot see at all is
never loaded: it is written as -inf; in the chunk on the diagonal every block is scored and
the keys past the diagonal are set to -inf. T.copy zero-fills loads past Skv and clips the
stores.

SASS on sm_90a: cp.async, QGMMA 64x64, no spills. Not: TMA load.
"""
import tilelang.language as T

from kernels.dsa_index.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)

# The matched track's code path (README: two tracks): asynchronous copies (cp.async) issued by
# every thread, as Triton's pipeliner does, no TMA and no producer warpgroup; as DeepSeek's
# inference/kernel.py ships its TileLang kernels.
PASS_CONFIGS = {"tl.disable_tma_lower": True, "tl.disable_warp_specialized": True}


def dsa_index_kernel(B, Sq, Skv, H, D, dtype, block_N, chunk_N, num_stages, threads):
    """Return the prim_func (q, w, k, ks) -> score for one shape, dtype and config:
    score[i, s] = ks[s] · Σ_h w[i, h] · ReLU(q[i, h]·k[s]) for s <= i + Skv - Sq, else -inf.

    dtype is q's and k's format, "float8_e4m3fn"; on the C backend, which has no FP8 type,
    "float32" (values already rounded: the harness's emulation)."""
    accum = "float32"
    blocks = chunk_N // block_N  # a static count: TileLang 0.1.15 cannot pipeline (cp.async) a
    # loop whose trip count depends on the program (its epilogue's waits must be constants)
    # finding: findings/tilelang_pipelined_dynamic_trip_count.py

    @T.prim_func
    def dsa_index(
        Q: T.Tensor((B, Sq, H, D), dtype),
        W: T.Tensor((B, Sq, H), accum),
        K: T.Tensor((B, Skv, D), dtype),
        KS: T.Tensor((B, Skv), accum),
        Score: T.Tensor((B, Sq, Skv), accum),
    ):
        # Queries along x (no 65535 limit); neighbours read the same key chunk, from L2.
        with T.Kernel(Sq, T.ceildiv(Skv, chunk_N), B, threads=threads) as (bx, by, bz):
            Q_shared = T.alloc_shared((H, D), dtype)
            K_shared = T.alloc_shared((block_N, D), dtype)
            w_frag = T.alloc_fragment((H,), accum)
            ks_shared = T.alloc_shared((block_N,), accum)
            logits = T.alloc_fragment((block_N, H), accum)
            score = T.alloc_fragment((block_N,), accum)

            start = by * chunk_N
            seen = bx + Skv - Sq + 1  # query bx sees keys 0 .. seen - 1 (none when seen <= 0)
            if seen > start:  # a key of the chunk is visible: every block of it, masked
                T.copy(Q[bz, bx, 0, 0], Q_shared)
                T.copy(W[bz, bx, 0], w_frag)
                for t in T.Pipelined(blocks, num_stages=num_stages):
                    T.copy(K[bz, start + t * block_N, 0], K_shared)  # zero-filled past Skv
                    T.copy(KS[bz, start + t * block_N], ks_shared)
                    # FullRow: warpgroups split the keys (64 each), as Triton lays the dot out
                    T.gemm(K_shared, Q_shared, logits, transpose_B=True, clear_accum=True,
                           policy=T.GemmWarpPolicy.FullRow)
                    for n, h in T.Parallel(block_N, H):
                        logits[n, h] = T.max(logits[n, h], 0) * w_frag[h]
                    T.reduce_sum(logits, score, dim=1)
                    for n in T.Parallel(block_N):
                        key = start + t * block_N + n
                        score[n] = T.if_then_else(key < seen, score[n] * ks_shared[n], -T.infinity(accum))
                    T.copy(score, Score[bz, bx, start + t * block_N])  # clipped past Skv
            else:  # a chunk wholly past the diagonal: -inf, no load
                for t in T.serial(blocks):
                    for n in T.Parallel(block_N):
                        score[n] = -T.infinity(accum)
                    T.copy(score, Score[bz, bx, start + t * block_N])

    return dsa_index

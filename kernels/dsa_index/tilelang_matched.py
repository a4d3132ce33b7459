"""DeepSeek Sparse Attention's lightning indexer in TileLang: FP8 logits, ReLU, weighted head sum.

The same algorithm as kernels/dsa_index/triton_matched.py. Each block scores one query against one
chunk of chunk_N keys: the query's H x D tile stays in shared memory while the chunk's keys
stream through a num_stages-deep pipeline (T.Pipelined), block_N at a time; one FP8 gemm per
step gives the block_N x H logits (keys as the MMA's M, heads as its N), which are ReLU'd,
weighted by w and reduced along the row, then scaled by ks. Key blocks the query cannot see
are never loaded: they are written as -inf, as are the masked keys of the block on the
diagonal. T.copy zero-fills the ragged last key block and clips the stores.
"""
import tilelang.language as T

from kernels.dsa_index.spec import CONFIGS  # noqa: F401  (the config list both DSLs share)


def dsa_index_kernel(B, Sq, Skv, H, D, dtype, block_N, chunk_N, num_stages, threads):
    """Return the prim_func (q, w, k, ks) -> score for one shape, dtype and config:
    score[i, s] = ks[s] · Σ_h w[i, h] · ReLU(q[i, h]·k[s]) for s <= i + Skv - Sq, else -inf.

    dtype is q's and k's format, "float8_e4m3fn"; on the C backend, which has no FP8 type,
    "float32" (values already rounded: the harness's emulation)."""
    accum = "float32"

    def chunk_blocks(start):  # key blocks in the chunk (the last chunk may be short)
        return T.ceildiv(T.min(start + chunk_N, Skv) - start, block_N)

    def computed_blocks(i, start):  # of those, the blocks holding a key query i sees
        seen = T.min(T.min(start + chunk_N, Skv), i + Skv - Sq + 1)
        return T.max(T.ceildiv(seen - start, block_N), 0)

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
            # ks goes through shared memory: with a fragment, TileLang's warp-specialized
            # pipeline loads it in the producer warps and the consumers never see it.
            ks_shared = T.alloc_shared((block_N,), accum)
            logits = T.alloc_fragment((block_N, H), accum)
            score = T.alloc_fragment((block_N,), accum)

            T.copy(Q[bz, bx, 0, 0], Q_shared)
            T.copy(W[bz, bx, 0], w_frag)
            start = by * chunk_N
            computed = computed_blocks(bx, start)
            for t in T.Pipelined(computed, num_stages=num_stages):
                T.copy(K[bz, start + t * block_N, 0], K_shared)
                T.copy(KS[bz, start + t * block_N], ks_shared)
                T.gemm(K_shared, Q_shared, logits, transpose_B=True, clear_accum=True)
                for n, h in T.Parallel(block_N, H):
                    logits[n, h] = T.max(logits[n, h], 0) * w_frag[h]
                T.reduce_sum(logits, score, dim=1)
                for n in T.Parallel(block_N):
                    key = start + t * block_N + n
                    score[n] = T.if_then_else(key <= bx + Skv - Sq, score[n] * ks_shared[n], -T.infinity(accum))
                T.copy(score, Score[bz, bx, start + t * block_N])
            # Blocks wholly past the diagonal: -inf, no load.
            for t in T.serial(computed, chunk_blocks(start)):
                for n in T.Parallel(block_N):
                    score[n] = -T.infinity(accum)
                T.copy(score, Score[bz, bx, start + t * block_N])

    return dsa_index

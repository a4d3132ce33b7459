"""DeepSeek Sparse Attention's lightning indexer in TileLang, best track: a query block per program.

Track: best (README: two tracks). Techniques, as DeepSeek's own indexer kernels use them
(TileLang's examples/deepseek_v32 fp8_lighting_indexer, DeepGEMM's fp8_mqa_logits):
- block_Q = 128 / H queries per program (spec.queries_per_block): their H heads each make the
  FP8 MMA's N 128 wide (queries x heads), so each key block is read once per query block
  instead of once per query; block_N keys (256 on four warpgroups) are the MMA's M, D its K.
- TileLang's default CUDA lowering of the T.Pipelined loop: TMA loads issued by a producer
  warpgroup it adds on top of `threads`, mbarriers, num_stages key buffers.
- The per-(key, query) sum over heads: ReLU(logits) * w, viewed as block_N x block_Q x H and
  reduced over H, times ks, which the threads storing the scores read from global memory (a
  TMA copy of it through the pipeline needs 16-byte aligned rows, Skv % 4 == 0; when they are
  not, TileLang's producer becomes as wide as the consumers: 1024 threads, which ptxas
  refuses); -inf past each query's diagonal (end-aligned causal mask). Key blocks no query of
  the block sees are written as -inf without a load.
- Decode (1-4 queries over a long cache): spec.key_split cuts the keys into chunks, one
  program each, so that a small batch still fills the GPU; no combine is needed.

SASS on sm_90a: TMA load, warp specialization, setmaxnreg, QGMMA 64x128, no spills, 1 kernel.
"""
import tilelang.language as T

from kernels.dsa_index.spec import CONFIGS, key_split, queries_per_block  # noqa: F401  (CONFIGS: shared)


PRODUCER_REGISTERS = 24  # the producer warpgroup only issues TMA copies


def consumer_registers(threads):
    """The consumers' share of the 64K-register file once the 128-thread producer keeps
    PRODUCER_REGISTERS: a multiple of 8, at most 240 (setmaxnreg's ceiling)."""
    return min(240, (65536 - 128 * PRODUCER_REGISTERS) // threads // 8 * 8)


def dsa_index_kernel(B, Sq, Skv, H, D, dtype, block_N, num_stages, threads):
    """Return the prim_func (q, w, k, ks) -> score for one shape, dtype and config:
    score[i, s] = ks[s] * sum_h w[i, h] * ReLU(q[i, h].k[s]) for s <= i + Skv - Sq, else -inf.

    dtype is q's and k's format, "float8_e4m3fn"; on the C backend, which has no FP8 type,
    "float32" (values already rounded: the harness's emulation)."""
    accum = "float32"
    block_Q = queries_per_block(H)
    chunks, chunk_N = key_split(dict(B=B, Sq=Sq, Skv=Skv, H=H), block_N)

    @T.prim_func
    def dsa_index(
        Q: T.Tensor((B, Sq, H, D), dtype),
        W: T.Tensor((B, Sq, H), accum),
        K: T.Tensor((B, Skv, D), dtype),
        KS: T.Tensor((B, Skv), accum),
        Score: T.Tensor((B, Sq, Skv), accum),
    ):
        # Query blocks along x (no 65535 limit); the chunks of one block read disjoint keys.
        with T.Kernel(T.ceildiv(Sq, block_Q), chunks, B, threads=threads) as (bx, by, bz):
            Q_shared = T.alloc_shared((block_Q * H, D), dtype)
            K_shared = T.alloc_shared((block_N, D), dtype)
            w_frag = T.alloc_fragment((block_Q, H), accum)
            logits = T.alloc_fragment((block_N, block_Q * H), accum)
            score = T.alloc_fragment((block_N, block_Q), accum)

            # TileLang's warp-specialized lowering adds a producer warpgroup; at 640 threads it
            # sets no register budgets by itself (its default layout is 384): say them, a
            # producer down to 24 registers and the consumers up to what that frees.
            T.annotate_producer_reg_dealloc(PRODUCER_REGISTERS)
            T.annotate_consumer_reg_alloc(consumer_registers(threads))
            q0 = bx * block_Q
            for q in T.serial(block_Q):  # one query's H x D rows at a time (a query past Sq: zeros)
                T.copy(Q[bz, T.min(q0 + q, Sq - 1), 0, 0], Q_shared[q * H:(q + 1) * H, :])
            for q, h in T.Parallel(block_Q, H):
                w_frag[q, h] = T.if_then_else(q0 + q < Sq, W[bz, T.min(q0 + q, Sq - 1), h], 0)
            start = by * chunk_N
            end = T.min(start + chunk_N, Skv)
            last = T.min(q0 + block_Q, Sq) + Skv - Sq  # keys the block's last query sees
            computed = T.max(T.ceildiv(T.min(end, last) - start, block_N), 0)
            for t in T.Pipelined(computed, num_stages=num_stages):
                T.copy(K[bz, start + t * block_N, 0], K_shared)
                # FullRow: each warpgroup holds 64 keys x all queries' heads, so the sum over
                # heads stays inside a thread and its quad.
                T.gemm(K_shared, Q_shared, logits, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
                for n, q in T.Parallel(block_N, block_Q):
                    score[n, q] = 0
                for n, qh in T.Parallel(block_N, block_Q * H):
                    logits[n, qh] = T.max(logits[n, qh], 0) * w_frag[qh // H, qh % H]
                T.reduce_sum(T.reshape(logits, (block_N, block_Q, H)), score, dim=2)
                for n, q in T.Parallel(block_N, block_Q):
                    key = start + t * block_N + n
                    if (key < end) & (q0 + q < Sq):
                        Score[bz, q0 + q, key] = T.if_then_else(key <= q0 + q + Skv - Sq, score[n, q] * KS[bz, key],
                                                                -T.infinity(accum))
            # Blocks past every query's diagonal: -inf, no load.
            for t in T.serial(computed, T.ceildiv(end - start, block_N)):
                for n, q in T.Parallel(block_N, block_Q):
                    key = start + t * block_N + n
                    if (key < end) & (q0 + q < Sq):
                        Score[bz, q0 + q, key] = -T.infinity(accum)

    return dsa_index

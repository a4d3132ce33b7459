"""Sparse MLA forward in TileLang, best track: FlashMLA's schedule, warp-specialized.

Track: best (README: two tracks). Techniques, as DeepSeek's sparse prefill kernels use them
(FlashMLA's sm90 sparse prefill; TileLang's examples/deepseek_v32 `sparse_mla_fwd_pipelined`):
- Three warpgroups per program (`threads` = the two consumers, plus a producer): the producer
  gathers the top-k kv rows (576 wide) into a ring of num_stages shared buffers and signals
  each with an mbarrier; consumer 0 computes the 64 x block_N scores (the whole score MMA,
  once: 576 / 16 = 36 HGMMA of 64 x block_N per key block), the online softmax and the left
  256 value columns (P from registers); it hands P and the rescale factor to consumer 1
  through shared memory, which accumulates the right 256 columns. Nothing is computed twice.
- Register budgets split by setmaxnreg (REGISTERS): consumer 0 holds the scores and half of
  O, consumer 1 only half of O, the producer only addresses.
- q (64 heads x 576) is loaded once per program; a key buffer is released by both consumers
  (one mbarrier) before the producer refills it, P by consumer 1 before consumer 0 rewrites it.
- Decode (few queries x 64-head tiles, fewer programs than SMs): each query's top-k slots are
  cut into splits (spec.topk_split); each program writes its normalized partial output and
  log-sum-exp into the workspace and a second kernel of the same prim_func combines them.

How it is written, and what TileLang 0.1.15 takes:
- Each role is a `with T.ws(warpgroup):` section with its own loop over the key blocks; the
  roles meet only at mbarriers, so TileLang's automatic __syncthreads is off (PASS_CONFIGS)
  and the few barriers a role needs are explicit. The producer's section comes last: ptxas
  ignores every setmaxnreg when code that must run under a higher budget follows a lowered
  one on some path ("setmaxnreg ignored to maintain minimum register requirements"), and the
  sections are sequential ifs to it.
- The gather is cp.async, written out with T.ptx_cp_async (TileLang 0.1.15 has no gather form
  of T.async_copy), as TileLang's own sparse_mla_fwd_pipelined example issues it: 8 producer
  threads per kv row, 16 bytes each per 64 columns, each thread's copies arriving on the
  buffer's mbarrier as they land (cp.async.mbarrier.arrive.noinc); consumer 0 fences the async
  proxy after the wait, before the MMAs read the buffer.
- q arrives by TMA (three loads on one mbarrier, heads past H zero-filled); at prefill each
  consumer rounds its half of o into the q buffer it no longer reads and stores it by TMA
  (heads past H clipped); the decode splits' fp32 partials leave by plain stores.
- A key buffer is chosen by a Python int, one branch per buffer in each step: TileLang 0.1.15
  drops a variable leading index from an MMA operand (T.gemm(A, B[t % 2, :, :], C) reads B[0]).
- On TileLang's C backend (the CPU check) bench/run/tilelang_cpu.py runs the program as one
  thread: the roles' loops fused step by step, the barriers and register budgets no-ops. The
  same math is checked on the CPU; the barrier protocol only on a GPU.

Scores are kept in base 2 (scale * log2(e) folded in once); unused slots (-1, or >= Skv)
gather a real row (the index clamped into range) whose score is -inf, so its weight is 0.

SASS on sm_90a: warp specialization, setmaxnreg, HGMMA 64x256, cp.async, TMA load, TMA store, stmatrix,
no spills, 1 kernel.
"""
import tilelang.language as T

from kernels.sparse_mla.spec import (BLOCK_H, CONFIGS, D_ROPE, D_V, decode_workspace, default_scale,  # noqa: F401
                                    topk_split)

LOG2E = 1.4426950408889634  # log2(e): exp(x) = exp2(x * log2(e))
LN2 = 0.6931471805599453  # ln(2): the base-2 log-sum-exp back to natural log
# Floor of the max an exponent is taken against: keeps exp2(-inf - m) a clean 0 (never
# exp2(NaN)) while no slot so far is valid and the running max is still -inf.
M_FLOOR = -1e30
HALF = D_V // 2  # the value columns each consumer warpgroup accumulates
WARPGROUP = 128
# Registers per thread after setmaxnreg (multiples of 8; 240 + 168 + 96 = 3 * 168, the pool
# of a 384-thread program):
# consumer 0 holds the 64 x block_N fp32 scores and 64 x 256 fp32 of O (160 registers for
# those alone), consumer 1 its 64 x 256 of O, the producer addresses only (at 96 it spills a
# few bytes with block_N = 64; consumer 0 spills below 240).
REGISTERS = {"scores": 240, "values": 168, "producer": 96}
CONSUMER_0, CONSUMER_1, PRODUCER = 0, 1, 2  # warpgroup of each role
COMBINE_COLUMNS = 128  # output columns the combine sums at once (64 fp32 registers a thread)
CHUNK = 8  # elements of one cp.async (16 bytes of bf16)
LANES_PER_ROW = 8  # producer threads that gather one kv row together, CHUNK elements each per 64 columns
ROWS_PER_PASS = WARPGROUP // LANES_PER_ROW  # kv rows the producer gathers at once
SPAN = LANES_PER_ROW * CHUNK  # columns one pass of a row's lanes covers (64)
# The roles synchronize through mbarriers only: TileLang's automatic __syncthreads between
# the role sections would stop the producer and the consumers from running apart (a hang),
# so it is off, and the few barriers each role needs are written out.
PASS_CONFIGS = {"tl.disable_thread_storage_sync": True}


def workspace(shape, dtype, config, device):
    """Decode's split partials (spec.decode_workspace); none when a query is one split."""
    return decode_workspace(shape, dtype, config, device)


def sparse_mla_kernel(B, Sq, Skv, H, topk, dtype, block_N, num_stages, threads, sm_scale=None):
    """Return the prim_func (q, kv, indices) -> (o, lse) [+ the decode workspace] for one
    shape, dtype and config:
    o[h] = sum_j p_hj kv[idx_j, :512] with p_hj = exp(s_hj - lse_h), s_hj = scale * q_h.kv[idx_j]
    over the valid slots j (0 <= idx_j < Skv), lse_h = log sum_j exp(s_hj); no valid slot:
    o = 0, lse = -inf."""
    assert threads == 2 * WARPGROUP, "two consumer warpgroups split the 512 value columns"
    accum = "float32"
    qk_scale = (default_scale() if sm_scale is None else sm_scale) * LOG2E
    splits, chunk = topk_split(dict(B=B, Sq=Sq, H=H, topk=topk), block_N)
    steps = -(-chunk // block_N)  # key blocks per program (its last slots may be past topk)
    # One key buffer per stage, chosen by a Python int: each role's step has one branch per
    # buffer (TileLang 0.1.15 drops a variable leading index from an MMA operand:
    # T.gemm(A, B[t % 2, :, :], C) reads B[0] every time).
    # finding: findings/tilelang_gemm_variable_buffer_index.py
    stages = tuple(range(num_stages))
    head_tiles = T.ceildiv(H, BLOCK_H)

    @T.macro
    def attend(Q, KV, Indices, O, LSE, partial):
        """One program: query bx, head tile (by % head_tiles), split (by // head_tiles)."""
        with T.Kernel(Sq, head_tiles * splits, B, threads=threads + WARPGROUP) as (bx, by, bz):
            h0 = (by % head_tiles) * BLOCK_H
            split = by // head_tiles
            first = split * chunk  # the program's first top-k slot
            Q_l = T.alloc_shared((BLOCK_H, HALF), dtype)
            Q_r = T.alloc_shared((BLOCK_H, HALF), dtype)
            Q_rope = T.alloc_shared((BLOCK_H, D_ROPE), dtype)
            KV_l = [T.alloc_shared((block_N, HALF), dtype) for _ in stages]  # one buffer per stage
            KV_r = [T.alloc_shared((block_N, HALF), dtype) for _ in stages]
            K_rope = [T.alloc_shared((block_N, D_ROPE), dtype) for _ in stages]
            P_shared = T.alloc_shared((BLOCK_H, block_N), dtype)
            alpha_shared = T.alloc_shared((BLOCK_H,), accum)
            l_shared = T.alloc_shared((BLOCK_H,), accum)
            acc_s = T.alloc_fragment((BLOCK_H, block_N), accum)
            P_local = T.alloc_fragment((BLOCK_H, block_N), dtype)
            acc_o_l = T.alloc_fragment((BLOCK_H, HALF), accum)
            acc_o_r = T.alloc_fragment((BLOCK_H, HALF), accum)
            m_i = T.alloc_fragment((BLOCK_H,), accum)
            m_prev = T.alloc_fragment((BLOCK_H,), accum)
            alpha = T.alloc_fragment((BLOCK_H,), accum)
            l_tile = T.alloc_fragment((BLOCK_H,), accum)
            l_i = T.alloc_fragment((BLOCK_H,), accum)
            # ready[s]: buffer s is filled (each producer thread arrives after its stores);
            # free[s]: both consumers are done reading it; p_ready / p_free: P and alpha handed
            # from consumer 0 to consumer 1 and back; l_ready: the final row sums.
            ready = T.alloc_barrier([WARPGROUP] * num_stages)
            free = T.alloc_barrier([2 * WARPGROUP] * num_stages)
            p_ready = T.alloc_barrier(WARPGROUP)
            p_free = T.alloc_barrier(WARPGROUP)
            l_ready = T.alloc_barrier(WARPGROUP)
            o_staged = T.alloc_barrier([WARPGROUP] * 2)  # each consumer's half of o is in shared memory

            q_ready = T.alloc_barrier(3 * WARPGROUP)  # q is in shared memory (a TMA load's bytes and every thread)

            T.tma_copy(Q[bz, bx, h0:h0 + BLOCK_H, 0:HALF], Q_l, barrier=q_ready)  # heads past H: zeros
            T.tma_copy(Q[bz, bx, h0:h0 + BLOCK_H, HALF:D_V], Q_r, barrier=q_ready)
            T.tma_copy(Q[bz, bx, h0:h0 + BLOCK_H, D_V:D_V + D_ROPE], Q_rope, barrier=q_ready)
            T.barrier_arrive(q_ready)
            with T.ws(CONSUMER_0):
                T.set_max_nreg(REGISTERS["scores"], 1)
                T.fill(acc_o_l, 0)
                T.fill(l_i, 0)
                T.fill(m_i, -T.infinity(accum))
                T.barrier_wait(q_ready, 0)
                for t in T.serial(steps):
                    for stage in stages:  # the buffer of step t, chosen by a Python int (see above)
                        if t % num_stages == stage:
                            for h, j in T.Parallel(BLOCK_H, block_N):  # unused slots start at -inf
                                acc_s[h, j] = T.if_then_else(valid(Indices, bz, bx, first + t * block_N + j, topk, Skv),
                                                             0, -T.infinity(accum))
                            T.barrier_wait(ready[stage], (t // num_stages) % 2)
                            T.fence_proxy_async()  # gathered by cp.async, read by the MMAs (here and consumer 1's)
                            T.wgmma_gemm(Q_l, KV_l[stage], acc_s, transpose_B=True)
                            T.wgmma_gemm(Q_r, KV_r[stage], acc_s, transpose_B=True)
                            T.wgmma_gemm(Q_rope, K_rope[stage], acc_s, transpose_B=True)
                            T.wait_wgmma(0)
                            online_softmax(acc_s, m_i, m_prev, alpha, l_tile, l_i, qk_scale)
                            for h, d in T.Parallel(BLOCK_H, HALF):
                                acc_o_l[h, d] *= alpha[h]  # rescale what was summed under the old max
                            T.copy(acc_s, P_local)
                            T.barrier_wait(p_free, (t % 2) ^ 1)  # consumer 1 is done with the last P
                            T.copy(P_local, P_shared)
                            T.copy(alpha, alpha_shared)
                            T.fence_proxy_async()  # P stored by threads, read by consumer 1's MMA
                            T.barrier_arrive(p_ready)
                            T.gemm(P_local, KV_l[stage], acc_o_l)
                            T.barrier_arrive(free[stage])
                for h in T.Parallel(BLOCK_H):  # one reciprocal per row (reusing alpha); no valid slot: 0
                    alpha[h] = inverse(l_i[h])
                T.copy(alpha, l_shared)  # 1 / l for consumer 1
                T.barrier_arrive(l_ready)
                for h, d in T.Parallel(BLOCK_H, HALF):  # no valid slot: acc_o = 0, o = 0
                    acc_o_l[h, d] *= alpha[h]
                for h in T.Parallel(BLOCK_H):
                    l_tile[h] = (m_i[h] + T.log2(l_i[h])) * LN2  # natural-log lse, reusing l_tile
                if partial:
                    T.copy(acc_o_l, O[bz, bx, split, h0:h0 + BLOCK_H, 0:HALF])
                    T.copy(l_tile, LSE[bz, bx, split, h0:h0 + BLOCK_H])
                else:
                    store_half(acc_o_l, Q_l, O[bz, bx, h0:h0 + BLOCK_H, 0:HALF], o_staged, 0)
                    T.copy(l_tile, LSE[bz, bx, h0])
            with T.ws(CONSUMER_1):
                T.fill(acc_o_r, 0)
                for t in T.serial(steps):
                    for stage in stages:
                        if t % num_stages == stage:
                            T.barrier_wait(p_ready, t % 2)
                            for h, d in T.Parallel(BLOCK_H, HALF):
                                acc_o_r[h, d] *= alpha_shared[h]
                            T.gemm(P_shared, KV_r[stage], acc_o_r)
                            T.barrier_arrive(p_free)
                            T.barrier_arrive(free[stage])
                T.barrier_wait(l_ready, 0)
                for h, d in T.Parallel(BLOCK_H, HALF):
                    acc_o_r[h, d] *= l_shared[h]
                if partial:
                    T.copy(acc_o_r, O[bz, bx, split, h0:h0 + BLOCK_H, HALF:D_V])
                else:
                    store_half(acc_o_r, Q_r, O[bz, bx, h0:h0 + BLOCK_H, HALF:D_V], o_staged, 1)
            with T.ws(PRODUCER):  # last: after its register budget drops, no other role's code follows
                T.set_max_nreg(REGISTERS["producer"], 0)
                fill(KV, Indices, KV_l, KV_r, K_rope, ready, free, 0, 0, bz, bx, first, block_N, topk, Skv)
                for t in T.serial(steps):  # while the consumers are on step t, fill step t + 1's buffer
                    for stage in stages:
                        if (t + 1 < steps) & ((t + 1) % num_stages == stage):
                            fill(KV, Indices, KV_l, KV_r, K_rope, ready, free, stage, (t + 1) // num_stages, bz, bx,
                                 first + (t + 1) * block_N, block_N, topk, Skv)

    @T.macro
    def combine(O_partial, LSE_partial, O, LSE):
        """o = sum_s exp(lse_s - lse) o_s, lse = log sum_s exp(lse_s) over the splits; a query
        whose splits are all empty keeps o = 0 and lse = -inf. One thread per head computes
        its splits' weights into shared memory, then every thread sums its share of the
        outputs, COMBINE_COLUMNS columns at a time."""
        with T.Kernel(Sq, head_tiles, B, threads=WARPGROUP) as (bx, by, bz):
            h0 = by * BLOCK_H
            weight = T.alloc_shared((BLOCK_H, splits), accum)
            lse = T.alloc_shared((BLOCK_H,), accum)
            total = T.alloc_shared((BLOCK_H,), accum)
            acc_o = T.alloc_fragment((BLOCK_H, COMBINE_COLUMNS), accum)
            for h in T.Parallel(BLOCK_H):
                lse[h] = M_FLOOR  # first the largest lse_s, then the weights relative to it
                for s in T.serial(splits):
                    lse[h] = T.max(lse[h], LSE_partial[bz, bx, s, T.min(h0 + h, H - 1)])
                total[h] = 0
                for s in T.serial(splits):
                    weight[h, s] = T.exp(LSE_partial[bz, bx, s, T.min(h0 + h, H - 1)] - lse[h])
                    total[h] += weight[h, s]
                for s in T.serial(splits):
                    weight[h, s] = T.if_then_else(total[h] > 0, weight[h, s] / total[h], 0)
                lse[h] = T.if_then_else(total[h] > 0, lse[h] + T.log(total[h]), -T.infinity(accum))
            T.sync_threads()  # the weights, from the thread of each head to every thread
            for c in T.serial(D_V // COMBINE_COLUMNS):
                T.fill(acc_o, 0)
                for s in T.serial(splits):  # (heads past H, in a partial tile, are not stored)
                    for h, d in T.Parallel(BLOCK_H, COMBINE_COLUMNS):
                        column = c * COMBINE_COLUMNS + d
                        acc_o[h, d] += weight[h, s] * O_partial[bz, bx, s, T.min(h0 + h, H - 1), column]
                T.copy(acc_o, O[bz, bx, h0, c * COMBINE_COLUMNS])
            T.copy(lse, LSE[bz, bx, h0])

    if splits == 1:
        @T.prim_func
        def sparse_mla(
            Q: T.Tensor((B, Sq, H, D_V + D_ROPE), dtype),
            KV: T.Tensor((B, Skv, D_V + D_ROPE), dtype),
            Indices: T.Tensor((B, Sq, topk), "int32"),
            O: T.Tensor((B, Sq, H, D_V), dtype),
            LSE: T.Tensor((B, Sq, H), accum),
        ):
            attend(Q, KV, Indices, O, LSE, False)
        return sparse_mla

    @T.prim_func
    def sparse_mla_split(
        Q: T.Tensor((B, Sq, H, D_V + D_ROPE), dtype),
        KV: T.Tensor((B, Skv, D_V + D_ROPE), dtype),
        Indices: T.Tensor((B, Sq, topk), "int32"),
        O: T.Tensor((B, Sq, H, D_V), dtype),
        LSE: T.Tensor((B, Sq, H), accum),
        O_partial: T.Tensor((B, Sq, splits, H, D_V), accum),
        LSE_partial: T.Tensor((B, Sq, splits, H), accum),
    ):
        attend(Q, KV, Indices, O_partial, LSE_partial, True)
        combine(O_partial, LSE_partial, O, LSE)
    return sparse_mla_split


@T.macro
def store_half(acc_o, staging, O_half, o_staged, half):
    """One consumer's 64 x 256 of o: rounded into its q buffer (consumer 0's Q_l, which its last
    score MMA has read; consumer 1's Q_r, read before consumer 0 signalled l_ready), then stored
    by TMA once all 128 threads of the warpgroup have written theirs (heads past H: clipped)."""
    T.copy(acc_o, staging)
    T.fence_proxy_async()  # written by threads, read by the TMA store (the async proxy)
    T.barrier_arrive(o_staged[half])
    T.barrier_wait(o_staged[half], 0)
    T.copy(staging, O_half)


def inverse(total):
    """1 / total for a row's positive sum of weights, 0 for a row without any (whose output is
    0 anyway). The fast reciprocal, one MUFU.RCP, where an IEEE division per output element
    would carry its slow-path subroutine call (o is rounded to bf16)."""
    return T.if_then_else(total > 0, T.fast_rcp(total), 0)


def slot(Indices, bz, bx, j, topk):
    """The index in slot j of the query's row (slots past topk read the last one)."""
    return Indices[bz, bx, T.min(j, topk - 1)]


def valid(Indices, bz, bx, j, topk, Skv):
    """Whether slot j holds a key: j < topk and 0 <= index < Skv."""
    index = slot(Indices, bz, bx, j, topk)
    return (j < topk) & (index >= 0) & (index < Skv)


@T.macro
def fill(KV, Indices, KV_l, KV_r, K_rope, ready, free, stage, lap, bz, bx, first, block_N, topk, Skv):
    """Buffer `stage`'s fill number `lap`: wait until both consumers released its previous
    fill, issue the cp.async gather of the kv rows of slots first .. first + block_N - 1 into
    it; each thread's copies arrive on ready[stage] as they land."""
    T.barrier_wait(free[stage], (lap % 2) ^ 1)  # (the first fill passes at once)
    gather(KV, Indices, KV_l, KV_r, K_rope, stage, bz, bx, first, block_N, topk, Skv)
    T.cp_async_barrier_noinc(ready[stage])


@T.macro
def gather(KV, Indices, KV_l, KV_r, K_rope, stage, bz, bx, first, block_N, topk, Skv):
    """The kv rows of slots first .. first + block_N - 1 into buffer `stage`, by cp.async: each
    of the producer's 128 threads copies 16 bytes (CHUNK elements) of every 64 columns of one
    row in ROWS_PER_PASS, so that 8 threads read each row's 1152 bytes together. An unused slot
    reads a real row (its index clamped into range) whose weight will be 0."""
    for lane in T.Parallel(WARPGROUP):
        for r in T.serial(block_N // ROWS_PER_PASS):
            j = r * ROWS_PER_PASS + lane // LANES_PER_ROW
            index = T.min(T.max(slot(Indices, bz, bx, first + j, topk), 0), Skv - 1)
            for u in T.unroll((D_V + D_ROPE) // SPAN):
                column = u * SPAN + lane % LANES_PER_ROW * CHUNK
                if u < HALF // SPAN:
                    T.ptx_cp_async(T.access_ptr(KV_l[stage][j, column], "w", CHUNK),
                                   T.access_ptr(KV[bz, index, column], "r", CHUNK), CHUNK)
                elif u < D_V // SPAN:
                    T.ptx_cp_async(T.access_ptr(KV_r[stage][j, column - HALF], "w", CHUNK),
                                   T.access_ptr(KV[bz, index, column], "r", CHUNK), CHUNK)
                else:
                    T.ptx_cp_async(T.access_ptr(K_rope[stage][j, column - D_V], "w", CHUNK),
                                   T.access_ptr(KV[bz, index, column], "r", CHUNK), CHUNK)


@T.macro
def online_softmax(acc_s, m_i, m_prev, alpha, l_tile, l_i, qk_scale):
    """Turn raw scores acc_s into exp2(s * scale - m) under the new running max m_i and update
    the running sum l_i; alpha = exp2(m_old - m_new) rescales the old state. The max an
    exponent is taken against is floored at M_FLOOR (see above)."""
    block_M, block_N = acc_s.shape
    T.copy(m_i, m_prev)
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] *= qk_scale
    T.reduce_max(acc_s, m_i, dim=1, clear=False)  # max(m_prev, max_j s_ij)
    for i in T.Parallel(block_M):
        alpha[i] = T.exp2(m_prev[i] - T.max(m_i[i], M_FLOOR))
    for i, j in T.Parallel(block_M, block_N):
        acc_s[i, j] = T.exp2(acc_s[i, j] - T.max(m_i[i], M_FLOOR))
    T.reduce_sum(acc_s, l_tile, dim=1)
    for i in T.Parallel(block_M):
        l_i[i] = l_i[i] * alpha[i] + l_tile[i]

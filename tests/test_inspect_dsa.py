"""`dslbench inspect` rules for DeepSeek Sparse Attention on Hopper (sm_90a), both tracks.

One compile per DSL and track of the whole step (kernels/dsa_step at its inspect shape, a
decode batch): it launches the track's indexer and sparse MLA kernels, and in the best track
sparse MLA's combine, so every kernel the rules name is read from one cubin set
(metrics.kernels), four compiles in all.
- matched: the same code path, kernel by kernel: equal threads, asynchronous copies
  (LDGSTS) and no TMA (UTMALDG) in either DSL, the same matrix instruction shapes;
- best indexer: a query block per program, so its FP8 MMA is 128 wide (QGMMA 64x128x32) in
  both DSLs, fed by TMA, spilling no more than SPILL_BOUND;
- best sparse MLA: no more than SPILL_BOUND bytes of spills in either DSL (attention and
  combine); TileLang's score MMA is computed once per key block (36 HGMMA of 64 x block_N,
  576 / 16 deep) by one warpgroup and its P.V by the two (block_N / 16 of 64x256 each),
  nothing more, in each of its num_stages copies of a step (one per key buffer); its three
  warpgroups with their register budgets (setmaxnreg); Triton's score tile computed once too,
  split between its two warpgroups (the kernel's `if` regions: kernels/sparse_mla/triton_best.py).
They need the `inspect` extra (nvcc from the CUDA wheels); without it they skip and say so.
"""
import pytest

from bench import inspect as compile_report
from bench.core import ops
from kernels.dsa_step import spec as step
from tests.test_inspect import extra_missing, needs_extra
from tests.conftest import COMPILE_GROUP, compiled

pytestmark = COMPILE_GROUP

SPILL_BOUND = 64  # bytes of spill stores a best-track sparse MLA kernel may have (measured: 0, Triton 3.6: 16)
BEST_MLA = step.split_config(step.configs_for("bf16", "best")[0])[1]


@pytest.fixture(scope="module")
def kernels():
    """{(dsl, track): {kernel name: its metrics}} of the step compiled for sm_90a."""
    if extra_missing():
        pytest.skip(f"the `inspect` extra is not installed: {extra_missing()}")
    jobs = compile_report.jobs("dsa_step", arch_text="sm_90a", every_config=False)
    assert {j["backend"] for j in jobs} == set(ops.dsl_backends(step))
    out = {}
    for r in compiled(jobs):
        assert r["status"] == "compiled", f"{r['backend']}: {r['reason']}"
        out[ops.split_backend(r["backend"])] = {k["name"]: k for k in r["metrics"]["kernels"]}
    return out


def role(kernels, *names):
    """The one kernel whose name starts with one of `names` (TileLang: sparse_mla_split_kernel;
    its combine: sparse_mla_split_kernel_1)."""
    [match] = [k for n, k in kernels.items() if n.startswith(names) and not n.endswith(("_1", "combine_kernel"))]
    return match


def combine(kernels):
    [match] = [k for n, k in kernels.items() if n.endswith(("_1", "combine_kernel"))]
    return match


@needs_extra
def test_every_kernel_the_step_launches_is_read(kernels):
    for (dsl, track), found in kernels.items():
        assert len(found) == (3 if track == "best" else 2), f"{dsl}-{track}: {sorted(found)}"  # + the combine


@needs_extra
@pytest.mark.parametrize("op", ["dsa_index", "sparse_mla"])
def test_matched_track_is_one_code_path(kernels, op):
    triton, tilelang = (role(kernels[(dsl, "matched")], op) for dsl in ops.DSLS)
    assert triton["threads"] == tilelang["threads"], "equal threads (no producer warpgroup in TileLang)"
    for k in (triton, tilelang):
        assert k["sass"].get("UTMALDG", 0) == 0 and k["sass"].get("LDGSTS", 0) > 0, "cp.async, no TMA"
    assert set(triton["mma"]) == set(tilelang["mma"]), "the same matrix instruction shapes"


@needs_extra
def test_best_indexer_mma_is_128_wide_and_fed_by_tma(kernels):
    for dsl in ops.DSLS:
        k = role(kernels[(dsl, "best")], "dsa_index")
        assert set(k["mma"]) == {"QGMMA.64x128x32.F32.E4M3.E4M3"}, f"{dsl}: {k['mma']}"
        assert k["sass"].get("UTMALDG", 0) > 0, f"{dsl}: no TMA"
        assert k["spill_store_bytes"] <= SPILL_BOUND, f"{dsl}: {k['spill_store_bytes']} bytes spilled"


@needs_extra
def test_best_sparse_mla_spills_at_most_the_bound(kernels):
    for dsl in ops.DSLS:
        for k in (role(kernels[(dsl, "best")], "sparse_mla"), combine(kernels[(dsl, "best")])):
            assert k["spill_store_bytes"] <= SPILL_BOUND, f"{dsl} {k['name']}: {k['spill_store_bytes']} bytes spilled"


def score_mma(k):
    """{N: count} of the score MMA (HGMMA 64 x N x 16 with N < 256) and the P.V MMA count."""
    scores = {int(m.split(".")[1].split("x")[1]): n for m, n in k["mma"].items() if not m.startswith("HGMMA.64x256x16")}
    return scores, sum(n for m, n in k["mma"].items() if m.startswith("HGMMA.64x256x16"))


@needs_extra
def test_best_tilelang_sparse_mla_has_no_more_hgmma_than_the_algorithm(kernels):
    k = role(kernels[("tilelang", "best")], "sparse_mla")
    block_N, stages = BEST_MLA["block_N"], BEST_MLA["num_stages"]
    scores, values = score_mma(k)
    assert scores == {block_N: 36 * stages}, k["mma"]  # 576/16 deep, the tile once, per buffer's copy
    assert values == 2 * (block_N // 16) * stages, k["mma"]  # one 64x256 P.V per consumer warpgroup
    assert k["threads"] == BEST_MLA["threads"] + 128, "two consumer warpgroups and a producer"
    assert k["sass"].get("USETMAXREG", 0) == 2, "register budgets: consumer 0 up, the producer down"


def split_once(k, block_N):
    """Whether the score MMA is a 64 x block_N tile split between two warpgroups and computed
    once: 36 HGMMA (576 / 16 deep) of 64 x block_N/2, one code copy, and its P.V block_N / 16."""
    scores, values = score_mma(k)
    return scores == {block_N // 2: 36} and values == block_N // 16


@needs_extra
def test_best_tilelang_sparse_mla_takes_one_reciprocal_per_row_not_per_element(kernels):
    """1 / l once per row (a thread holds a few rows of the 64-head tile), handed to the other
    consumer; one per output element was 128 MUFU.RCP."""
    mla = role(kernels[("tilelang", "best")], "sparse_mla")
    assert 0 < mla["sass"].get("MUFU.RCP", 0) <= 8, mla["sass"].get("MUFU.RCP")


@needs_extra
def test_best_tilelang_sparse_mla_gathers_by_cp_async(kernels):
    """The producer's gather is cp.async (LDGSTS: 2 row passes x 9 chunks per fill at 32-key
    blocks, in its two code copies), no longer 16-byte loads and stores through registers
    (there were 177 STS, now the P and alpha hand-offs and the epilogue's)."""
    mla = role(kernels[("tilelang", "best")], "sparse_mla")
    assert mla["sass"].get("LDGSTS", 0) >= 18, mla["sass"].get("LDGSTS")
    assert mla["sass"].get("STS", 0) < 150, mla["sass"].get("STS")


@needs_extra
def test_best_triton_sparse_mla_computes_the_score_tile_once(kernels):
    k = role(kernels[("triton", "best")], "sparse_mla")
    assert split_once(k, BEST_MLA["block_N"]), k["mma"]


def test_the_rule_fails_a_replicated_score_mma():
    """The matched Triton kernel (block_N = 64) computes the whole score tile on each warpgroup
    (its layout: all 8 warps along the 64 heads): 72 HGMMA of 64x32. The rule says no."""
    replicated = {"mma": {"HGMMA.64x32x16.F32.BF16": 72, "HGMMA.64x256x16.F32.BF16": 4}}
    split = {"mma": {"HGMMA.64x32x16.F32.BF16": 36, "HGMMA.64x256x16.F32.BF16": 4}}
    assert not split_once(replicated, 64) and split_once(split, 64)


FLASHMLA_TILE = dict(block_N=64, num_stages=2, threads=256)  # in the best list: tests/test_config_rule.py


@needs_extra
def test_flashmlas_tile_fits_tilelang_and_not_triton():
    """The best list's 64-key, 2-stage tile (the union rule): TileLang's kernel takes it, within
    an H100 block's shared memory and without spills; Triton's needs more shared memory than a
    block has, so a GPU launch refuses it and its autotune records it skipped (kernels/sparse_mla/spec.py)."""
    from kernels import SMEM_LIMIT

    jobs = [j for j in compile_report.jobs("sparse_mla", "triton-best,tilelang-best", arch_text="sm_90a")
            if j["config"] == FLASHMLA_TILE]
    assert len(jobs) == 2
    got = {r["dsl"] if "dsl" in r else ops.split_backend(r["backend"])[0]: r for r in compiled(jobs)}
    assert all(r["status"] == "compiled" for r in got.values()), {d: r["reason"] for d, r in got.items()}
    tilelang, triton = got["tilelang"]["metrics"], got["triton"]["metrics"]
    assert tilelang["smem_bytes"] <= SMEM_LIMIT and tilelang["spill_store_bytes"] <= SPILL_BOUND
    assert triton["smem_bytes"] > SMEM_LIMIT, triton["smem_bytes"]

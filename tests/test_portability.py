"""The portability matrix: what each DSL's kernels become on Ampere, Ada, Hopper, Blackwell, AMD and
Huawei Ascend.

PINNED is today's matrix for matmul and attention bf16 (one config per backend, compiled by
`dslbench inspect` for every arch; CI compiles every arch but one of sm_80 and sm_89, drawn by
DSLBENCH_FUZZ_SEED). A new Triton or TileLang release that moves a kernel to
another tensor-core path (or breaks its compile) fails test_the_matrix_is_pinned, naming the
cell that moved. To re-pin after a deliberate change: run

    python -m bench inspect --arch all --op matmul,attention --dtype bf16 --jobs 2

and copy the matrix it prints into PINNED. The rule that makes a cell native / fallback / failed
is in bench/core/mma.py; the parsing tests below need no compiler.
"""
import pytest

from bench import inspect as compile_report
from bench.core import mma, ops
from bench.inspect import amdgcn, ascend, table, toolchain
from bench.results import portability
from tests.conftest import COMPILE_GROUP, SAMPLE_SEED, compiled
from tests.test_inspect import needs_extra

pytestmark = COMPILE_GROUP

# (op, dtype, backend) -> {arch: cell}. "native X": every matrix instruction is the arch's newest
# for bf16 (HMMA sm_80/sm_89, HGMMA sm_90a, UTCHMMA sm_100a, MFMA gfx942, Cube ascend); "fallback X":
# an older one; "(source)": read from TileLang's HIP or AscendC source (ROCm's or CANN's compiler is
# not installed here). On ascend Triton is skipped (no Ascend target beside the project's Triton:
# bench/inspect/worker.py TRITON_ASCEND), TileLang's CUDA-shaped kernels fail to lower, and the
# matched matmul is its own kernel, kernels/matmul/tilelang_matched_ascend.py (the Cube unit).
# TileLang's best-track matmul on sm_100a is its own kernel, kernels/matmul/tilelang_best_sm100a.py
# (tcgen05); Triton's best track takes UTCHMMA on sm_100a from the same source as on Hopper.
PINNED = {
    ("matmul", "bf16", "triton-matched"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "native UTCHMMA",
        "gfx942": "native MFMA", "ascend": "skipped"},
    ("matmul", "bf16", "tilelang-matched"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "fallback HMMA",
        "gfx942": "native MFMA (source)", "ascend": "native Cube (source)"},
    ("matmul", "bf16", "triton-best"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "native UTCHMMA",
        "gfx942": "native MFMA", "ascend": "skipped"},
    ("matmul", "bf16", "tilelang-best"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "native UTCHMMA",
        "gfx942": "native MFMA (source)", "ascend": "failed"},
    ("attention", "bf16", "triton-matched"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "native UTCHMMA",
        "gfx942": "native MFMA", "ascend": "skipped"},
    ("attention", "bf16", "tilelang-matched"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "fallback HMMA",
        "gfx942": "native MFMA (source)", "ascend": "failed"},
    ("attention", "bf16", "triton-best"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "native UTCHMMA",
        "gfx942": "native MFMA", "ascend": "skipped"},
    ("attention", "bf16", "tilelang-best"): {
        "sm_80": "native HMMA", "sm_89": "native HMMA", "sm_90a": "native HGMMA", "sm_100a": "fallback HMMA",
        "gfx942": "native MFMA (source)", "ascend": "failed"},
}


def measured_matrix(records):
    return {row: {arch: mma.cell_text(c) for arch, c in cells.items()} for row, cells in mma.matrix(records).items()}


def moved(pinned, measured):
    """One line per cell that differs: 'matmul bf16 tilelang-matched sm_100a: pinned X, now Y'."""
    out = []
    for row in sorted(set(pinned) | set(measured)):
        was, now = pinned.get(row, {}), measured.get(row, {})
        for arch in sorted(set(was) | set(now)):
            if was.get(arch) != now.get(arch):
                out.append(f"{' '.join(row)} {arch}: pinned {was.get(arch, 'no kernel')!r}, now {now.get(arch, 'no kernel')!r}")
    return out


def compiled_archs(seed=SAMPLE_SEED):
    """The archs compiled here: every one but one of sm_80 and sm_89 (Ampere and Ada take the
    same warp-level MMA path), the other drawn by the seed (CI: a fixed one; DSLBENCH_FUZZ_SEED
    draws again). The re-pin command above compiles them all."""
    left_out = ("sm_80", "sm_89")[seed % 2]
    return [a for a in toolchain.ARCHS if a != left_out]


ARCHS = compiled_archs()


def pinned_for(archs):
    return {row: {a: cell for a, cell in cells.items() if a in archs} for row, cells in PINNED.items()}


@pytest.fixture(scope="module")
def records():
    """matmul and attention bf16, one config per backend, for ARCHS, two compiles at a time."""
    job_list = compile_report.jobs("matmul,attention", dtype_text="bf16", arch_text=",".join(ARCHS),
                                   every_config=False)
    return compiled(job_list)


@needs_extra
def test_the_matrix_is_pinned(records):
    errors = [f"{r['op']} {r['backend']} {r['arch']}: {r['reason']}" for r in records if r["status"] == "error"]
    assert {r["arch"] for r in records} == set(ARCHS)
    changes = moved(pinned_for(ARCHS), measured_matrix(records))
    assert not changes, ("the portability matrix moved (a DSL release changed a kernel's tensor-core path; re-pin "
                         "PINNED if that is expected):\n" + "\n".join(changes) + ("\n" + "\n".join(errors) if errors else ""))


@needs_extra
def test_every_record_says_what_it_read_and_what_it_could_not(records):
    for r in records:
        m, where = r["metrics"], f"{r['op']} {r['backend']} {r['arch']}"
        if r["arch"] == "ascend":
            check_ascend_record(r, where)
            continue
        if r["arch"] == "gfx942" and r["dsl"] == "tilelang":
            assert r["status"] == "lowered" and "ROCm" in r["reason"], where  # honest: not compiled here
            assert m["source"] == "hip-source" and m["registers"] is None and m["lower_ms"] > 0, where
        else:
            assert r["status"] == "compiled", f"{where}: {r['reason']}"
            assert m["source"] == ("amdgcn" if r["arch"] == "gfx942" else "sass"), where
            assert 0 < m["registers"] <= 512 and m["compile_ms"] > 0, where
        assert m["smem_bytes"] > 0 and m["threads"] >= 64, where


def check_ascend_record(r, where):
    """Ascend: Triton skipped with why; TileLang lowered to AscendC source (not compiled: CANN) with
    its cores, Cube calls and buffers read, or failed with one line that says why."""
    m = r["metrics"]
    if r["dsl"] == "triton":
        assert r["status"] == "skipped" and "triton-ascend" in r["reason"] and "bishengir" in r["reason"], where
    elif r["status"] == "lowered":
        assert "bisheng" in r["reason"] and m["source"] == "ascend-source" and m["registers"] is None, where
        assert m["lower_ms"] > 0 and m["core"] in ("cube", "mix") and m["threads"] is None, where
    else:
        assert r["status"] == "error" and "\n" not in r["reason"] and len(r["reason"]) <= 300, where


@needs_extra
def test_tilelang_ascend_matmul_is_a_cube_kernel_with_its_buffers(records):
    """The Ascend variant: one Cube kernel, its MAD on the Cube unit fed by L1 -> L0A / L0B, the
    fp32 accumulator in L0C; no vector code (the fixpipe rounds C on its way out)."""
    [r] = [r for r in records if (r["op"], r["backend"], r["arch"]) == ("matmul", "tilelang-matched", "ascend")]
    m = r["metrics"]
    assert m["core"] == "cube" and m["mma"] == {"asc_mmad": 1} and m["vector_functions"] == 0
    assert set(m["buffers"]) == {"L1", "L0A", "L0B", "L0C"}
    assert m["ascend"]["asc_copy_l0c2gm"] == 1 and m["ascend"]["asc_copy_l12l0b_transpose"] == 1


@needs_extra
def test_tilelang_blackwell_matmul_is_tcgen05_with_tma_and_tensor_memory(records):
    [r] = [r for r in records if (r["op"], r["backend"], r["arch"]) == ("matmul", "tilelang-best", "sm_100a")]
    m = r["metrics"]
    # tcgen05 only: UTCHMMA, in whichever form the config gets (UTCHMMA.WS is its weight-stationary one)
    assert m["mma"] and all(k.split(".")[0] == "UTCHMMA" for k in m["mma"]) and m["sass"].get("HMMA", 0) == 0
    assert m["sass"].get("UTMALDG", 0) > 0 and m["spill_store_bytes"] == 0
    # the shared best-track config's thread count: a TMA producer warp and an MMA issuer warp,
    # every warp in the epilogue
    assert m["threads"] == r["config"]["threads"]


def test_every_arch_but_one_of_ampere_and_ada_is_compiled_and_each_seed_draws_one():
    assert {tuple(compiled_archs(seed)) for seed in range(2)} == {
        ("sm_89", "sm_90a", "sm_100a", "gfx942", "ascend"), ("sm_80", "sm_90a", "sm_100a", "gfx942", "ascend")}
    assert set(PINNED[("matmul", "bf16", "triton-best")]) == set(toolchain.ARCHS)  # the pin covers every arch


def test_the_pin_comparison_names_the_cell_that_moved():
    measured = {row: dict(cells) for row, cells in PINNED.items()}
    measured[("matmul", "bf16", "tilelang-matched")]["sm_100a"] = "native UTCHMMA"
    del measured[("attention", "bf16", "triton-matched")]["gfx942"]
    assert moved(PINNED, measured) == [
        "attention bf16 triton-matched gfx942: pinned 'native MFMA', now 'no kernel'",
        "matmul bf16 tilelang-matched sm_100a: pinned 'fallback HMMA', now 'native UTCHMMA'"]
    assert moved(PINNED, PINNED) == []


# --- the rule: no compiler needed ------------------------------------------------------------

def record(arch, dtype, mma_counts, status="compiled", source="sass"):
    return {"kind": "inspect", "op": "matmul", "backend": "tilelang-matched", "dtype": dtype, "arch": arch,
            "status": status, "reason": "" if status == "compiled" else "boom",
            "metrics": {"mma": mma_counts, "source": source}}


def test_instruction_families():
    assert mma.family("HGMMA.64x256x16.F32.BF16") == "HGMMA"
    assert mma.family("UTCHMMA") == "UTCHMMA" and mma.family("HMMA.16816.F32.BF16") == "HMMA"
    assert mma.family("v_mfma_f32_32x32x8_bf16") == "MFMA"
    assert mma.family("v_mfma_f32_16x16x32_fp8_fp8") == "MFMA-fp8"
    assert mma.family("__builtin_amdgcn_mfma_f32_16x16x16bf16_1k") == "MFMA"
    assert mma.family("FFMA") is None and mma.family("v_fma_f32") is None


def test_the_rule_marks_native_fallback_and_failed():
    assert mma.classify(record("sm_90a", "bf16", {"HGMMA.64x128x16.F32.BF16": 8})) == "native"
    assert mma.classify(record("sm_90a", "bf16", {"HMMA.16816.F32.BF16": 64})) == "fallback"
    assert mma.classify(record("sm_90a", "bf16", {"HGMMA.64x128x16.F32.BF16": 8, "HMMA.16816.F32.BF16": 4})) == "fallback"
    assert mma.classify(record("sm_90a", "bf16", {})) == "fallback"  # scalar FMA: no tensor core at all
    assert mma.classify(record("sm_100a", "bf16", {"UTCHMMA": 16})) == "native"
    assert mma.classify(record("sm_100a", "bf16", {"HGMMA.64x128x16.F32.BF16": 8})) == "fallback"
    assert mma.classify(record("sm_80", "bf16", {"HMMA.16816.F32.BF16": 64})) == "native"
    assert mma.classify(record("sm_90a", "e4m3", {"QGMMA.64x128x32.F32.E4M3.E4M3": 8})) == "native"
    assert mma.classify(record("sm_90a", "e4m3", {"HGMMA.64x128x16.F32.F16": 8})) == "fallback"  # upcast
    assert mma.classify(record("gfx942", "e4m3", {"v_mfma_f32_16x16x16_f16": 8})) == "fallback"
    assert mma.classify(record("gfx942", "bf16", {"v_mfma_f32_32x32x8_bf16": 8}, source="amdgcn")) == "native"
    # a kernel chaining stages of two dtypes (dsa_step: FP8 indexer, bf16 sparse MLA) is native on both
    chained = dict(record("sm_90a", "bf16", {"HGMMA.64x64x16.F32.BF16": 8, "QGMMA.64x64x32.F32.E4M3.E4M3": 4}),
                   mma_dtypes=["e4m3", "bf16"])
    assert mma.classify(chained) == "native"
    assert mma.classify(dict(chained, metrics={"mma": {"HMMA.16816.F32.BF16": 8, "QGMMA.64x64x32": 4}})) == "fallback"
    assert mma.classify(dict(chained, mma_dtypes=None)) == "fallback"  # without them, QGMMA is not bf16's path
    assert mma.classify(dict(record("sm_90a", "e4m3", {}), mma_dtypes=[])) == "n/a"  # act_quant: no matrix product
    assert mma.classify(record("sm_90a", "bf16", {}, status="error")) == "failed"
    assert mma.classify(record("gfx942", "bf16", {"__builtin_amdgcn_mfma_f32_16x16x16bf16_1k": 1},
                               status="lowered", source="hip-source")) == "native"


def test_a_cell_over_configs_shows_the_worst_and_the_split():
    rows = [record("sm_90a", "bf16", {"HGMMA.64x128x16.F32.BF16": 8}), record("sm_90a", "bf16", {"HMMA.16816": 4}),
            record("sm_90a", "bf16", {}, status="error")]
    cell = mma.matrix(rows)[("matmul", "bf16", "tilelang-matched")]["sm_90a"]
    assert cell["path"] == "failed" and cell["reason"] == "boom"
    assert mma.cell_text(cell) == "failed"
    cell = mma.matrix(rows[:2])[("matmul", "bf16", "tilelang-matched")]["sm_90a"]
    assert mma.cell_text(cell) == "fallback HMMA (1 fallback, 1 native configs)"
    # a config the kernel refuses (split-K in the tcgen05 matmul) says nothing of the path taken
    refused = [record("sm_100a", "bf16", {"UTCHMMA": 16}), record("sm_100a", "bf16", {}, status="skipped")]
    cell = mma.matrix(refused)[("matmul", "bf16", "tilelang-matched")]["sm_100a"]
    assert mma.cell_text(cell) == "native UTCHMMA (1 skipped, 1 native configs)"
    assert mma.cell_text(mma.matrix(refused[1:])[("matmul", "bf16", "tilelang-matched")]["sm_100a"]) == "skipped"
    lowered = record("gfx942", "bf16", {"__builtin_amdgcn_mfma_f32_16x16x16bf16_1k": 1}, "lowered", "hip-source")
    assert mma.cell_text(mma.matrix([lowered])[("matmul", "bf16", "tilelang-matched")]["gfx942"]) == "native MFMA (source)"


def test_an_op_with_no_matrix_instruction_anywhere_is_not_marked():
    quant = [dict(record(a, "e4m3", {}), op="act_quant") for a in ("sm_90a", "sm_100a")]
    cells = mma.matrix(quant + [record("sm_90a", "bf16", {}), record("sm_100a", "bf16", {"UTCHMMA": 4})])
    assert {mma.cell_text(c) for c in cells[("act_quant", "e4m3", "tilelang-matched")].values()} == {"n/a (no matrix op)"}
    assert mma.cell_text(cells[("matmul", "bf16", "tilelang-matched")]["sm_90a"]) == "fallback none"


def test_the_rule_and_the_compile_targets_name_the_same_archs():
    assert list(mma.NATIVE) == list(toolchain.ARCHS)
    assert [a.name for a in toolchain.parse_archs("all")] == ["sm_80", "sm_89", "sm_90a", "sm_100a", "gfx942", "ascend"]
    assert [a.name for a in toolchain.parse_archs("gfx942,sm_80")] == ["gfx942", "sm_80"]
    with pytest.raises(ops.UsageError, match="valid archs: .*gfx942, ascend \\(or all\\)"):
        toolchain.parse_archs("gfx90a")


# --- reading AMD code: no compiler needed ---------------------------------------------------

AMDGCN = """\t.amdgcn_target "amdgcn-amd-amdhsa--gfx942"
\t.globl\tmatmul_kernel
matmul_kernel:
; %bb.0:
\ts_load_dwordx4 s[0:3], s[0:1], 0x0
\tglobal_load_dwordx4 v[2:5], v1, s[0:1]
.LBB0_1:
\tv_mfma_f32_32x32x8_bf16 a[0:15], v[20:21], v[4:5], 0
\tv_mfma_f32_32x32x8_bf16 a[0:15], v[22:23], v[6:7], a[0:15]
\tds_read_b128 v[6:9], v10
\ts_endpgm
.Lfunc_end0:
\t.amdhsa_kernel matmul_kernel
\t\t.amdhsa_next_free_vgpr 64
amdhsa.kernels:
  - .agpr_count:     16
    .group_segment_fixed_size: 0
    .name:           matmul_kernel
    .private_segment_fixed_size: 0
    .sgpr_count:     18
    .sgpr_spill_count: 0
    .vgpr_count:     64
    .vgpr_spill_count: 2
"""


def test_amdgcn_metadata_and_instructions_are_read():
    [(name, m)] = amdgcn.analyze(AMDGCN).items()
    assert name == "matmul_kernel"
    assert (m["registers"], m["agprs"], m["sgprs"], m["vgpr_spill_count"], m["static_smem_bytes"]) == (64, 16, 18, 2, 0)
    assert m["mma"] == {"v_mfma_f32_32x32x8_bf16": 2}
    assert m["amdgcn"] == {"v_mfma_f32_32x32x8_bf16": 2, "ds_read_b128": 1, "global_load_dwordx4": 1,
                           "s_endpgm": 1, "s_load_dwordx4": 1}
    assert table.spill_text(m) == "v2/s0"


def test_hip_source_gives_each_kernels_mfma_calls_and_lds():
    source = """extern "C" __global__ void split_kernel(float* x);
extern "C" __global__ void combine_kernel(float* x);
extern "C" __global__ void __launch_bounds__(256) split_kernel(float* x) {
  __shared__ float red_buf[64];
  c = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a, b, c, 0, 0, 0);
  c = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a, b, c, 0, 0, 0);
}
extern "C" __global__ void __launch_bounds__(128) combine_kernel(float* x) { x[0] = 1; }
"""
    found = amdgcn.analyze_hip_source(source, ["split_kernel", "combine_kernel"])
    assert found["split_kernel"]["mma"] == {"__builtin_amdgcn_mfma_f32_16x16x16bf16_1k": 2}
    assert found["split_kernel"]["static_smem_bytes"] == 256 and found["split_kernel"]["registers"] is None
    assert found["combine_kernel"]["mma"] == {} and found["combine_kernel"]["static_smem_bytes"] == 0


# --- reading AscendC source: no compiler needed ------------------------------------------------

ASCENDC = """#include <tl_templates/ascend/common.h>
extern "C" __global__ __cube__ void matmul_kernel(__gm__ bfloat16_t* A, __gm__ bfloat16_t* B, __gm__ bfloat16_t* C) {
  __cbuf__ uint8_t *buf_dyn_l1 = (__cbuf__ uint8_t *)0;
  __ca__ bfloat16_t *A_l0 = (__ca__ bfloat16_t *)0;
  __cb__ bfloat16_t *B_l0 = (__cb__ bfloat16_t *)0;
  __cc__ float *C_l0c = (__cc__ float *)0;
  for (int32_t k = 0; k < 64; ++k) {
    asc_copy_l12l0a(((__ca__ bfloat16_t*)A_l0), ((__cbuf__ bfloat16_t*)buf_dyn_l1), 0, 0, 8, 4, 8, 8);
    asc_mmad(((__cc__ float*)C_l0c), ((__ca__ bfloat16_t*)A_l0), ((__cb__ bfloat16_t*)B_l0), 128, 64, 256, 0, 1, 0, (k == 0));
  }
  asc_copy_l0c2gm((&(C[0])), ((__cc__ float*)C_l0c), 256, 128, 4096, 128, 0, 0, 16, 0, 0, 1, 0, 0);
}
"""


def test_ascendc_source_gives_the_cores_the_cube_calls_and_the_buffers():
    [(name, m)] = ascend.analyze_source(ASCENDC, {"matmul_kernel": {}}).items()
    assert name == "matmul_kernel" and m["core"] == "cube" and m["registers"] is None
    assert m["mma"] == {"asc_mmad": 1} and m["buffers"] == {"L1": 1, "L0A": 1, "L0B": 1, "L0C": 1}
    assert m["ascend"] == {"asc_copy_l12l0a": 1, "asc_mmad": 1, "asc_copy_l0c2gm": 1}
    vector = ASCENDC.replace("__cube__", "__vector__").replace("asc_mmad(", "asc_vadd(")
    assert ascend.analyze_source(vector, {"matmul_kernel": {}})["matmul_kernel"]["mma"] == {}
    assert ascend.analyze_source(ASCENDC.replace("__cube__", "__mix__(1, 2)"), {})["matmul_kernel"]["core"] == "mix"


def test_a_failed_ascend_lowering_is_one_line_without_the_tir_it_quotes():
    class InternalError(Exception):
        pass

    exc = InternalError("Cannot assign task because its inputs are unavailable on every legal execution core: with "
                        "T.attr({\"ii\": 128}, \"tl.ascend_task\", 1):\n    C_local = T.Buffer((64, 128))\n"
                        "    T.copy(C_local, C_shared)")
    assert ascend.reason(exc) == ("InternalError: Cannot assign task because its inputs are unavailable on every "
                                  "legal execution core (at T.copy(C_local, C_shared))")
    assert ascend.reason(ValueError("T.Parallel loop 'i' must be inside a VF block.")) == (
        "ValueError: T.Parallel loop 'i' must be inside a VF block.")


def test_the_rule_on_ascend_is_the_cube_unit():
    assert mma.family("asc_mmad") == "Cube" and mma.family("asc_mmad_mx") == "Cube" and mma.family("asc_vadd") is None
    lowered = record("ascend", "bf16", {"asc_mmad": 1}, "lowered", "ascend-source")
    assert mma.classify(lowered) == "native"
    assert mma.classify(record("ascend", "bf16", {}, "lowered", "ascend-source")) == "fallback"  # Vector cores only
    assert mma.classify(record("ascend", "bf16", {}, status="error")) == "failed"
    assert mma.cell_text(mma.matrix([lowered])[("matmul", "bf16", "tilelang-matched")]["ascend"]) == "native Cube (source)"


# --- arch variants: kernels/<op>/<dsl>_<track>_<arch>.py ------------------------------------

def test_an_arch_variant_replaces_its_kernel_for_that_arch_only():
    matmul = ops.load_spec("matmul")
    assert ops.has_variant(matmul, "tilelang-best", "sm_100a")
    assert not ops.has_variant(matmul, "tilelang-best", "sm_90a") and not ops.has_variant(matmul, "tilelang-best", None)
    assert not ops.has_variant(matmul, "triton-matched", "sm_100a")  # Triton needs none
    assert ops.kernel_module(matmul, "triton-matched", "sm_100a").__name__ == "kernels.matmul.triton_matched"
    assert "tilelang-best" in ops.arch_backends(matmul, "sm_100a")
    assert ops.arch_backends(matmul, "gfx942") == ops.dsl_backends(matmul)
    # Ascend: the matched matmul is its own kernel for the Cube, for the 16-bit dtypes it takes
    assert ops.has_variant(matmul, "tilelang-matched", "ascend")
    assert not ops.has_variant(matmul, "tilelang-best", "ascend")
    module = ops.kernel_module(matmul, "tilelang-matched", "ascend", "bf16")
    assert module.__name__ == "kernels.matmul.tilelang_matched_ascend"
    assert ops.kernel_module(matmul, "tilelang-matched", "ascend", "fp32").__name__ == "kernels.matmul.tilelang_matched"


def test_a_gpu_run_names_its_arch_by_compute_capability():
    """What picks an arch variant on a GPU (bench/run/backends.py): sm_100a on a B200."""
    assert [ops.cuda_arch(c) for c in ((8, 0), (8, 9), (9, 0), (10, 0))] == ["sm_80", "sm_89", "sm_90a", "sm_100a"]
    assert ops.arch_tag("sm_100a") == "sm100a"


def test_inspect_takes_a_best_track_that_only_has_an_arch_variant():
    """Until kernels/matmul/tilelang_best.py lands, tilelang-best is compiled for sm_100a only,
    with the variant's own configs; a spec that lists the track gives its shared list instead."""
    matmul = ops.load_spec("matmul")
    jobs = compile_report.jobs("matmul", "tilelang", "bf16", "all")
    best = [j for j in jobs if j["backend"] == "tilelang-best"]
    if "best" in ops.tracks(matmul):
        assert {j["arch"] for j in best} >= {"sm_100a"}
        assert [j["config"] for j in best if j["arch"] == "sm_100a"] == matmul.configs_for("bf16", "best")
    else:
        from kernels.matmul import tilelang_best_sm100a

        assert {j["arch"] for j in best} == {"sm_100a"}
        assert [j["config"] for j in best] == tilelang_best_sm100a.CONFIGS
        assert not [j for j in compile_report.jobs("matmul", "tilelang", "fp32", "sm_100a") if j["backend"] == "tilelang-best"]


# --- the report ---------------------------------------------------------------------------

def test_the_report_renders_the_matrix_and_the_verdict_states_the_finding(tmp_path):
    from synthetic import inspect as inspect_record, write

    from bench.results.report import write as write_report

    config = {"block_M": 128, "block_N": 128, "block_K": 64, "num_stages": 4, "threads": 256}
    rows = []
    for arch, triton, tilelang in (("sm_90a", "HGMMA", "HGMMA"), ("sm_100a", "UTCHMMA", "HMMA")):
        for backend, opcode in (("triton-matched", triton), ("tilelang-matched", tilelang)):
            r = inspect_record(backend, config, 128, {opcode: 8}, dtype="bf16")
            r["arch"] = arch
            rows.append(r)
    failed = dict(rows[-1], backend="tilelang-best", status="error", reason="RuntimeError: nvcc failed", metrics={})
    report, _ = write_report(write(tmp_path / "inspect.jsonl", rows + [failed]), tmp_path / "out")
    text = report.read_text()
    section = text.split("## Portability", 1)[1].split("\n## ", 1)[0]
    assert "| op | dtype | backend | sm_90a | sm_100a |" in section
    assert "| matmul | bf16 | triton-matched | native HGMMA | native UTCHMMA |" in section
    assert "| matmul | bf16 | tilelang-matched | native HGMMA | fallback HMMA |" in section
    assert "| matmul | bf16 | tilelang-best | - | failed |" in section
    assert "- matmul bf16 tilelang-best sm_100a: RuntimeError: nvcc failed" in section
    lines = portability.variant_lines(["matmul"])
    assert ("matmul", "tilelang", "best", "sm100a") in [v[:4] for v in lines]
    assert f"| matmul | TileLang | best | sm100a | {lines[0][4]} |" in section
    verdict = text.split("## Verdict", 1)[1]
    assert ("**Portability** (`dslbench inspect`, no GPU): kernels on the arch's native tensor-core path "
            "(native / inspected): Triton sm_90a 1/1, sm_100a 1/1; TileLang sm_90a 1/1, sm_100a 0/2") in verdict
    assert "TileLang falls back on sm_100a (bf16 to HMMA)" in verdict and "Triton never falls back" in verdict
    assert "TileLang fails to compile on sm_100a (matmul) (reasons under Portability)" in verdict
    assert "Triton fails" not in verdict
    assert f"matmul TileLang best for sm100a: {lines[0][4]} lines (Triton 0 lines" in verdict


def test_the_report_shows_ascend_lowered_failed_and_skipped_and_says_what_is_unverified(tmp_path):
    from synthetic import inspect as inspect_record, write

    from bench.inspect.worker import NOT_COMPILED_ASCEND, TRITON_ASCEND
    from bench.results.report import write as write_report

    config = {"block_M": 64, "block_N": 128, "block_K": 64, "num_stages": 4, "threads": 128}
    hopper = [dict(inspect_record(b, config, 128, {"HGMMA": 8}, dtype="bf16"), arch="sm_90a")
              for b in ("triton-matched", "tilelang-matched")]
    base = dict(hopper[1], arch="ascend")
    cube = dict(base, status="lowered", reason=NOT_COMPILED_ASCEND,
                metrics={"source": "ascend-source", "mma": {"asc_mmad": 1}, "core": "cube", "lower_ms": 300.0})
    failed = dict(base, backend="tilelang-best", status="error", metrics={},
                  reason="ValueError: T.Parallel loop 'i' must be inside a VF block")
    skipped = dict(hopper[0], arch="ascend", status="skipped", reason=TRITON_ASCEND, metrics={})
    report, _ = write_report(write(tmp_path / "inspect.jsonl", [*hopper, cube, failed, skipped]), tmp_path / "out")
    text = report.read_text()
    section = text.split("## Portability", 1)[1].split("\n## ", 1)[0]
    assert "| matmul | bf16 | tilelang-matched | native HGMMA | native Cube (source) |" in section
    assert "| matmul | bf16 | triton-matched | native HGMMA | skipped |" in section
    assert "- matmul bf16 tilelang-best ascend: ValueError: T.Parallel loop 'i' must be inside a VF block" in section
    assert f"- Triton ascend: {TRITON_ASCEND}" in section
    lines = {v[3]: v[4] for v in portability.variant_lines(["matmul"])}
    assert f"| matmul | TileLang | matched | ascend | {lines['ascend']} |" in section
    assert "sm100a" not in section  # no sm_100a records: its rewrite is not this matrix's cost
    verdict = text.split("## Verdict", 1)[1]
    assert "Triton sm_90a 1/1; TileLang sm_90a 1/1, ascend 1/2" in verdict  # Triton's skipped cell is no kernel
    assert ("Huawei Ascend (TileLang's Ascend 950 target): TileLang lowers matmul to the Cube unit; kernels "
            "written for CUDA do not lower (matmul) (read from AscendC source; compiling it needs CANN's bisheng, not here); "
            "Triton not inspected (no Ascend target beside the project's Triton); no Ascend number is measured "
            "(no NPU)") in verdict

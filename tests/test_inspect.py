"""`dslbench inspect`: both DSLs' kernels compile for Hopper without a GPU, and the 16-bit and
fp8 dot kernels really use Hopper's warpgroup MMA (HGMMA, QGMMA), not a silent fallback to HMMA.

Each op is compiled at its GPU dtypes and one other dtype drawn by DSLBENCH_FUZZ_SEED (CI: a
fixed seed); `python -m bench inspect --arch sm_90a` compiles every dtype. The compiling tests need the `inspect` extra (nvcc from the CUDA wheels); without it they skip
and say so. The parsing and error tests run everywhere.
"""
import json
import os

import pytest

from bench import cli, inspect as compile_report
from bench.core import ops
from bench.inspect import sass, table, toolchain, worker
from bench.core.records import load
from tests.conftest import COMPILE_GROUP, DEVICE, SAMPLE_SEED, compiled

pytestmark = COMPILE_GROUP

# Kernels built around a tensor-core dot, by op and dtype: on sm_90a both DSLs must emit
# Hopper's warpgroup MMA for them, HGMMA for fp16/bf16 and QGMMA for fp8. (An op not in OPS
# is not checked.) fp32 is not here: its dot may be TF32 warpgroup MMA or not (a finding, not a bug).
WARPGROUP_MMA = {"fp16": "HGMMA", "bf16": "HGMMA", "e4m3": "QGMMA"}
DOT_KERNELS = [(op, dtype) for op, dtypes in {"matmul": ("fp16", "bf16"), "attention": ("fp16", "bf16"),
                                              "fp8_gemm": ("e4m3",), "dsa_index": ("e4m3",),
                                              "sparse_mla": ("bf16",)}.items() if op in ops.OPS for dtype in dtypes]


def extra_missing():
    try:
        toolchain.nvcc()
    except ops.UsageError as exc:
        return str(exc)
    return None


needs_extra = pytest.mark.skipif(extra_missing() is not None,
                                 reason=f"the `inspect` extra is not installed: {extra_missing()}")


# --- reading compiler output: no compiler needed ------------------------------------------

SASS = """
        /*0000*/                   LDC R1, c[0x0][0x28] ;                   /* 0x00000a00ff017b82 */
                                                                            /* 0x000fe40000000800 */
        /*0a30*/              @!P0 HGMMA.64x256x16.F32 R24, gdesc[UR4], R24 ;  /* 0x... */
        /*0a40*/                   HGMMA.64x256x16.F32 R24, gdesc[UR8], R24, gsb0 ;
        /*0a50*/             @!UPT UTMALDG.2D [UR8], [UR4] ;
        /*0a60*/                   WARPGROUP.ARRIVE ;
        /*0a70*/                   WARPGROUP.DEPBAR.LE gsb0, 0x0 ;
        /*0a80*/               @P1 BAR.SYNC.DEFER_BLOCKING 0x0 ;
"""


def test_sass_opcodes_are_counted_without_modifiers_or_predicates():
    counts = sass.count_instructions(SASS)
    assert counts == {"HGMMA": 2, "WARPGROUP": 2, "LDC": 1, "UTMALDG": 1, "WARPGROUP.ARRIVE": 1, "BAR": 1}
    # matrix instructions are also kept whole: their shape is part of the code path
    assert sass.count_instructions(SASS, sass.MMA_OPCODES) == {"HGMMA.64x256x16.F32": 2}


def test_a_listing_is_split_by_kernel():
    text = "header\n\tFunction : a\n line 1\n\tFunction : b\n line 2\n"
    parts = sass.sections(text, sass.SASS_ENTRY)
    assert list(parts) == ["a", "b"] and "line 1" in parts["a"] and "line 2" not in parts["a"]


def test_ptxas_log_is_parsed():
    log = """ptxas info    : Compiling entry function 'matmul_kernel' for 'sm_90a'
    24 bytes stack frame, 16 bytes spill stores, 8 bytes spill loads
ptxas info    : Used 240 registers, used 1 barriers, 1024 bytes smem"""
    assert sass.parse_ptxas_log(log) == {"stack_bytes": 24, "spill_store_bytes": 16, "spill_load_bytes": 8,
                                         "registers": 240, "static_smem_bytes": 1024}
    no_smem = sass.parse_ptxas_log("0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\nUsed 96 registers")
    assert no_smem["static_smem_bytes"] == 0 and no_smem["registers"] == 96
    assert sass.parse_ptxas_log("")["registers"] is None


def test_an_error_is_its_telling_line():
    triton_style = ValueError("at 1:0:\ndef act_quant_kernel(\n^\nValueError('type fp8e4nv not supported')")
    assert worker.one_line(triton_style) == "ValueError: ValueError('type fp8e4nv not supported')"
    assert worker.one_line(RuntimeError("nvcc failed: x.cu(3): error\nmore")) == "RuntimeError: nvcc failed: x.cu(3): error"


def test_config_text():
    config = dict(block_M=128, block_N=256, block_K=64, num_stages=3, threads=256)
    assert table.config_text(config) == "128x256x64 s3 t256"
    assert table.config_text(dict(block_M=64, threads=128, causal_skip=1)) == "M64 t128 causal_skip=1"


# --- bad input: one line, exit 2 -------------------------------------------------------------

def test_unknown_arch_names_the_valid_ones(capsys):
    assert cli.main(["inspect", "--arch", "sm_90a,sm_91"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dslbench: error: unknown arch 'sm_91'; valid archs: sm_80, sm_89, sm_90a, sm_100a, gfx942, ascend (or all)"]


def test_missing_compiler_wheel_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(toolchain, "cuda_root", lambda: None)
    monkeypatch.setattr(toolchain, "toolkit_nvcc", lambda: None)
    assert cli.main(["inspect", "--op", "matmul"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e .[inspect]" in err[0] and "nvidia-cuda-nvcc" in err[0]
    assert "CUDA_HOME" in err[0]
    assert compile_report.jobs("matmul", "triton")  # Triton alone needs no CUDA wheel


def fake_nvcc(folder):
    path = folder / "bin" / "nvcc"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 13.0, V13.0.48'\n")
    path.chmod(0o755)
    return path


def test_without_the_wheels_a_toolkit_nvcc_is_found(monkeypatch, tmp_path):
    """The GPU image has no nvcc wheels but a toolkit: $CUDA_HOME first, then PATH, then
    /usr/local/cuda/bin; the record's nvcc version is that compiler's own."""
    monkeypatch.setattr(toolchain, "cuda_root", lambda: None)
    home, on_path = fake_nvcc(tmp_path / "home"), fake_nvcc(tmp_path / "path")
    monkeypatch.setenv("CUDA_HOME", str(home.parents[1]))
    monkeypatch.setenv("PATH", f"{on_path.parent}:/usr/bin:/bin")
    assert toolchain.nvcc() == home
    assert toolchain.nvcc_version(home) == "13.0.48"
    monkeypatch.delenv("CUDA_HOME")
    monkeypatch.delenv("CUDA_PATH", raising=False)
    assert toolchain.nvcc() == on_path
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(toolchain, "TOOLKIT_DEFAULT", home)
    assert toolchain.nvcc() == home


def test_mixed_cuda_releases_are_refused(monkeypatch):
    if extra_missing():
        pytest.skip(f"the `inspect` extra is not installed: {extra_missing()}")
    monkeypatch.setattr(toolchain, "release", lambda wheel: "13.5" if wheel == "nvidia-nvvm" else "13.0")
    with pytest.raises(ops.UsageError, match="different releases.*nvidia-nvvm 13.5"):
        toolchain.nvcc()


# --- compiling: the inspect extra -----------------------------------------------------------

def compiled_dtypes(spec, seed=SAMPLE_SEED):
    """The dtypes of an op compiled here: its GPU dtypes, and one of the others (fp32, fp16:
    what a user may ask a GPU for) drawn by the seed, a different one as the seed changes;
    `python -m bench inspect --arch sm_90a` compiles them all."""
    gpu = list(getattr(spec, "GPU_DTYPES", None) or spec.DTYPES)
    others = [d for d in spec.DTYPES if d not in gpu]
    return gpu + ([others[(seed + len(spec.NAME)) % len(others)]] if others else [])


# A step of several ops (spec.CHAINS: attention_train) launches those ops' kernels, compiled
# here in their own right; tests/test_attention_train.py checks what the step launches.
COMPILED_DTYPES = {op: compiled_dtypes(ops.load_spec(op)) for op in ops.OPS if not hasattr(ops.load_spec(op), "CHAINS")}


@pytest.fixture(scope="module")
def records():
    """Every op x DSL for sm_90a at its GPU dtypes and one other (one config per dtype, a
    different one each), and matmul fp16 for sm_80 (no warpgroup MMA there), in one go."""
    job_list = [j for j in compile_report.jobs(arch_text="sm_90a", every_config=False)
                if j["dtype"] in COMPILED_DTYPES.get(j["op"], ())]
    job_list += compile_report.jobs("matmul", dtype_text="fp16", arch_text="sm_80", every_config=False)
    return compiled(job_list)


def test_each_op_compiles_its_gpu_dtypes_and_a_drawn_other():
    matmul = ops.load_spec("matmul")
    drawn = {compiled_dtypes(matmul, seed)[-1] for seed in range(4)}
    assert drawn == {"fp32", "fp16"} and all(compiled_dtypes(matmul, seed)[0] == "bf16" for seed in range(4))
    assert compiled_dtypes(ops.load_spec("fp8_gemm")) == ["e4m3"]


def uses_warpgroup_mma(record):
    return record["metrics"]["sass"].get(WARPGROUP_MMA[record["dtype"]], 0) > 0


@needs_extra
def test_every_kernel_of_both_dsls_compiles_for_sm_90a(records):
    hopper = [r for r in records if r["arch"] == "sm_90a"]
    expected = {(op, d, b) for op in COMPILED_DTYPES for d in COMPILED_DTYPES[op] for b in ops.dsl_backends(ops.load_spec(op))}
    assert {(r["op"], r["dtype"], r["backend"]) for r in hopper} == expected
    for r in hopper:
        where = f"{r['op']} {r['backend']} {r['dtype']} {r['config']}"
        assert r["status"] == "compiled", f"{where}: {r['reason']}"
        m = r["metrics"]
        assert 0 < m["registers"] <= 255 and m["threads"] >= 32, where
        assert m["compile_ms"] > 0 and sum(m["sass"].values()) > 10, where
        if (r["op"], r["dtype"]) in DOT_KERNELS:  # a tensor-core dot stages its operands in shared memory
            assert m["smem_bytes"] > 0, where
    # compiled although this test process runs Triton in its interpreter (workers drop it)
    assert DEVICE == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


DOT_BACKENDS = [(op, dtype, b) for op, dtype in DOT_KERNELS if dtype in COMPILED_DTYPES[op]
                for b in ops.dsl_backends(ops.load_spec(op))]


@needs_extra
@pytest.mark.parametrize("op,dtype,backend", DOT_BACKENDS, ids=["-".join(c) for c in DOT_BACKENDS])
def test_dot_kernels_use_warpgroup_mma_on_hopper(records, op, dtype, backend):
    [r] = [r for r in records if (r["op"], r["dtype"], r["backend"], r["arch"]) == (op, dtype, backend, "sm_90a")]
    assert r["status"] == "compiled", r["reason"]
    counts = r["metrics"]["sass"]
    assert uses_warpgroup_mma(r), (f"{backend} {op} {dtype} {r['config']} on sm_90a has no {WARPGROUP_MMA[dtype]} "
                                   f"(HMMA {counts.get('HMMA', 0)}): fell back to warp-level MMA")


@needs_extra
def test_the_warpgroup_mma_check_fails_without_it(records):
    """On sm_80 there is no warpgroup MMA: the check above must say no (the dot is HMMA there)."""
    ampere = [r for r in records if r["arch"] == "sm_80"]
    assert {r["backend"] for r in ampere} == set(ops.dsl_backends(ops.load_spec("matmul")))
    for r in ampere:
        assert r["status"] == "compiled", r["reason"]
        assert not uses_warpgroup_mma(r) and r["metrics"]["sass"].get("HMMA", 0) > 0


def test_a_kernel_that_fails_to_compile_is_an_error_row_and_the_rest_go_on():
    """tests/inspect_fake_op: its wrapper launches, forgets to launch, or kills the worker."""
    job_list = compile_report.jobs("tests.inspect_fake_op", "triton")
    rows = list(compile_report.run(job_list, workers=1))
    assert [(r["config"]["mode"], r["status"]) for r in rows] == [
        ("ok", "compiled"), ("two_kernels", "compiled"), ("no_launch", "error"), ("crash", "error")]
    assert rows[0]["metrics"]["registers"] > 0 and rows[0]["metrics"]["sass"].get("STG", 0) > 0
    assert "kernels" not in rows[0]["metrics"]
    assert rows[2]["reason"] == "RuntimeError: tests.inspect_fake_op.triton_matched.fake did not launch fake_kernel"
    assert rows[3]["reason"].startswith("compile worker died: BrokenProcessPool")


def test_a_backend_launching_two_kernels_is_read_kernel_by_kernel():
    """A split-KV pass and its combine: both compiled, each with its own facts, the sums on top."""
    job_list = [j for j in compile_report.jobs("tests.inspect_fake_op", "triton") if j["config"]["mode"] == "two_kernels"]
    [row] = list(compile_report.run(job_list, workers=1))
    m = row["metrics"]
    kernels = {k["name"]: k for k in m["kernels"]}
    assert set(kernels) == {"fake_kernel", "halve_kernel"}
    assert kernels["fake_kernel"]["threads"] == 128 and kernels["halve_kernel"]["threads"] == 64  # num_warps 4 and 2
    assert m["sass"]["STG"] == kernels["fake_kernel"]["sass"]["STG"] + kernels["halve_kernel"]["sass"]["STG"]
    assert m["main_kernel"] in kernels and m["threads"] == kernels[m["main_kernel"]]["threads"]


def test_combining_kernels_sums_spills_and_counts_and_keeps_the_main_ones_facts():
    kernels = {"split": {"registers": 200, "threads": 256, "spill_store_bytes": 0, "spill_load_bytes": 8,
                         "sass": {"HGMMA": 4, "STG": 2}, "mma": {"HGMMA.64x128x16.F32.BF16": 4}},
               "combine": {"registers": 40, "threads": 128, "spill_store_bytes": 4, "spill_load_bytes": 0,
                           "sass": {"STG": 1}, "mma": {}}}
    m = sass.combine(kernels, "split")
    assert (m["registers"], m["threads"], m["spill_store_bytes"], m["spill_load_bytes"]) == (200, 256, 4, 8)
    assert m["sass"] == {"HGMMA": 4, "STG": 3} and m["mma"] == {"HGMMA.64x128x16.F32.BF16": 4}
    assert [k["name"] for k in m["kernels"]] == ["split", "combine"]
    assert sass.combine({"only": kernels["split"]}, "only") == kernels["split"]


@needs_extra
def test_cli_json_and_out_file(records, tmp_path, capsys, monkeypatch):
    """The CLI's plumbing, on the records compiled above (compiling again would only cost time)."""
    mine = [r for r in records if r["op"] == "matmul" and r["arch"] == "sm_90a"]
    asked = []
    monkeypatch.setattr(compile_report, "run", lambda job_list, workers: asked.append(job_list) or iter(mine))
    out = tmp_path / "inspect.jsonl"
    assert cli.main(["inspect", "--op", "matmul", "--dtype", "fp16", "--json", "--out", str(out)]) == 0
    matmul = ops.load_spec("matmul")
    assert [(j["backend"], j["dtype"]) for j in asked[0]] == [
        (b, "fp16") for t in ops.tracks(matmul) for _ in matmul.configs_for("fp16", t)
        for b in ops.dsl_backends(matmul) if ops.split_backend(b)[1] == t]
    printed = json.loads(capsys.readouterr().out)
    stored = load(out)
    assert printed == stored and len(stored) == len(mine)
    for r in stored:
        assert r["kind"] == "inspect" and r["arch"] == "sm_90a" and r["status"] == "compiled"
        assert {"schema", "op", "backend", "dtype", "shape", "config", "metrics", "env", "utc"} <= r.keys()
        assert {"registers", "spill_store_bytes", "smem_bytes", "compile_ms", "sass"} <= r["metrics"].keys()
    failed = dict(mine[0], status="error", reason="RuntimeError: nvcc failed", metrics={})
    monkeypatch.setattr(compile_report, "run", lambda job_list, workers: iter([mine[0], failed]))
    assert cli.main(["inspect", "--op", "matmul"]) == 1
    table_out = capsys.readouterr().out
    assert "error: RuntimeError: nvcc failed" in table_out and "1 compiled, 1 failed" in table_out


def test_inspect_suite_headline_is_every_kernel_the_headline_compiles(capsys):
    """Every config of every DSL backend at every headline shape: what a GPU window's headline
    run compiles (jobs only; nothing is compiled here)."""
    job_list = compile_report.headline_jobs(arch_text="sm_90a")
    expected = 0
    for op in ops.OPS:
        spec = ops.load_spec(op)
        for shape in getattr(spec, "HEADLINE_SUITE", ()):
            [dtype] = [d for d in getattr(spec, "GPU_DTYPES", spec.DTYPES) if spec.headline(shape, d)]
            expected += sum(len(ops.backend_configs(spec, b, dtype, "sm_90a")) for b in ops.dsl_backends(spec))
    assert len(job_list) == expected > 0
    assert {j["op"] for j in job_list} == {"matmul", "attention", "attention_bwd", "fp8_gemm", "grouped_gemm"}
    assert all(ops.load_spec(j["op"]).headline(j["shape"], j["dtype"]) for j in job_list)
    assert cli.main(["inspect", "--suite", "headline", "--op", "matmul"]) == 2
    assert "give no --op or --dtype" in capsys.readouterr().err

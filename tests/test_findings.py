"""The DSL maturity ledger (findings/, bench/ledger/): every finding follows the convention, its
workaround still exists and names it, and the runner tells present, fixed, skipped and a broken
reproducer apart. The reproducers themselves run in CI through `dslbench findings` (.ci/run),
once each, not again here."""
import ast
import json
import re
import textwrap
from pathlib import Path

import pytest

from bench import cli
from bench.core import findings as entries
from bench.ledger import check, command
from bench.results import ledger as ledger_report

ROOT = Path(__file__).resolve().parents[1]
LEDGER = entries.ledger()
MARK = re.compile(r"finding: findings/(\w+)\.py")

# The walls issue 28 lists, each a finding of its own (two where one wall hides two mechanisms):
# the ledger may grow, never lose one of these.
LISTED = {
    "tilelang_gemm_variable_buffer_index",  # B[t % 2] as an MMA operand
    "tilelang_pipelined_dynamic_trip_count",  # cp.async pipeline over a trip count the program sets
    "tilelang_fp32_gemm_no_wgmma",  # fp32 T.gemm: warp-level MMA, no TF32 wgmma
    "tilelang_mma_sync_row_vector_layout_conflict",  # matched sparse MLA off sm_90a
    "tilelang_pipelined_dynamic_trip_count_pre_hopper",  # best dsa_index on sm_80/sm_89
    "tilelang_second_pipelined_same_buffers",
    "tilelang_ws_mixed_tma_insufficient_registers",  # TMA and non-TMA copies, warp-specialized
    "tilelang_disable_tma_lower_deprecated",
    "triton_interpreter_bf16_dot", "triton_interpreter_bf16_cast", "triton_interpreter_e4m3_cast",
    "triton_hopper_ws_ignored_8_warps", "triton_hopper_ws_host_descriptor_128_rows",
    "triton_no_fp8e4nv_sm80",
    "triton_sm100_16warp_dot_hmma",  # best dsa_index's config on sm_100a
}


def names_defined(path):
    """Top-level functions, classes and assigned names of a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


def test_the_ledger_holds_every_listed_finding():
    missing = LISTED - {f.id for f in LEDGER}
    assert not missing, f"issue 28's findings missing from findings/: {sorted(missing)}"


@pytest.mark.parametrize("finding", LEDGER, ids=[f.id for f in LEDGER])
def test_a_finding_names_its_workaround_and_the_workaround_names_it(finding):
    assert finding.id.startswith(f"{finding.dsl}_"), "a finding's file is named <dsl>_<slug>.py"
    assert finding.title and finding.expected and finding.actual and finding.how
    for entry in finding.workaround:
        file, _, name = entry.partition(":")
        path = ROOT / file
        assert path.is_file(), f"{finding.id}: workaround file {file} is gone"
        assert name in names_defined(path), f"{finding.id}: {file} no longer defines {name}"
        assert f"finding: findings/{finding.id}.py" in path.read_text(encoding="utf-8"), \
            f"{file} carries the workaround of {finding.id} but does not name it (# finding: findings/{finding.id}.py)"


def test_every_mark_in_the_code_points_at_a_finding():
    ids = {f.id for f in LEDGER}
    marked = {}
    for path in [*ROOT.glob("kernels/**/*.py"), *ROOT.glob("bench/**/*.py")]:
        for found in MARK.findall(path.read_text(encoding="utf-8")):
            marked.setdefault(found, []).append(str(path.relative_to(ROOT)))
    stale = {k: v for k, v in marked.items() if k not in ids}
    assert not stale, f"marks naming no finding file: {stale}"
    unlisted = {k: v for k, v in marked.items() if k in ids and not set(v) <= {
        w.partition(":")[0] for f in LEDGER if f.id == k for w in f.workaround}}
    assert not unlisted, f"files marked as a finding's workaround that its WORKAROUND does not list: {unlisted}"


def write_finding(folder, name, body, **facts):
    base = {"DSL": "triton", "FOUND_IN": "3.9.0", "KIND": "bug", "TITLE": f"{name} title", "EXPECTED": "e",
            "ACTUAL": "a", "WORKAROUND": [], "HOW": "plain Python"}
    base.update(facts)
    text = "\n".join(f"{k} = {v!r}" for k, v in base.items()) + "\n\n" + textwrap.dedent(body)
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


FAKES = {
    "triton_present": "def reproduce():\n    return True\n",
    "triton_gone": "def reproduce():\n    return False\n",
    "triton_broken": "def reproduce():\n    raise ValueError('not the expected failure')\n",
    "triton_no_answer": "def reproduce():\n    return 'maybe'\n",
    "triton_crash": "import os\n\ndef reproduce():\n    os._exit(3)\n",
    "triton_no_toolchain": "from bench.ledger import Skip\n\ndef reproduce():\n    raise Skip('no nvcc here')\n",
    "triton_env": "import os\n\ndef reproduce():\n    return os.environ.get('TRITON_INTERPRET') == '1'\n",
}


@pytest.fixture
def fake_ledger(tmp_path, monkeypatch):
    for name, body in FAKES.items():
        write_finding(tmp_path, name, body, **({"ENV": {"TRITON_INTERPRET": "1"}} if name == "triton_env" else {}))
    write_finding(tmp_path, "tilelang_limit", "", DSL="tilelang", KIND="limit", NOT_REPRODUCIBLE="needs a GPU")
    monkeypatch.setattr(entries, "folder", lambda: tmp_path)
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # as under pytest: the runner passes it only to files that ask
    return tmp_path


def test_the_runner_tells_each_outcome_apart(fake_ledger):
    records = {r["finding"]: r for r in check.run(entries.ledger(fake_ledger), jobs=2)}
    status = {k: r["status"] for k, r in records.items()}
    assert status == {"triton_present": "present", "triton_gone": "fixed", "triton_broken": "error",
                      "triton_no_answer": "error", "triton_crash": "error", "triton_no_toolchain": "skipped",
                      "triton_env": "present", "tilelang_limit": "not reproduced"}
    assert "ValueError: not the expected failure" in records["triton_broken"]["reason"]
    assert "exit 3" in records["triton_crash"]["reason"]
    assert records["triton_no_toolchain"]["reason"] == "no nvcc here"
    assert records["triton_present"]["release"] == check_release("triton")
    env = records["triton_present"]["env"]  # the machine and versions, as every result record holds them
    assert env["device_kind"] in ("cpu", "gpu") and env["device_name"] and env["torch"] and env["python"]
    assert env["triton"] == check_release("triton") and env["tilelang"] == check_release("tilelang")


def check_release(dsl):
    from bench.core.env import version

    return version(dsl)


def test_an_unset_env_is_not_inherited(fake_ledger):
    """The harness sets TRITON_INTERPRET under pytest: a compile reproducer must not get it."""
    body = "import os\n\ndef reproduce():\n    return 'TRITON_INTERPRET' in os.environ\n"
    path = write_finding(fake_ledger, "triton_inherits", body)
    assert check.probe(entries.read(path))["status"] == "fixed"


def test_a_hung_reproducer_is_an_error(tmp_path):
    path = write_finding(tmp_path, "triton_hang", "import time\n\ndef reproduce():\n    time.sleep(60)\n")
    result = check.probe(entries.read(path), timeout=3)
    assert result["status"] == "error" and "timed out" in result["reason"]


def test_the_command_fails_on_a_broken_reproducer_only_and_prints_a_fix_loudly(fake_ledger, capsys):
    assert cli.main(["findings", "--finding", "triton_present,triton_gone,tilelang_limit"]) == 0
    out = capsys.readouterr().out
    assert "FIXED on triton" in out and "triton_gone" in out.split("FIXED on triton")[1]
    assert "open on this install: Triton 1 (1 bug, 0 limits), TileLang 0" in out
    assert cli.main(["findings", "--finding", "triton_present,triton_broken"]) == 1
    assert "ERROR: triton_broken: the reproducer broke: ValueError" in capsys.readouterr().out


def test_json_and_out_hold_one_record_per_finding(fake_ledger, tmp_path, capsys):
    out = tmp_path / "ledger.jsonl"
    assert cli.main(["findings", "--dsl", "tilelang", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["finding"] for r in printed] == [r["finding"] for r in saved] == ["tilelang_limit"]
    assert saved[0]["kind"] == "finding" and saved[0]["status"] == "not reproduced"


@pytest.mark.parametrize("argv, message", [
    (["findings", "--dsl", "cuda"], "unknown dsl 'cuda'"),
    (["findings", "--finding", "triton_nothing"], "unknown finding 'triton_nothing'"),
    (["findings", "--jobs", "0"], "--jobs 0 must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_2(fake_ledger, capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_file_off_the_convention_is_named_in_one_line(tmp_path):
    bad = write_finding(tmp_path, "triton_bad", "def reproduce():\n    return True\n", KIND="annoyance")
    with pytest.raises(entries.LedgerError, match="triton_bad.py: KIND 'annoyance' is not one of bug, limit"):
        entries.read(bad)
    (tmp_path / "triton_bare.py").write_text("TITLE = 'x'\n")
    with pytest.raises(entries.LedgerError, match="triton_bare.py: lacks DSL, FOUND_IN, KIND"):
        entries.read(tmp_path / "triton_bare.py")
    both = write_finding(tmp_path, "triton_both", "def reproduce():\n    return True\n", NOT_REPRODUCIBLE="why")
    with pytest.raises(entries.LedgerError, match="not both"):
        entries.read(both)


def finding_record(name, dsl, kind, status, release):
    return {"schema": 1, "kind": "finding", "finding": name, "dsl": dsl, "finding_kind": kind, "found_in": "1.0",
            "release": release, "title": f"{name} goes wrong", "actual": "a", "workaround": [], "status": status}


RECORDS = [finding_record("tilelang_a", "tilelang", "bug", "present", "0.1.15"),
           finding_record("tilelang_b", "tilelang", "limit", "present", "0.1.15"),
           finding_record("tilelang_c", "tilelang", "bug", "fixed", "0.1.15"),
           finding_record("triton_a", "triton", "bug", "present", "3.9.0"),
           finding_record("triton_b", "triton", "limit", "not reproduced", "3.9.0")]


def test_the_verdict_counts_open_bugs_apart_from_limits():
    line = ledger_report.verdict_line(RECORDS)[0]
    assert "TileLang 1 bug and 1 limit (1 more fixed since found)" in line
    assert "Triton 1 bug and 0 limits" in line
    assert "tilelang 0.1.15, triton 3.9.0" in line


def test_the_report_says_what_got_in_the_way(tmp_path):
    from bench.results import report

    run = tmp_path / "run.jsonl"
    run.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    text, _ = report.write(run, tmp_path / "out")
    body = text.read_text()
    assert "## What got in the way" in body and "| TileLang | tilelang_c | bug | 1.0 | fixed (0.1.15) |" in body
    assert "**What got in the way** (open on this run's install" in body


def test_without_records_the_report_shows_the_checkouts_ledger_unchecked():
    lines = ledger_report.section([])
    assert any("Not checked against this run's releases" in line for line in lines)
    assert sum(line.startswith("| ") for line in lines) == len(LEDGER) + 1  # the header row and one per finding


def test_compare_puts_two_releases_side_by_side(tmp_path, capsys):
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    old.write_text(json.dumps(finding_record("triton_a", "triton", "bug", "present", "3.6.0")) + "\n")
    new.write_text(json.dumps(finding_record("triton_a", "triton", "bug", "fixed", "3.9.0")) + "\n")
    assert cli.main(["findings", "--compare", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "triton 3.6.0" in out and "triton 3.9.0" in out
    assert "changed: triton_a: present (triton 3.6.0) -> fixed (triton 3.9.0)" in out
    both = tmp_path / "both.jsonl"  # a ledger checking TileLang too: not a change for a ledger that did not
    both.write_text(new.read_text() + json.dumps(finding_record("tilelang_a", "tilelang", "bug", "present", "0.1.15")) + "\n")
    assert cli.main(["findings", "--compare", str(old), str(both)]) == 0
    assert "changed: tilelang_a" not in capsys.readouterr().out
    (tmp_path / "cases.jsonl").write_text(json.dumps({"schema": 1, "kind": "machine"}) + "\n")
    assert cli.main(["findings", "--compare", str(old), str(tmp_path / "cases.jsonl")]) == 2


def test_nvcc_failures_name_ptxas_own_reason():
    from bench.inspect.tilelang_build import first_error

    log = ("ptxas info    : 0 bytes gmem\nptxas fatal   : (C7602) Insufficient registers (128) to compile\n"
           "ptxas fatal   : Ptx assembly aborted due to errors\n")
    assert first_error(log) == "ptxas fatal   : (C7602) Insufficient registers (128) to compile"
    assert first_error("kernel.cu(3): error: identifier x is undefined\n1 error detected") == \
        "kernel.cu(3): error: identifier x is undefined"
    assert first_error("something odd\nlast words") == "last words"


def test_a_report_of_two_releases_shows_each_ledger_side_by_side(tmp_path):
    from bench.results import multirun

    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    env36, env39 = {"triton": "3.6.0", "tilelang": "0.1.15"}, {"triton": "3.9.0", "tilelang": "0.1.15"}
    old.write_text("".join(json.dumps({**r, "env": env36}) + "\n" for r in (
        finding_record("triton_a", "triton", "bug", "present", "3.6.0"),
        finding_record("tilelang_a", "tilelang", "bug", "present", "0.1.15"))))
    new.write_text(json.dumps({**finding_record("triton_a", "triton", "bug", "fixed", "3.9.0"), "env": env39}) + "\n")
    body = multirun.write([old, new], tmp_path / "out")[0].read_text()
    assert "## What got in the way, run by run" in body
    assert "| Triton | triton_a | bug | 1.0 | present | fixed | yes |" in body
    assert "| TileLang | tilelang_a | bug | 1.0 | present | - | - |" in body
    assert "triton 3.6.0" in body and "triton 3.9.0" in body  # columns labelled by the release that differs

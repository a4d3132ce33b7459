"""The best track's config rule (README: Fairness): one shared list per op and track, the union
of what each DSL's best kernels use; a config one DSL cannot take is `skipped` for that DSL
alone, with the reason, in its autotune record, and the report lists those configs."""
import pytest

from bench.run import backends
from kernels import Skip
from kernels.sparse_mla import spec as mla


class OutOfResources(Exception):  # the name Triton's launcher raises when a config asks for too much
    pass


def build_of(outcomes):
    """A build whose configs {"n": i} compile and run (None), or raise the exception given."""
    def build(config):
        outcome = outcomes[config["n"]]
        if isinstance(outcome, Skip):
            raise outcome

        def run():
            if outcome is not None:
                raise outcome
        return run
    return build


def test_a_config_a_dsl_cannot_take_is_skipped_with_its_reason_and_the_others_run():
    build = build_of([OutOfResources("out of resource: shared memory, Required: 238592, Hardware limit: 232448"),
                      Skip("TMA needs 16-byte rows"), ValueError("wrong layout"), None])
    prepared = backends.autotune(build, [{"n": i} for i in range(4)], "cpu")
    assert prepared.config == {"n": 3}
    first, second, third, fourth = prepared.tried
    assert first["skipped"].startswith("OutOfResources: out of resource: shared memory") and "error" not in first
    assert second == {"config": {"n": 1}, "skipped": "TMA needs 16-byte rows"}
    assert third["error"] == "ValueError: wrong layout" and "skipped" not in third  # an error stays an error
    assert "median_ms" in fourth


@pytest.mark.parametrize("message", ["ptxas error   : Entry function 'k' uses too much shared data (0x3a000 bytes)",
                                     "ptxas fatal: Insufficient registers (64) for __launch_bounds__(1024,1)",
                                     "CUDA error: too many resources requested for launch"])
def test_resource_refusals_read_as_refusals(message):
    assert backends.refusal(RuntimeError(message)) == f"RuntimeError: {message}"
    assert backends.refusal(RuntimeError("an illegal shape")) is None


def test_a_dsl_that_takes_no_config_is_skipped_not_failed():
    with pytest.raises(Skip, match="TMA needs 16-byte rows"):
        backends.autotune(build_of([Skip("TMA needs 16-byte rows")] * 2), [{"n": 0}, {"n": 1}], "cpu")
    with pytest.raises(RuntimeError, match="no config compiled: ValueError"):
        backends.autotune(build_of([Skip("no"), ValueError("bad")]), [{"n": 0}, {"n": 1}], "cpu")


def test_the_first_config_is_the_first_this_dsl_takes():
    """`config="first"` (a check, the CPU paths): configs refused before it are in `tried`."""
    prepared = backends.first_taken(build_of([OutOfResources("out of resource: shared memory"), None]),
                                    [{"n": 0}, {"n": 1}], "cpu")
    assert prepared.config == {"n": 1} and prepared.tried[0]["skipped"].startswith("OutOfResources")
    with pytest.raises(ValueError):  # an error of the first config is the result, not a reason to move on
        backends.first_taken(build_of([ValueError("bad"), None]), [{"n": 0}, {"n": 1}], "cpu")
    with pytest.raises(Skip):
        backends.first_taken(build_of([Skip("no"), Skip("no")]), [{"n": 0}, {"n": 1}], "cpu")


def test_sparse_mlas_best_list_holds_flashmlas_tile():
    """FlashMLA's sparse prefill (csrc/sm90/prefill/sparse/fwd.cu: B_H = 64, B_TOPK = 64, two key
    buffers, 384 threads) is in the best list both DSLs autotune over, beside our 32-key tiles."""
    assert mla.BLOCK_H == 64
    assert dict(block_N=64, num_stages=2, threads=256) in mla.configs_for("bf16", "best")
    assert mla.smem_bytes(dict(block_N=64, num_stages=2), "bf16") == (64 * 576 + 2 * 64 * 576 + 64 * 64) * 2


def test_the_report_lists_the_configs_a_dsl_could_not_take():
    from bench.results import report

    reason = "OutOfResources: out of resource: shared memory, Required: 238592, Hardware limit: 232448"
    record = {"op": "sparse_mla", "dtype": "bf16", "backend": "triton-best", "shape": dict(B=1, Sq=4096),
              "autotune": [{"config": dict(block_N=64, num_stages=2), "skipped": reason},
                           {"config": dict(block_N=32, num_stages=3), "median_ms": 1.0}]}
    other = dict(record, shape=dict(B=2, Sq=4096))
    lines = report.untaken_lines({("sparse_mla", "bf16"): [record, other]})
    assert lines[0].startswith("Configs of the shared list a backend could not take")
    [row] = [line for line in lines if "triton-best" in line]
    assert "block_N=64, num_stages=2" in row and "| 2 |" in row and "Hardware limit: 232448" in row
    assert report.untaken_lines({("sparse_mla", "bf16"): [dict(record, autotune=record["autotune"][1:])]}) == []

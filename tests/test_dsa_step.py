"""One DeepSeek Sparse Attention step end to end (kernels/dsa_step): every backend's indexer ->
top-k -> sparse MLA against the float64 reference of each stage, the per-stage times
(spec.STAGES, the record's stage_time), TileLang's chain of two compiled kernels, the
top-k's tie rule, and wrong steps that must fail."""
import pytest
import torch

from bench.core import ops
from bench.run import check, runner
from kernels.dsa_step import spec as step
from tests.conftest import DEVICE

DSL_BACKENDS = ops.dsl_backends(step)
EMPTY_ROWS_LOG = pytest.mark.filterwarnings("ignore:divide by zero encountered in log2")


def records(names, shape, timed=False, seed=1):
    return list(runner.run_group(step, names, "bf16", shape, seed=seed, device=DEVICE, timed=timed))


@EMPTY_ROWS_LOG
def test_every_backend_checks_each_stage_against_its_float64_reference():
    """A decode batch (the best tracks split sparse MLA's top-k and cut the indexer's keys):
    the scores, the indices (exact), o and lse of every DSL backend and torch pass; the
    vendor chain says why it cannot run here."""
    shape = step.CPU_SUITE[1]
    names = [*DSL_BACKENDS, *step.BASELINES, "reference"]
    found = records(names, shape)
    assert sorted(r["backend"] for r in found) == sorted(names)  # one record per backend, none lost
    for r in found:
        if r["backend"] == "deepgemm-flashmla" and DEVICE == "cpu":
            assert r["status"] == "skipped" and ("not installed" in r["reason"] or "GPU" in r["reason"])
            continue
        assert r["status"] == "pass", f"{r['backend']}: {r['status']} {r['reason']}"
        assert r["reason"] == "" and set(r["tolerance"]) == set(step.OUTPUTS)  # every stage's output checked


@EMPTY_ROWS_LOG
def test_the_model_heads_and_top_k_over_the_indexers_choice():
    """Held out of the CPU suite: V3.2's 128 heads, topk 2048 of 4096 keys chosen by the indexer
    (one decode query: the best tracks split its top-k 32 ways, and cut the keys into chunks)."""
    shape = dict(B=1, Sq=1, Skv=4096, H=128, topk=2048)
    best = [b for b in DSL_BACKENDS if ops.split_backend(b)[1] == "best"]
    found = records(best, shape)
    assert sorted(r["backend"] for r in found) == sorted(best)
    for r in found:
        assert r["status"] == "pass", f"{r['backend']}: {r['status']} {r['reason']}"


@EMPTY_ROWS_LOG
def test_each_stage_is_timed_after_the_whole():
    shape = step.CPU_SUITE[0]
    timed = records(["tilelang-best", "torch"], shape, timed=True)
    assert [r["backend"] for r in timed] == ["tilelang-best", "torch"]
    for r in timed:
        assert r["status"] == "pass" and r["time"]["median_ms"] > 0
        assert list(r["stage_time"]) == list(step.STAGES)
        assert all(s["median_ms"] > 0 and s["n"] >= 1 for s in r["stage_time"].values())
    # an op without stages records none
    from kernels.dsa_index import spec as index
    [plain] = runner.run_group(index, ["torch"], "e4m3", index.CPU_SUITE[3], seed=1, device=DEVICE, timed=True)
    assert "stage_time" not in plain


# --- the top-k's ties --------------------------------------------------------------------------

def tie_case():
    """One row of 5 keys, topk 3: the third and fourth best tie within the band."""
    score = torch.tensor([[[5.0, 4.0, 3.0, 2.999, 1.0]]], dtype=torch.float64)
    return score, torch.tensor([[[0, 1, 2]]], dtype=torch.int32)


def test_the_tie_band_is_twice_the_indexers_error():
    score, _ = tie_case()
    assert step.tie_band(score) == pytest.approx(2 * 2e-3 * 5.0)
    assert step.TOLERANCE["bf16"]["indices"] == (0.0, 0.0)


@pytest.mark.parametrize("got,accepted", [
    ([0, 1, 2], True),
    ([0, 1, 3], True),  # the fourth best for the third: tied
    ([3, 0, 1], True),  # and in another order
    ([0, 1, 4], False),  # a key far below the k-th
    ([0, 2, 3], False),  # the second best left out
    ([0, 1, -1], False),  # one key fewer
], ids=["same", "tie", "tie-reordered", "far-below", "best-left-out", "fewer"])
def test_a_top_k_may_differ_only_among_tied_keys(got, accepted):
    score, want = tie_case()
    assert step.tied_topk(torch.tensor([[got]], dtype=torch.int32), want, score) is accepted


def test_tied_indices_are_checked_against_the_sparse_mla_of_their_own_keys():
    shape = dict(B=1, Sq=3, Skv=6, H=16, topk=4)
    inputs = step.make_inputs(shape, "bf16", seed=3)
    reference = step.reference(inputs, topk=4)
    # make the 4th and 5th best keys of query 2 tie exactly, and take the 5th instead
    score, indices = reference["score"].clone(), reference["indices"].clone()
    order = score[0, 2].argsort(descending=True)
    score[0, 2, order[4]] = score[0, 2, order[3]]
    reference = dict(reference, score=score)
    swapped = indices.clone()
    swapped[0, 2][swapped[0, 2] == order[3]] = order[4].item()
    adapted = step.reference_for(inputs, {"indices": swapped}, reference)
    assert torch.equal(adapted["indices"], swapped)
    own = step.mla.reference(step.mla_inputs(inputs, swapped))
    assert torch.equal(adapted["o"], own["o"]) and not torch.equal(adapted["o"], reference["o"])
    far = indices.clone()
    far[0, 2, 0] = order[5].item()  # the worst key for the best: no tie
    assert step.reference_for(inputs, {"indices": far}, reference) is reference


# --- wrong steps fail -----------------------------------------------------------------------------

WRONG = {
    "score-1pct-off": lambda out: dict(out, score=out["score"] * 1.01),
    "indices-off-by-one": lambda out: dict(out, indices=torch.where(out["indices"] > 0, out["indices"] - 1,
                                                                    out["indices"])),
    "o-2pct-off": lambda out: dict(out, o=out["o"] * 1.02),
    "lse-shifted": lambda out: dict(out, lse=out["lse"] + 1e-2),
}


@pytest.mark.parametrize("wrong", WRONG.values(), ids=WRONG.keys())
def test_a_wrong_stage_fails_the_check(wrong):
    shape = step.CPU_SUITE[0]
    inputs = step.make_inputs(shape, "bf16", seed=4)
    reference = step.reference(inputs, topk=shape["topk"])
    right = {"score": reference["score"].float(), "indices": reference["indices"],
             "o": reference["o"].to(torch.bfloat16), "lse": reference["lse"].float()}
    tolerance = step.TOLERANCE["bf16"]
    assert check.compare(right, step.reference_for(inputs, right, reference), tolerance)["passed"]
    outputs = wrong(right)
    assert not check.compare(outputs, step.reference_for(inputs, outputs, reference), tolerance)["passed"]


def test_configs_chain_each_ops_first_config_of_the_track():
    for track in ops.tracks(step):
        [config] = step.configs_for("bf16", track)
        index_config, mla_config = step.split_config(config)
        assert index_config == step.index.CONFIGS[track][0] and mla_config == step.mla.CONFIGS[track][0]
        assert step.step_config(index_config, mla_config) == config
    shape = step.GPU_SUITE[0]
    assert step.flops(shape) == step.index.flops(step.index_shape(shape)) + step.mla.flops(step.mla_shape(shape))

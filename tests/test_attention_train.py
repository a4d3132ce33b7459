"""One attention training step (kernels/attention_train): every backend's forward, then its
backward on the o and lse it wrote, against the float64 reference of each output; the stages
timed alone beside the whole; the step's inputs, configs, FLOPs and shapes are its two ops'."""
import pytest
import torch

from bench.core import ops
from bench.run import runner
from kernels.attention import spec as forward
from kernels.attention_bwd import spec as backward
from kernels.attention_train import spec as step
from tests.conftest import DEVICE

DSL_BACKENDS = ops.dsl_backends(step)


def records(names, shape, dtype, timed=False, seed=1):
    return list(runner.run_group(step, names, dtype, shape, seed=seed, device=DEVICE, timed=timed))


# Each CPU shape in one 16-bit dtype: the step's kernels are its ops', checked in every dtype in
# tests/test_attention.py and tests/test_attention_bwd.py; here what is checked is the chaining.
@pytest.mark.parametrize("shape, dtype", [(step.CPU_SUITE[0], "fp16"), (step.CPU_SUITE[1], "bf16")],
                         ids=lambda v: ops.shape_str(v) if isinstance(v, dict) else v)
def test_every_backend_checks_both_halves_against_their_float64_reference(shape, dtype):
    names = [*DSL_BACKENDS, *step.BASELINES]
    found = records(names, shape, dtype)
    assert sorted(r["backend"] for r in found) == sorted(names)  # one record per backend, none lost
    for r in found:
        if r["backend"] in ("sdpa-flash", "sdpa-cudnn", "flash-attn") and DEVICE == "cpu":
            assert r["status"] == "skipped", r
            continue
        assert r["status"] == "pass", f"{r['backend']} {dtype}: {r['status']} {r['reason']}"
        assert {"o", "dq", "dk", "dv"} <= set(r["tolerance"]), r["backend"]  # both halves' outputs checked


def test_each_stage_is_timed_beside_the_whole():
    timed = records(["triton-matched", "torch"], step.CPU_SUITE[1], "fp16", timed=True)
    assert [r["backend"] for r in timed] == ["triton-matched", "torch"]
    for r in timed:
        assert r["status"] == "pass" and r["time"]["median_ms"] > 0
        assert list(r["stage_time"]) == ["forward", "backward"]
        assert all(s["median_ms"] > 0 and s["n"] >= 1 for s in r["stage_time"].values())


def test_the_backward_stage_runs_on_what_the_forward_left():
    """stage="forward" writes o and lse only; stage="backward" then writes the gradients."""
    from kernels.attention_train import triton_matched as kernel

    shape = step.CPU_SUITE[0]
    inputs = step.make_inputs(shape, "fp16", seed=2)
    out = step.make_outputs(shape, "fp16")
    config = step.configs_for("fp16", "matched")[0]
    scratch = kernel.workspace(shape, "fp16", config, "cpu")
    run = lambda stage: kernel.attention_train(*inputs.values(), *out.values(), causal=True, stage=stage,  # noqa: E731
                                               **scratch, **config)
    run("forward")
    assert not out["o"].isnan().any() and out["dq"].isnan().all() and out["dk"].isnan().all()
    run("backward")
    truth = step.reference(inputs, causal=True)
    for name in ("dq", "dk", "dv"):
        err = (out[name].double() - truth[name]).norm() / truth[name].norm()
        assert err < step.TOLERANCE["fp16"][name][0], name


def test_the_inputs_are_the_backwards_and_the_outputs_both_ops():
    shape = step.CPU_SUITE[0]
    mine, theirs = step.make_inputs(shape, "bf16", seed=3), backward.make_inputs(shape, "bf16", seed=3)
    assert list(mine) == ["q", "k", "v", "do"] and all(torch.equal(mine[n], theirs[n]) for n in mine)
    assert step.OUTPUTS == forward.OUTPUTS + backward.OUTPUTS
    assert step.TOLERANCE["bf16"] == {**forward.TOLERANCE["bf16"], **backward.TOLERANCE["bf16"]}
    gpu = step.GPU_SUITE[0]
    assert step.flops(gpu) == 3.5 * forward.flops(gpu)  # flash-attention's count of a step: fwd + 2.5 fwd


def test_configs_chain_each_ops_configs_of_the_track():
    for track in ops.tracks(step):
        for dtype in step.DTYPES:
            chained = step.configs_for(dtype, track)
            assert chained, (track, dtype)
            for config in chained:
                fwd, bwd = step.split_config(config)
                assert fwd in forward.configs_for(dtype, track) and bwd in backward.configs_for(dtype, track)
                assert step.step_config(fwd, bwd) == config
        first = step.split_config(step.CONFIGS[track][0])
        assert first == (forward.CONFIGS[track][0], backward.CONFIGS[track][0])


def test_a_decode_sized_query_is_refused_in_one_line():
    problem = step.validate(dict(B=1, Hq=8, Hkv=8, Sq=8, Skv=4096, D=128, causal=0))
    assert "training step needs Sq > 8" in problem and "\n" not in problem
    assert step.validate(dict(B=1, Hq=8, Hkv=8, Sq=9, Skv=4096, D=128, causal=0)) is None


LAUNCHED = """
import json
from bench.core import ops, triton_launch
from kernels.attention_train import spec as step
out = {}
for track in ops.tracks(step):
    backend = ops.backend_name("triton", track)
    config = step.CONFIGS[track][0]
    fwd, bwd = step.split_config(config)
    def names(op, config):
        spec = ops.load_spec(op)
        return [[f.fn.__module__, f.fn.__name__, sorted((k, v) for k, v in kw.items() if k.isupper())]
                for f, _, kw in triton_launch.launches(spec, backend, step.INSPECT_SHAPE, "bf16", config)]
    out[track] = [names("attention_train", config), names("attention", fwd) + names("attention_bwd", bwd)]
print(json.dumps(out))
"""


def test_the_triton_step_launches_its_ops_kernels_with_their_configs():
    """What `dslbench inspect` reads of a step (no compile): the forward's kernel, then the
    backward's, each launched as its own op launches it at the step's halves of the config."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # launches want real JITFunctions
    p = subprocess.run([sys.executable, "-c", LAUNCHED], env=env, capture_output=True, text=True, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert p.returncode == 0, p.stderr[-2000:]
    for track, (chained, alone) in json.loads(p.stdout).items():
        assert chained == alone, track
        modules = [m for m, _, _ in chained]
        assert modules[0] == f"kernels.attention.triton_{track}" and len(set(modules)) == 2, modules


def test_the_tilelang_step_builds_the_forwards_kernel_and_the_backwards():
    from kernels.attention_train import tilelang_matched as kernel

    config = step.CONFIGS["matched"][0]
    built = kernel.attention_train_kernel(**step.CPU_SUITE[0], dtype="float16", **config)
    assert list(built) == ["forward", "bwd_preprocess", "bwd_dkdv", "bwd_dq"]
    assert built["forward"][1] == kernel.forward.PASS_CONFIGS and built["bwd_dq"][1] == kernel.backward.PASS_CONFIGS

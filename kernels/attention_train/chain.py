"""The host side of a training step, for any track: the forward's kernels, then the backward's
on the o and lse the forward wrote; both stages in order, or one of them (stage=, for the
per-stage times). Each track's module (triton_<track>.py, tilelang_<track>.py) names the two
kernel modules it chains; the kernels and their techniques are theirs."""
from kernels.attention_train.spec import split_config

BACKWARD = "bwd_"  # TileLang: the backward's kernels are named with this prefix in the factory's dict


def backward_workspace(backward):
    """workspace(shape, dtype, config, device): the backward's scratch (a training step has no
    decode, so the forward needs none)."""
    def workspace(shape, dtype, config, device):
        make = getattr(backward, "workspace", None)
        return make(shape, dtype, split_config(config)[1], device) if make else {}
    return workspace


def triton_step(forward, backward):
    """The host function attention_train(q, k, v, do, o, lse, dq, dk, dv, causal, **workspace,
    **config) chaining two Triton host functions, each at its half of the config."""
    def attention_train(q, k, v, do, o, lse, dq, dk, dv, causal, stage=None, sm_scale=None, **config):
        """o, lse, dq, dk, dv of one step into the preallocated outputs; stage: None for both, or
        "forward", "backward" for one (the backward on the o and lse the outputs hold)."""
        forward_config, backward_config = split_config(config)
        scratch = {name: t for name, t in config.items() if not name.startswith(("fwd_", "bwd_"))}
        if stage in (None, "forward"):
            forward.attention(q, k, v, o, lse, causal, **forward_config, sm_scale=sm_scale)
        if stage in (None, "backward"):
            backward.attention_bwd(q, k, v, o, lse, do, dq, dk, dv, causal=causal, **scratch, **backward_config,
                                   sm_scale=sm_scale)
        return o, lse, dq, dk, dv
    return attention_train


def tilelang_step(forward, backward):
    """(the factory attention_train_kernel, the host function attention_train) chaining two
    TileLang modules' factories, each kernel compiled with its own module's pass configs."""
    def attention_train_kernel(B, Hq, Hkv, Sq, Skv, D, causal, dtype, **config):
        """{"forward": (its prim_func, its pass configs), "bwd_<name>": each backward kernel}."""
        forward_config, backward_config = split_config(config)
        shape = dict(B=B, Hq=Hq, Hkv=Hkv, Sq=Sq, Skv=Skv, D=D, causal=causal, dtype=dtype)
        built = backward.attention_bwd_kernel(**shape, **backward_config)
        if not isinstance(built, dict):
            built = {"main": (built, getattr(backward, "PASS_CONFIGS", {}))}
        return {"forward": (forward.attention_kernel(**shape, **forward_config), getattr(forward, "PASS_CONFIGS", {})),
                **{BACKWARD + name: kernel for name, kernel in built.items()}}

    def attention_train(kernels, q, k, v, do, o, lse, dq, dk, dv, *workspace, stage=None):
        """o, lse, dq, dk, dv of one step with the compiled kernels; stage: None for both, or
        "forward", "backward" for one (the backward on the o and lse the outputs hold)."""
        if stage in (None, "forward"):
            kernels["forward"](q, k, v, o, lse)
        if stage in (None, "backward"):
            mine = {name.removeprefix(BACKWARD): f for name, f in kernels.items() if name.startswith(BACKWARD)}
            if set(mine) == {"main"}:
                mine["main"](q, k, v, o, lse, do, dq, dk, dv, *workspace)
            else:
                backward.attention_bwd(mine, q, k, v, o, lse, do, dq, dk, dv, *workspace)
    return attention_train_kernel, attention_train

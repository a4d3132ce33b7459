"""The side-by-side script (bench/inspect/upstream.py): upstream kernels taken from their files
without running the files' GPU code, a changed upstream signature named in one line, and the
command's errors. Compiling real upstream kernels needs them fetched (never in CI)."""
import pytest

from bench.inspect import upstream

TUTORIAL = '''
import torch
import triton
import triton.language as tl

raise RuntimeError("module-level code that wants a GPU: never run")


@triton.jit
def helper(x):
    return x + 1


@triton.autotune(configs=[], key=["M"])
@triton.jit(launch_metadata=None)
def matmul_kernel_descriptor_persistent(a_ptr, b_ptr, c_ptr, M, N, K, BLOCK_SIZE_M: tl.constexpr,
                                        BLOCK_SIZE_N: tl.constexpr, BLOCK_SIZE_K: tl.constexpr,
                                        GROUP_SIZE_M: tl.constexpr, EPILOGUE_SUBTILE: tl.constexpr,
                                        NUM_SMS: tl.constexpr, A_NEW_KNOB: tl.constexpr):
    pass


def host_code():
    return torch.cuda.current_device()
'''


def test_a_tutorials_jit_functions_are_taken_without_its_module_code(tmp_path):
    from triton.runtime.jit import JITFunction

    source = tmp_path / "tutorial.py"
    source.write_text(TUTORIAL)
    module = upstream.triton_kernels(source, tmp_path / "extracted" / "tutorial.py")
    assert isinstance(module.helper, JITFunction) and not hasattr(module, "host_code")
    kernel = module.matmul_kernel_descriptor_persistent
    assert isinstance(kernel, JITFunction) and kernel.arg_names[-1] == "A_NEW_KNOB"  # the autotuner dropped


def test_an_upstream_signature_the_pair_does_not_know_is_one_line(tmp_path, monkeypatch):
    from bench.inspect.toolchain import ARCHS

    source = tmp_path / "09-persistent-matmul.py"
    source.write_text(TUTORIAL)
    monkeypatch.setattr(upstream, "FOLDER", tmp_path)
    pair = upstream.PAIRS["matmul-triton-best"]
    config = dict(block_M=128, block_N=128, block_K=64, num_stages=4, threads=256)
    with pytest.raises(SystemExit, match="takes A_NEW_KNOB, which this pair does not set"):
        upstream.compile_upstream(pair, source, dict(M=256, N=256, K=256), config, ARCHS["sm_90a"])


def test_the_command_names_its_pairs_and_the_missing_sources(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        upstream.main(["no-such-pair"])
    assert exc.value.code == 2 and "matmul-triton-best" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="is missing: run `python -m bench.inspect.upstream --fetch`"):
        upstream.main(["matmul-tilelang-best", "--upstream-dir", str(tmp_path)])
    assert set(upstream.PAIRS) >= {"matmul-triton-best", "matmul-tilelang-best"}

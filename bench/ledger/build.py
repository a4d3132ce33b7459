"""Toolchain helpers for the reproducers in findings/: compile a DSL's kernel for an arch without a
GPU and read what came out. The DSL code stays in the finding's own file; only the compiler
plumbing (targets, nvcc flags, cuobjdump) lives here, shared with `dslbench inspect`.
"""
import contextlib
import io
import os
import tempfile

from bench.ledger import Skip


def arch(name):
    """The bench.inspect.toolchain.Arch of 'sm_90a', 'sm_80', 'gfx942', ..."""
    from bench.inspect.toolchain import ARCHS

    return ARCHS[name]


def nvcc_or_skip():
    """nvcc's path, or Skip when neither the CUDA wheels nor a toolkit provide one."""
    from bench.core.ops import UsageError
    from bench.inspect.toolchain import nvcc

    try:
        return nvcc()
    except UsageError as exc:
        raise Skip(str(exc)) from None


def tilelang_lower(func, target="sm_90a", pass_configs=None):
    """tilelang.lower of a prim_func for `target` (an arch name, or a TVM target dict) under
    `pass_configs`: the artifact, whose .kernel_source is the CUDA (or HIP) source."""
    import tilelang
    import tvm

    tilelang.disable_cache()
    tgt = arch(target).tilelang_target() if isinstance(target, str) else tvm.target.Target(target)
    with tvm.transform.PassContext(opt_level=3, config=dict(pass_configs or {})), tgt:
        return tilelang.lower(func, target=tgt)


def tilelang_cubin(source, target="sm_90a", flags=()):
    """nvcc a TileLang CUDA source for `target` as `dslbench inspect` does: (cubin, ptxas log).
    Raises RuntimeError("nvcc failed: <first error>") when nvcc or ptxas refuses it."""
    from bench.inspect.tilelang_build import nvcc_cubin

    nvcc_or_skip()
    return nvcc_cubin(source, arch(target), flags)


def sass(cubin, ptxas_log=""):
    """{kernel name: metrics} of a cubin: registers, spills, opcode counts (`sass`), MMA shapes (`mma`)."""
    from bench.inspect.sass import analyze

    return analyze(cubin, ptxas_log)


def triton_compile(fn, signature, constexprs=None, target="sm_90a", **options):
    """triton.compile of a @triton.jit function for `target` (cold cache), as a launch on that GPU
    would: `signature` {arg: "*fp16", "i32", "constexpr"}, `constexprs` {arg: value}; options
    such as num_warps, num_stages. Returns the CompiledKernel (.asm: ttgir, ptx, cubin, ...)."""
    import triton
    from triton.compiler import ASTSource

    constexprs = dict(constexprs or {})
    signature = {**signature, **{k: "constexpr" for k in constexprs}}
    source = ASTSource(fn, signature, {(fn.arg_names.index(k),): v for k, v in constexprs.items()})  # keys as 3.6 and 3.9 take them
    with tempfile.TemporaryDirectory(prefix="dslbench-finding-") as cache, contextlib.redirect_stdout(io.StringIO()):
        saved = os.environ.get("TRITON_CACHE_DIR")
        os.environ["TRITON_CACHE_DIR"] = cache
        try:
            return triton.compile(source, target=arch(target).triton_target(), options=options)
        finally:
            if saved is None:
                os.environ.pop("TRITON_CACHE_DIR", None)
            else:
                os.environ["TRITON_CACHE_DIR"] = saved


def triton_sass(compiled):
    """{opcode: static count} of a compiled Triton kernel's cubin."""
    return next(iter(sass(compiled.asm["cubin"]).values()))["sass"]


def capturing_stderr(compile):
    """(compile()'s result or the RuntimeError it raised, what the compiler wrote to file descriptor 2
    meanwhile): MLIR prints a failed pass's diagnostics there, not into the Python exception."""
    import sys

    with tempfile.TemporaryFile() as err:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            result = compile()
        except RuntimeError as exc:
            result = exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return result, err.read().decode(errors="replace")

"""The DSL maturity ledger: every bug and limit our kernels met in Triton or TileLang, one file each.

A finding file is a small, self-contained reproducer that needs no GPU (Triton's interpreter,
TileLang's C backend, or a compile for an arch), written as an upstream bug report would be: the
DSL code that shows it, nothing of ours but the toolchain helpers of bench/ledger/build.py. Its
module-level facts are read without importing it (`dslbench findings` lists the ledger fast):

    DSL = "tilelang"            # "triton" or "tilelang"
    FOUND_IN = "0.1.15"         # the release it was found in
    KIND = "bug"                # "bug": wrong code, a crash, or valid code refused;
                                # "limit": a feature missing or documented as unsupported
    TITLE = "one line: what goes wrong"
    EXPECTED = "what the code should do"
    ACTUAL = "what happens on FOUND_IN"
    WORKAROUND = ["kernels/sparse_mla/tilelang_best.py:sparse_mla_kernel"]  # file:function (or
                                # file:CONSTANT) carrying it; each names this finding in a comment
                                # `finding: findings/<this file>`; [] when our kernels need none
    HOW = "lower for sm_90a"    # what the reproducer does: interpreter, C backend, compile sm_90a, ...
    ENV = {"TRITON_INTERPRET": "1"}   # optional: set before the file is imported

    def reproduce():
        '''True when the finding is present on the installed release, False when it is fixed.
        Anything else (another error) raises: the reproducer itself is broken, and CI fails.'''

A finding that cannot be reproduced in isolation has `NOT_REPRODUCIBLE = "why"` instead of
reproduce(). A toolchain the reproducer needs and this machine lacks (nvcc, the DSL itself)
raises bench.ledger.Skip (bench/ledger/build.py does for nvcc).
"""

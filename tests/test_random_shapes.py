"""Seeded random valid shapes through the check, every DSL backend of both tracks, on the CPU paths.

The listed suites are shapes someone thought of; these are drawn: ragged sizes, primes, odd
head dims, GQA ratios, decode steps, tiny sizes, Sq > Skv, a random config of each track's
list and a random dtype. The seed is in every test id and failure message; rerun one with
DSLBENCH_FUZZ_SEED=<seed>, draw more with DSLBENCH_FUZZ_SHAPES=<n per op> (CI: one per op, a
fixed seed, so that CI is reproducible; a new seed is a new sample).
"""
import os
import random

import pytest

from bench.core import ops
from bench.run import runner
from tests.conftest import DEVICE, SAMPLE_SEED

SEED = SAMPLE_SEED
PER_OP = int(os.environ.get("DSLBENCH_FUZZ_SHAPES", "1"))
PRIMES = (1, 2, 3, 5, 7, 11, 13, 17, 31, 37, 61, 67, 97, 127, 131)


def size(rng, low, high):
    """A size in [low, high]: half the time a prime (or 1), else uniform."""
    primes = [p for p in PRIMES if low <= p <= high]
    return rng.choice(primes) if primes and rng.random() < 0.5 else rng.randint(low, high)


# Small enough for the interpreter and the C backend; every class the harness knows appears.
DRAW = {
    "matmul": lambda r: dict(M=size(r, 1, 160), N=size(r, 1, 160), K=size(r, 1, 160)),
    "act_quant": lambda r: dict(M=size(r, 1, 140), N=128 * r.randint(1, 3), ue8m0=r.randint(0, 1)),
    "fp8_gemm": lambda r: dict(M=size(r, 1, 140), N=size(r, 1, 200), K=128 * r.randint(1, 3), ue8m0=r.randint(0, 1)),
    "attention": lambda r: (lambda Hkv, G, decode: dict(
        B=r.randint(1, 2), Hq=Hkv * G, Hkv=Hkv, Sq=size(r, 1, 8) if decode else size(r, 1, 140),
        Skv=size(r, 1, 200), D=r.choice((16, 40, 59, 64, 96, 111, 128)), causal=r.randint(0, 1)))(
        r.randint(1, 2), r.choice((1, 2, 3, 4)), r.random() < 0.4),
    "attention_bwd": lambda r: (lambda Hkv, G: dict(
        B=1, Hq=Hkv * G, Hkv=Hkv, Sq=size(r, 1, 100), Skv=size(r, 1, 130), D=r.choice((16, 40, 59, 64, 96)),
        causal=r.randint(0, 1)))(r.randint(1, 2), r.choice((1, 2, 4, 8))),
    "attention_train": lambda r: (lambda Hkv, G: dict(
        B=1, Hq=Hkv * G, Hkv=Hkv, Sq=size(r, 9, 80), Skv=size(r, 1, 100), D=r.choice((16, 40, 64, 96)),
        causal=r.randint(0, 1)))(r.randint(1, 2), r.choice((1, 2, 4))),
    "grouped_gemm": lambda r: dict(G=r.randint(1, 5), M=size(r, 1, 40), N=size(r, 1, 200), K=128 * r.randint(1, 2),
                                   masked=r.randint(0, 1), ue8m0=r.randint(0, 1)),
    "dsa_index": lambda r: dict(B=r.randint(1, 2), Sq=size(r, 1, 40), Skv=size(r, 1, 300), H=r.choice((16, 32)),
                                D=128),
    "sparse_mla": lambda r: dict(B=r.randint(1, 2), Sq=size(r, 1, 12), Skv=size(r, 1, 160), H=size(r, 1, 72),
                                 topk=size(r, 1, 96)),
    "dsa_step": lambda r: dict(B=1, Sq=size(r, 1, 4), Skv=size(r, 1, 260), H=r.choice((16, 64)), topk=size(r, 1, 96)),
}


def cases():
    out = []
    for op in ops.OPS:
        spec = ops.load_spec(op)
        rng = random.Random(f"{SEED}-{op}")
        drawn = 0
        while drawn < PER_OP:
            shape = DRAW[op](rng)
            if spec.validate(shape):
                continue
            dtype = rng.choice(spec.DTYPES)
            configs = {t: rng.choice(spec.configs_for(dtype, t)) for t in ops.tracks(spec)}
            out.append(pytest.param(op, shape, dtype, configs, id=f"seed{SEED}-{op}-{drawn}"))
            drawn += 1
    return out


def test_every_op_has_a_drawer():
    assert set(DRAW) == set(ops.OPS)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log2")  # an empty row's lse is -inf
@pytest.mark.parametrize("op, shape, dtype, configs", cases())
def test_a_random_valid_shape_passes_in_every_dsl_and_track(op, shape, dtype, configs):
    spec = ops.load_spec(op)
    again = f"DSLBENCH_FUZZ_SEED={SEED} ({op} {ops.shape_str(shape)} {dtype})"
    for track, config in configs.items():
        names = [b for b in ops.dsl_backends(spec) if ops.split_backend(b)[1] == track]
        records = list(runner.run_group(spec, names, dtype, shape, seed=SEED % 1000, device=DEVICE, timed=False,
                                        config=config))
        assert [r["backend"] for r in records] == names, again
        for r in records:
            assert r["status"] == "pass", f"{again} {r['backend']} {config}: {r['status']} {r['reason']}"

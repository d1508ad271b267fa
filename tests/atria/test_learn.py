"""The atria Learner's synthetic samples and the share of scanner-formed cases (TrainConfig.synth_scanner)."""
from __future__ import annotations

import numpy as np

from echoseg.atria.learn import FRAMES_PER_CASE, atria_from_case, synth_samples
from echoseg.synth.a4c import generate_a4c

SEED, SIZE = 11, 48


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) and p[2] == q[2]
                                    for p, q in zip(a, b))


def test_share_zero_gives_exactly_the_classic_samples():
    old = [(x, y, -1) for x, y in atria_from_case(generate_a4c(SEED, n_frames=FRAMES_PER_CASE), SIZE)]
    assert _same(synth_samples(SEED, SIZE, 0.0), old)
    assert _same(synth_samples(SEED, SIZE), old)  # the default is the classic cases


def test_share_one_gives_the_scanner_formed_case_of_the_same_seed():
    classic, scanner = synth_samples(SEED, SIZE, 0.0), synth_samples(SEED, SIZE, 1.0)
    assert len(scanner) == FRAMES_PER_CASE
    assert not any(np.array_equal(a[0], b[0]) for a, b in zip(classic, scanner))
    forced = [(x, y, -1) for x, y in atria_from_case(generate_a4c(SEED, family="scanner", n_frames=FRAMES_PER_CASE),
                                                     SIZE)]
    assert _same(scanner, forced)


def test_a_share_between_mixes_both_kinds_by_seed():
    seeds = range(100, 112)
    kinds = []
    for seed in seeds:
        mixed = synth_samples(seed, SIZE, 0.5)
        kinds.append(_same(mixed, synth_samples(seed, SIZE, 1.0)))
        assert kinds[-1] or _same(mixed, synth_samples(seed, SIZE, 0.0))
    assert 0 < sum(kinds) < len(kinds)

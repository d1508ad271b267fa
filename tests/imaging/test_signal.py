"""echoseg.imaging.signal: find_peaks against scipy.signal.find_peaks (the rules it reproduces) and on
built cases; the period estimate."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from echoseg.imaging.signal import estimate_period, find_peaks, local_maxima, prominences


def _signals(n_cases: int = 200) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for k in range(n_cases):
        n = int(rng.integers(3, 80))
        x = rng.normal(size=n)
        if k % 3 == 0:  # plateaus and ties: quantised values
            x = np.round(x * 2) / 2
        if k % 5 == 0:  # periodic, like an atrial area curve
            t = np.arange(n)
            x = np.sin(2 * np.pi * t / rng.uniform(5, 20)) + 0.2 * rng.normal(size=n)
        out.append(x)
    return out


def test_local_maxima_match_scipy_including_plateaus():
    for x in _signals():
        np.testing.assert_array_equal(local_maxima(x), signal.find_peaks(x)[0])


def test_prominences_match_scipy():
    for x in _signals():
        p = local_maxima(x)
        if p.size:
            np.testing.assert_allclose(prominences(x, p), signal.peak_prominences(x, p)[0])


@pytest.mark.parametrize("distance,prominence", [(3, None), (None, 0.8), (4, 0.5), (7.5, 0.3)])
def test_find_peaks_matches_scipy(distance, prominence):
    rng = np.random.default_rng(11)
    for x in _signals():
        x = x + 1e-9 * rng.normal(size=x.size)  # no exact ties: their order is scipy's sort's choice
        expected = signal.find_peaks(x, distance=distance, prominence=prominence)[0]
        np.testing.assert_array_equal(find_peaks(x, distance=distance, prominence=prominence), expected)


def test_built_cases():
    x = np.array([0, 2, 0, 1, 0, 3, 3, 0], dtype=float)
    assert local_maxima(x).tolist() == [1, 3, 5]  # the flat top [5, 6] gives 5
    assert prominences(x, np.array([1, 3, 5])).tolist() == [2, 1, 3]
    assert find_peaks(x, distance=3).tolist() == [1, 5]  # 3 is within 2 of 5, which is higher
    assert local_maxima(np.array([3.0, 1, 3])).size == 0  # ends are never peaks
    assert local_maxima(np.array([1.0, 2.0])).size == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="1-D"):
        local_maxima(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="distance"):
        find_peaks(np.arange(5.0), distance=0.5)


def test_estimate_period():
    dt = 0.004
    t = np.arange(0, 4.0, dt)
    x = np.maximum(np.sin(2 * np.pi * t / 0.9), 0) ** 3
    assert estimate_period(x, dt) == pytest.approx(0.9, abs=0.01)
    assert estimate_period(np.zeros(100), dt) is None

"""Which Doppler site a spectral strip shows.

Combines the Doppler network's waveform classifier with what the file states and the physics of
the standard views: CW vs PW from RegionDataType, and the flow direction (mitral inflow runs toward
the transducer from the apical window; outflow and pulmonary flow run away from it).
"""
from __future__ import annotations

import re

import numpy as np

from echoseg.vocab import SITES

# Likelihood weights of each site (order of types.SITES: mv, av, lvot, rvot, pv) given the region's
# Doppler mode: PW is rare through the aortic valve, CW rare in the outflow tracts (sample volume).
_MODE_WEIGHT = {"PW": np.array([1.0, 0.05, 1.0, 1.0, 1.0]), "CW": np.array([1.0, 1.0, 0.05, 0.05, 1.0]),
                "unknown": np.ones(len(SITES))}


# Given the flow side (+1 toward the transducer, -1 away).
_SIDE_WEIGHT = {1: np.array([1.0, 0.1, 0.1, 0.1, 0.1]), -1: np.array([0.1, 1.0, 1.0, 1.0, 1.0])}


# Likelihood of a site other than the one printed on the screen: OCR and sonographers err, so a
# waveform (with mode and direction) that rules the printed site out can still overrule it.
SCREEN_OTHER_WEIGHT = 0.02


def site_posterior(waveform_p: np.ndarray, mode: str, side: int | None, screen_site: str | None = None) -> np.ndarray:
    """Site probabilities (order of types.SITES) from the network's waveform probabilities, the
    region's Doppler mode ("PW" | "CW" | "unknown"), the flow side (+1 toward, -1 away, None) and
    the site printed on the screen (:mod:`echoseg.doppler.screen_text`; None when none was read)."""
    p = np.asarray(waveform_p, dtype=np.float64)
    if p.shape != (len(SITES),):
        raise ValueError(f"waveform_p must have {len(SITES)} entries (one per site), not shape {p.shape}")
    p = p * _MODE_WEIGHT.get(mode, _MODE_WEIGHT["unknown"])
    if side in _SIDE_WEIGHT:
        p = p * _SIDE_WEIGHT[side]
    if screen_site is not None:
        if screen_site not in SITES:
            raise ValueError(f"screen_site must be one of {', '.join(SITES)} or None, not {screen_site!r}")
        p = p * np.where(np.array(SITES) == screen_site, 1.0, SCREEN_OTHER_WEIGHT)
    total = p.sum()
    return p / total if total > 0 else np.full(len(SITES), 1.0 / len(SITES))


# Words vendors and sonographers use for each site in series descriptions and protocol names.
_SITE_WORDS = {
    "lvot": r"\blvot\b|left ventricular outflow", "rvot": r"\brvot\b|right ventricular outflow",
    "pv": r"\bpv\b|\bpulm(onic|onary)?\b(?! ?vein)|\bpa\b", "av": r"\bav\b|\baortic valve\b|\bao\b",
    "mv": r"\bmv\b|\bmitral\b|\bmv inflow\b",
}


def site_from_labels(text: str) -> str | None:
    """The one Doppler site named in a file's free-text labels (SeriesDescription, ProtocolName,
    ImageComments), or None when none or several are named."""
    low = text.lower()
    found = [site for site, pattern in _SITE_WORDS.items() if re.search(pattern, low)]
    return found[0] if len(found) == 1 else None

"""Which Doppler site a spectral strip shows.

Combines the Doppler network's waveform classifier with what the file states and the physics of
the standard views: CW vs PW from RegionDataType, and the flow direction (mitral inflow runs toward
the transducer from the apical window; outflow and pulmonary flow run away from it).
"""
from __future__ import annotations

import re

import numpy as np

from echoseg.doppler.screen_text import NOT_LEAK, Word, nontarget_from_words
from echoseg.vocab import SITE_CLASSES, SITES

# Likelihood weights of each class (order of vocab.SITE_CLASSES) given the region's Doppler mode and
# the flow side (+1 toward the transducer, -1 away), from the standard views: PW is rare through the
# aortic valve, CW rare in the outflow tracts (sample volume); mitral inflow runs toward the apex
# probe, outflow and pulmonary flow away; regurgitant jets run against their valve's forward flow.
_PRIORS: dict[str, tuple[dict[str, float], dict[int, float]]] = {  # class -> ({mode: w}, {side: w})
    "mv": ({"PW": 1.0, "CW": 1.0}, {1: 1.0, -1: 0.1}), "av": ({"PW": 0.05, "CW": 1.0}, {1: 0.1, -1: 1.0}),
    "lvot": ({"PW": 1.0, "CW": 0.05}, {1: 0.1, -1: 1.0}), "rvot": ({"PW": 1.0, "CW": 0.05}, {1: 0.1, -1: 1.0}),
    "pv": ({"PW": 1.0, "CW": 1.0}, {1: 0.1, -1: 1.0}),
    "tr": ({"PW": 0.05, "CW": 1.0}, {1: 0.1, -1: 1.0}), "mr": ({"PW": 0.05, "CW": 1.0}, {1: 0.1, -1: 1.0}),
    "ar": ({"PW": 0.3, "CW": 1.0}, {1: 1.0, -1: 0.1}), "pr": ({"PW": 0.5, "CW": 1.0}, {1: 1.0, -1: 0.1}),
    "tdi": ({"PW": 1.0, "CW": 0.05}, {1: 1.0, -1: 1.0}), "tv_inflow": ({"PW": 1.0, "CW": 0.3}, {1: 1.0, -1: 0.1}),
    "pulm_vein": ({"PW": 1.0, "CW": 0.05}, {1: 1.0, -1: 0.1}), "hepatic_vein": ({"PW": 1.0, "CW": 0.05}, {1: 0.3, -1: 1.0}),
}
_MODE_WEIGHT = {m: np.array([_PRIORS[c][0][m] for c in SITE_CLASSES]) for m in ("PW", "CW")}
_SIDE_WEIGHT = {d: np.array([_PRIORS[c][1][d] for c in SITE_CLASSES]) for d in (1, -1)}


# Likelihood of a class other than the one printed on the screen: OCR and sonographers err, so a
# waveform (with mode and direction) that rules the printed site out (> 200 : 1) can still overrule
# it. The waveform head learned on synthetic strips is less sure of real ones than of its own
# (docs/measurements.md: the real LVOT panel), hence a printed site weighs this much.
SCREEN_OTHER_WEIGHT = 0.005


def class_posterior(waveform_p: np.ndarray, mode: str, side: int | None, screen_label: str | None = None) -> np.ndarray:
    """Probabilities of each class of the network's site head (the five sites, then
    :data:`echoseg.vocab.NON_TARGETS` when the head has them: order of ``SITE_CLASSES[:len(p)]``)
    from its waveform probabilities, the region's Doppler mode ("PW" | "CW" | "unknown"), the flow
    side (+1 toward, -1 away, None) and a class printed on the screen (None when none was read)."""
    p = np.asarray(waveform_p, dtype=np.float64)
    if p.shape not in ((len(SITES),), (len(SITE_CLASSES),)):
        raise ValueError(f"waveform_p must have {len(SITES)} entries (one per site) or {len(SITE_CLASSES)} "
                         f"(sites and non-target flows), not shape {p.shape}")
    classes = np.array(SITE_CLASSES[:p.size])
    if mode in _MODE_WEIGHT:
        p = p * _MODE_WEIGHT[mode][:p.size]
    if side in _SIDE_WEIGHT:
        p = p * _SIDE_WEIGHT[side][:p.size]
    if screen_label is not None:
        if screen_label not in SITE_CLASSES:
            raise ValueError(f"screen_label must be one of {', '.join(SITE_CLASSES)} or None, not {screen_label!r}")
        p = p * np.where(classes == screen_label, 1.0, SCREEN_OTHER_WEIGHT)
    total = p.sum()
    return p / total if total > 0 else np.full(p.size, 1.0 / p.size)


def site_posterior(waveform_p: np.ndarray, mode: str, side: int | None, screen_site: str | None = None) -> np.ndarray:
    """Site probabilities (order of vocab.SITES) from the network's five-site waveform probabilities,
    mode, flow side and the site printed on the screen (see :func:`class_posterior`)."""
    p = np.asarray(waveform_p, dtype=np.float64)
    if p.shape != (len(SITES),):
        raise ValueError(f"waveform_p must have {len(SITES)} entries (one per site), not shape {p.shape}")
    if screen_site is not None and screen_site not in SITES:
        raise ValueError(f"screen_site must be one of {', '.join(SITES)} or None, not {screen_site!r}")
    return class_posterior(p, mode, side, screen_site)


# Words vendors and sonographers use for each site in series descriptions and protocol names.
_SITE_WORDS = {
    "lvot": r"\blvot\b|left ventricular outflow", "rvot": r"\brvot\b|right ventricular outflow",
    "pv": rf"\bpv\b|\bpulm(onic|onary)?\b(?! ?vein){NOT_LEAK}|\bpa\b",
    "av": rf"\bav\b|\baortic valve\b{NOT_LEAK}|\bao\b", "mv": rf"\bmv\b|\bmitral\b{NOT_LEAK}|\bmv inflow\b",
}


def site_from_labels(text: str) -> str | None:
    """The one Doppler site named in a file's free-text labels (SeriesDescription, ProtocolName,
    ImageComments), or None when none or several are named."""
    low = text.lower()
    found = [site for site, pattern in _SITE_WORDS.items() if re.search(pattern, low)]
    return found[0] if len(found) == 1 else None


def nontarget_from_labels(text: str) -> str | None:
    """The one non-target flow (a key of :data:`echoseg.vocab.NON_TARGET_NAMES`) a file's free-text
    labels name ("TR CW", "Mitral regurgitation", "LAA"), or None: its words are read as the screen
    text's are (:func:`echoseg.doppler.screen_text.nontarget_from_words`)."""
    return nontarget_from_words([Word(t, 100.0, (0, 0, 0, 0)) for t in re.split(r"[\s|]+", text) if t])

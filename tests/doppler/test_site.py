"""echoseg.doppler.site: the site posterior (waveform, mode, direction, screen text) and site words in DICOM labels."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.site import site_posterior
from echoseg.vocab import SITES


def test_site_posterior_uses_mode_and_direction():
    flat = np.full(len(SITES), 0.2)
    toward = site_posterior(flat, "PW", +1)
    assert SITES[int(np.argmax(toward))] == "mv"
    cw_away = site_posterior(flat, "CW", -1)
    assert cw_away[SITES.index("lvot")] < 0.05 and cw_away[SITES.index("rvot")] < 0.05
    pw_away = site_posterior(flat, "PW", -1)
    assert pw_away[SITES.index("av")] < 0.05
    assert pw_away.sum() == pytest.approx(1.0)


def test_confident_waveform_survives_priors():
    p = np.array([0.01, 0.01, 0.95, 0.02, 0.01])
    post = site_posterior(p, "PW", -1)
    assert SITES[int(np.argmax(post))] == "lvot" and post.max() > 0.9


def test_bad_probability_vector():
    with pytest.raises(ValueError, match="5 entries"):
        site_posterior(np.ones(3), "PW", 1)


@pytest.mark.parametrize("text,site", [("LVOT PW", "lvot"), ("AV CW", "av"), ("MV Inflow PW", "mv"),
                                       ("pulmonic valve", "pv"), ("RVOT", "rvot"), ("Pulmonary vein", None),
                                       ("LVOT and AV", None), ("Doppler PW", None), ("", None)])
def test_site_from_labels(text, site):
    from echoseg.doppler.site import site_from_labels
    assert site_from_labels(text) == site

"""Routing: kind from the regions, Doppler site from waveform probabilities, mode and direction."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.errors import CalibrationError
from echoseg.pipeline import route_kind
from echoseg.doppler.site import site_posterior
from echoseg.types import EchoImage, Region
from echoseg.vocab import SITES

TISSUE = Region(0, 0, 9, 9, 1, 1, 3, 3, 0.1, 0.1)
SPECTRAL = Region(0, 10, 9, 19, 3, 3, 4, 7, 0.01, -2.0, 0, 5)
ECG = Region(0, 0, 9, 3, 4, 10, 0, 0, 0.0, 0.0)


def _img(*regions: Region) -> EchoImage:
    return EchoImage(path="x.dcm", frames=np.zeros((1, 20, 10, 3), np.uint8), regions=regions)


def test_kind_from_regions():
    assert route_kind(_img(TISSUE))[0] == "a4c"
    assert route_kind(_img(TISSUE, SPECTRAL))[0] == "doppler"  # 2D thumbnail above a strip
    assert route_kind(_img(TISSUE), "la_area")[0] == "a4c"


@pytest.mark.parametrize("regions,task", [((ECG,), "auto"), ((), "auto"), ((TISSUE,), "lvot_vti"),
                                          ((SPECTRAL,), "ra_area")])
def test_kind_refusals_name_the_file(regions, task):
    with pytest.raises(CalibrationError, match="x.dcm"):
        route_kind(_img(*regions), task)


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

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
                                       ("LVOT and AV", None), ("Doppler PW", None), ("", None),
                                       ("Mitral regurgitation", None), ("Aortic valve insufficiency", None),
                                       ("Mitral stenosis CW", "mv")])
def test_site_from_labels(text, site):
    from echoseg.doppler.site import site_from_labels
    assert site_from_labels(text) == site


@pytest.mark.parametrize("text,flow", [("TR CW", "tr"), ("Mitral regurgitation", "mr"), ("AI PHT", "ar"),
                                       ("LAA PW", "laa"), ("Apical 4 | TV E/A", "tv_inflow"), ("LVOT PW", None),
                                       ("Doppler CW", None), ("TR and MR", None)])
def test_nontarget_from_labels(text, flow):
    from echoseg.doppler.site import nontarget_from_labels
    assert nontarget_from_labels(text) == flow


def test_class_posterior_covers_non_target_flows_with_their_views():
    from echoseg.doppler.site import class_posterior
    from echoseg.vocab import NON_TARGETS, SITE_CLASSES

    flat = np.full(len(SITE_CLASSES), 1.0 / len(SITE_CLASSES))
    cw_toward = dict(zip(SITE_CLASSES, class_posterior(flat, "CW", +1)))
    assert max(cw_toward, key=cw_toward.get) in ("mv", "ar", "pr")  # forward mitral or a regurgitant jet
    assert cw_toward["lvot"] < 0.01 and cw_toward["tr"] < 0.05 < cw_toward["ar"]
    printed = dict(zip(SITE_CLASSES, class_posterior(flat, "CW", -1, "tr")))
    assert max(printed, key=printed.get) == "tr"
    five = class_posterior(np.full(5, 0.2), "PW", -1)
    np.testing.assert_allclose(five, site_posterior(np.full(5, 0.2), "PW", -1))
    assert len(NON_TARGETS) == len(SITE_CLASSES) - len(SITES)
    with pytest.raises(ValueError, match="sites and non-target"):
        class_posterior(np.ones(7), "PW", 1)
    with pytest.raises(ValueError, match="screen_label"):
        class_posterior(flat, "PW", 1, "xx")

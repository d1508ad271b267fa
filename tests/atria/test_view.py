"""echoseg.atria.view: the apical four-chamber check (layout the network sees, colour in the sector)."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.atria.view import MAX_TAPER, MIN_LV_RV, chamber_layout, check_view, colour_fraction, sector_taper, view_reason
from echoseg.types import EchoImage, Region, TissueCalibration

S = 80


def cal(d=0.15) -> TissueCalibration:
    return TissueCalibration(Region(0, 0, S - 1, S - 1, 1, 1, 3, 3, d, d), d, d)


def layout_probs(boxes: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """(5, S, S) probabilities with each class k filling its box (y0, y1, x0, x1)."""
    p = np.zeros((5, S, S), np.float32)
    p[0] = 0.5
    for k, (y0, y1, x0, x1) in boxes.items():
        p[k, y0:y1, x0:x1] = 0.9
    return p


# A4C as displayed: RV top left, LV top right, RA under RV, LA under LV (apex at the top)
A4C = {4: (5, 45, 10, 38), 3: (5, 45, 42, 70), 2: (48, 72, 12, 38), 1: (48, 72, 42, 68)}


def test_a4c_layout_passes_and_others_are_named():
    assert view_reason(chamber_layout(layout_probs(A4C), cal()), 0.0) == ""
    flipped = {k: (S - y1, S - y0, x0, x1) for k, (y0, y1, x0, x1) in A4C.items()}
    assert "apex-down" in view_reason(chamber_layout(layout_probs(flipped), cal()), 0.0)
    crossed = dict(A4C)
    crossed[1], crossed[2] = A4C[2], A4C[1]  # LA under the RV
    assert "the LA does not lie under the LV" in view_reason(chamber_layout(layout_probs(crossed), cal()), 0.0)
    two = {k: A4C[k] for k in (1, 3)}
    assert "two-chamber" in view_reason(chamber_layout(layout_probs(two), cal()), 0.0)
    one = {3: (5, 70, 10, 70)}
    reason = view_reason(chamber_layout(layout_probs(one), cal()), 0.0)
    assert reason.startswith("not an apical four-chamber view (looks like a zoomed single chamber")
    assert "LA, RA, RV not found" in reason
    assert "colour Doppler" in view_reason(chamber_layout(layout_probs(A4C), cal()), 0.2)
    small_lv = dict(A4C)
    small_lv[3] = (5, 45, 50, 70)  # the right-hand ventricle 20 px wide, the left-hand one 28: a mirrored display
    reason = view_reason(chamber_layout(layout_probs(small_lv), cal()), 0.0)
    assert "left-right mirrored display" in reason and f"0.71 x the area" in reason and f"< {MIN_LV_RV:g}" in reason
    equal = dict(A4C)
    equal[3] = (5, 45, 44, 70)  # 26 px against 28: within the margin, still an A4C
    assert view_reason(chamber_layout(layout_probs(equal), cal()), 0.0) == ""
    with pytest.raises(ValueError, match="must be a"):
        chamber_layout(np.zeros((3, S, S)), cal())


def test_colour_fraction_ignores_tinted_grey_and_finds_a_colour_box():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (2, 120, 160)).astype(np.float32)
    sepia = np.stack([grey, 0.85 * grey, 0.6 * grey], axis=-1).astype(np.uint8)  # a tinted display map
    region = Region(0, 0, 159, 119, 1, 1, 3, 3, 0.05, 0.05)
    assert colour_fraction(sepia, region) < 0.005
    boxed = sepia.copy()
    red = rng.integers(90, 255, (2, 40, 60)).astype(np.uint8)
    boxed[:, 40:80, 40:100] = np.stack([red, red // 8, red // 8], axis=-1)  # a red flow box, 12.5 % of the region
    assert colour_fraction(boxed, region) == pytest.approx(0.125, abs=0.02)


def test_sector_taper_tells_an_upside_down_sector_and_refuses_it_whatever_the_network_drew():
    from echoseg.synth.other_views import generate_other_view
    up = generate_other_view(21, "apex_down", n_frames=3, image_size=(240, 320), scanner=0.0)
    region = next(r for r in up.regions if r.spatial_format == 1)
    down = sector_taper(up.frames, region)
    box = up.frames[:, region.y0:region.y1 + 1, region.x0:region.x1 + 1]
    upright = sector_taper(box[:, ::-1], _whole(box, region.delta_x))  # the same sector turned back
    assert upright < 0.6 and down > 2 * MAX_TAPER
    rng = np.random.default_rng(3)
    linear = rng.integers(30, 200, (2, 100, 80, 3)).astype(np.uint8)  # a rectangular (linear-probe) image
    assert sector_taper(linear, _whole(linear, 0.05)) == pytest.approx(1.0, abs=0.05)
    a4c = chamber_layout(layout_probs(A4C), cal())
    assert view_reason(a4c, 0.0, upright) == "" and view_reason(a4c, 0.0, 1.0) == ""
    reason = view_reason(a4c, 0.0, down)
    assert reason.startswith("not an apical four-chamber view (looks like an apex-down") and "widens upward" in reason


# ---------------------------------------------------------------------------- with the shipped network
@pytest.fixture(scope="module")
def atria_measure():
    pytest.importorskip("onnxruntime")
    from echoseg.atria import task
    from echoseg.options import Models, Options
    models = Models()
    return lambda img: task.measure(img, "auto", models, Options())


def _img(frames: np.ndarray, region: Region) -> EchoImage:
    return EchoImage(path="synthetic", frames=np.ascontiguousarray(frames), regions=(region,), frame_time_ms=33.3)


def _whole(frames: np.ndarray, d: float) -> Region:
    return Region(0, 0, frames.shape[2] - 1, frames.shape[1] - 1, 1, 1, 3, 3, d, d)


@pytest.mark.parametrize("seed,heldout", [(11, False), (12, True)])
def test_synthetic_a4c_passes_and_non_a4c_inputs_are_refused(atria_measure, seed, heldout):
    from echoseg.synth.a4c import generate_a4c
    case = generate_a4c(seed, heldout=heldout, n_frames=6)
    region = next(r for r in case.regions if r.spatial_format == 1)
    f, d = case.frames, region.delta_x
    h, w = f.shape[1:3]
    ok = atria_measure(_img(f, region))
    assert all(m.qc == "pass" for m in ok.measurements), [m.reason for m in ok.measurements]
    quarter = atria_measure(_img(f[:, h // 2:, w // 2:], _whole(f[:, h // 2:, w // 2:], d)))
    boxed = f.copy()
    rng = np.random.default_rng(seed)
    red = rng.integers(90, 255, (f.shape[0], h // 4, w // 3)).astype(np.uint8)
    boxed[:, h // 2:h // 2 + h // 4, int(0.3 * w):int(0.3 * w) + w // 3] = np.stack([red, red // 6, red // 3], -1)
    colour = atria_measure(_img(boxed, region))
    for res, looks in ((quarter, "not an apical four-chamber view (looks like"),
                       (colour, "not an apical four-chamber view (looks like a colour Doppler")):
        assert all(m.qc == "fail" and m.reason.startswith(looks) for m in res.measurements), \
            [m.reason for m in res.measurements]


def test_apex_down_display_is_refused(atria_measure):
    from echoseg.synth.other_views import generate_other_view
    case = generate_other_view(9_800_000 + 4000 + 2, "apex_down", heldout=True, n_frames=12)
    region = next(r for r in case.regions if r.spatial_format == 1)
    res = atria_measure(_img(case.frames, region))
    reasons = [m.reason for m in res.measurements]
    assert all(m.qc == "fail" and "apex-down" in m.reason for m in res.measurements), reasons


def test_real_cine_shown_mirrored_is_refused_not_measured_with_the_atria_swapped(atria_measure):
    """The SonoSite apical cine of pydicom-data (real, MIT): as shown both atria pass; flipped left to
    right (the LV on the left of the screen) the network would label the atria by position, swapped."""
    import dataclasses

    try:
        from reference_files import reference_path
    except ImportError:  # tests/ imported as a package
        from tests.reference_files import reference_path
    from echoseg.io.read import read
    path = reference_path("color3d_jpeg_baseline.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")
    img = read(path)
    # every 4th of the 120 frames: the same loop at a quarter of the frame rate, in a quarter of the time
    img = dataclasses.replace(img, frames=img.frames[::4], frame_time_ms=4 * (img.frame_time_ms or 0) or None)
    w = img.shape[1]
    mirrored = dataclasses.replace(img, frames=np.ascontiguousarray(img.frames[:, :, ::-1]), regions=tuple(
        dataclasses.replace(r, x0=w - 1 - r.x1, x1=w - 1 - r.x0) for r in img.regions))
    shown = atria_measure(img)
    assert all(m.qc == "pass" for m in shown.measurements), [m.reason for m in shown.measurements]
    res = atria_measure(mirrored)
    reasons = [m.reason for m in res.measurements]
    assert all(m.qc == "fail" and "left-right mirrored display" in m.reason for m in res.measurements), reasons


def test_doppler_screen_thumbnail_is_refused(atria_measure):
    from echoseg.synth.doppler import generate_doppler
    case = generate_doppler(5)
    thumb = next(r for r in case.regions if r.spatial_format == 1)
    cine = np.repeat(case.frames, 4, axis=0)  # a cine, so the single-frame thumbnail routing rule does not apply
    res = atria_measure(_img(cine, thumb))
    assert all(m.qc == "fail" and m.reason.startswith("not an apical four-chamber view") for m in res.measurements)


def test_check_view_shapes():
    with pytest.raises(ValueError, match=r"\(T, C, S, S\)"):
        check_view(np.zeros((5, S, S)), cal(), np.zeros((1, S, S, 3), np.uint8), cal().region)


@pytest.mark.parametrize("labels, looks", [("PLAX 2D", "a parasternal long-axis view"), ("Subcostal 4 chamber", "a subcostal view"),
                                           ("A2C", "an apical two-chamber view"), ("PSAX | MV level", "a parasternal short-axis view"),
                                           ("A4C", None), ("Apical 4 chamber", None), ("2D", None), ("", None),
                                           ("Apical 4 | A2C", None), ("AP 2D", None)])
def test_labels_naming_another_view_refuse_it(labels, looks):
    from echoseg.atria.view import view_from_labels
    reason = view_from_labels(labels)
    assert reason == ("" if looks is None else f"not an apical four-chamber view (looks like {looks}: named in the file's labels)")


def test_an_a4c_cine_whose_labels_name_another_view_is_refused(atria_measure):
    import dataclasses

    from echoseg.synth.a4c import generate_a4c
    case = generate_a4c(11, n_frames=6)
    region = next(r for r in case.regions if r.spatial_format == 1)
    img = _img(case.frames, region)
    assert all(m.qc == "pass" for m in atria_measure(img).measurements)
    labelled = atria_measure(dataclasses.replace(img, extra={"labels": "A2C | Adult Echo"})).measurements
    assert all(m.qc == "fail" and "an apical two-chamber view: named in the file's labels" in m.reason for m in labelled)

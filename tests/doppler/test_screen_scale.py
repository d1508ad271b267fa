"""Reading a spectral Doppler calibration off the screen: tick-label fit, ECG/time marks, whole screens."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from echoseg.doppler import screen_text as st
from echoseg.doppler.screen_scale import (
    ScreenScale,
    fit_ticks,
    heart_rate,
    mark_period_px,
    read_screen_scale,
    rr_interval_px,
    tick_labels,
    words_from_ocr_csv,
)
from echoseg.errors import CalibrationError
from echoseg.io.calibration import spectral_calibration
from echoseg.synth import overlay
from echoseg.synth.doppler import generate_doppler

needs_tesseract = pytest.mark.skipif(not st.available(), reason="Tesseract OCR is not installed")
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real" / "unlabelled_cw_av"
needs_real = pytest.mark.skipif(not (REAL / "ocr_results.csv").is_file(), reason="../shared/real is not present")


def _word(text: str, y: float, x: float = 600.0, h: int = 12, conf: float = 90.0) -> st.Word:
    """An OCR word centred at (x, y), 7 px per character wide."""
    w = 7 * len(text)
    return st.Word(text, conf, (int(x - w / 2), int(y - h / 2), w, h))


def _fit(*items: tuple[str, float], lines=()):
    return fit_ticks(tick_labels([_word(t, y) for t, y in items]), lines)


# --- the tick fit, on built word lists ---------------------------------------------------------

def test_clean_cm_s_scale_gives_slope_baseline_and_upward_sign():
    fit = _fit(("200", 100), ("100", 150), ("0", 200), ("-100", 250), ("-200", 300))
    assert fit.cm_s_per_px == pytest.approx(-2.0, rel=1e-6)  # velocity grows upwards: negative
    assert fit.baseline_row == pytest.approx(200.0, abs=1e-6)
    assert fit.spacing_px == pytest.approx(50.0) and fit.residual_px < 1e-6 and len(fit.labels) == 5


def test_misread_labels_are_rejected_as_outliers():
    # "400" is a misread 100, "-1.0"... would be 100 cm/s at the wrong row, "5" is stray noise
    fit = _fit(("200", 100), ("400", 150), ("0", 200), ("-100", 250), ("-200", 300), ("-300", 350),
               ("-1.0", 130), ("5", 330))
    assert fit.cm_s_per_px == pytest.approx(-2.0, rel=1e-6)
    assert fit.baseline_row == pytest.approx(200.0, abs=1e-6)
    assert sorted(t.y for t in fit.labels) == [100, 200, 250, 300, 350]


def test_lost_minus_signs_are_repaired_from_the_side_of_the_baseline_and_m_s_converted():
    # m/s labels; "4.0" and "3.0" lost their minus sign, "--2.0" carries a tick dash before its minus
    fit = _fit(("1.0", 150), ("0.0", 200), ("-1.0", 250), ("--2.0", 300), ("3.0", 350), ("4.0", 400))
    assert fit.cm_s_per_px == pytest.approx(-2.0, rel=1e-6)  # 100 cm/s per 50 px
    assert fit.baseline_row == pytest.approx(200.0, abs=1e-6) and len(fit.labels) == 6


def test_m_s_column_with_lost_decimal_points_and_tick_dash_after_labels():
    # left-side scale: tick dashes read after the number ("-140-5"); "15" is 1.5 m/s without its point
    fit = _fit(("0.5", 150), ("0.0", 200), ("-0.5-5", 250), ("-1.0", 300), ("15", 350))
    assert fit.cm_s_per_px == pytest.approx(-1.0, rel=1e-6) and len(fit.labels) == 5


def test_inverted_display_is_read_from_minus_signs_above_the_baseline():
    fit = _fit(("--200", 100), ("--100", 150), ("0", 200), ("100", 250), ("200", 300))
    assert fit.cm_s_per_px == pytest.approx(2.0, rel=1e-6)


def test_parameter_text_is_not_taken_for_velocity_labels():
    assert tick_labels([_word(t, 10) for t in ("20%", "1.5mm", "M5S", "MI0.4", "HR98", "2019-09-01", "37")]) == []
    assert [t.magnitude for t in tick_labels([_word("-140-5", 10), _word("+0.2", 20)])] == [140.0, 20.0]


@pytest.mark.parametrize("items", [
    (), (("100", 100),), (("100", 100), ("Smith", 150)),
    (("100", 100), ("350", 120), ("15", 300), ("905", 310)),  # numbers that fit no common straight scale
])
def test_too_few_consistent_ticks_are_refused_with_a_reason(items):
    with pytest.raises(CalibrationError) as exc:
        _fit(*items)
    msg = str(exc.value)
    assert "tick label" in msg and "Smith" not in msg


def test_a_poor_fit_is_refused():
    # every label within the inlier tolerance, but alternately 12 px off an even 50 px spacing
    rows = (100, 162, 200, 262, 300)
    words = [st.Word(t, 100.0, (600, y, 0, 0)) for t, y in zip(("200", "100", "0", "-100", "-200"), rows)]
    with pytest.raises(CalibrationError, match="off a straight scale"):
        fit_ticks(tick_labels(words))


def test_a_drawn_line_breaks_the_tie_between_two_label_readings():
    # "100" at 100 and "100" at 200: one each side (zero at 150) or ... a line at 150 confirms it
    fit = _fit(("100", 100), ("100", 200), lines=(150.0,))
    assert fit.baseline_row == pytest.approx(150.0) and abs(fit.cm_s_per_px) == pytest.approx(2.0)


# --- heart rate, ECG and time marks ----------------------------------------------------------

@pytest.mark.parametrize("texts, bpm", [
    (("54bpm",), 54.0), (("HR", "72", "bpm"), 72.0), (("HR98", "bpm"), 98.0), (("4bpm",), None),
    (("100mm/s",), None), ((), None),
])
def test_heart_rate_is_read_from_printed_text(texts, bpm):
    assert heart_rate([_word(t, 10) for t in texts]) == bpm


def _ecg_band(r_times: np.ndarray, s_per_px: float, width: int = 800) -> np.ndarray:
    layer = np.zeros((70, width), np.float32)
    t = np.arange(width) * s_per_px
    overlay.draw_polyline(layer, np.arange(width), 55 - 40 * overlay.ecg_trace(t, r_times), width=1)
    return layer > 0.5


def test_rr_interval_of_a_regular_ecg_and_refusal_of_an_irregular_one():
    rr, level = rr_interval_px(_ecg_band(np.arange(0.3, 5.0, 0.8), 0.005))
    assert rr == pytest.approx(160.0, abs=1.5) and level == pytest.approx(55, abs=2)
    rr_irregular, _ = rr_interval_px(_ecg_band(np.array([0.3, 0.8, 2.0, 2.6, 3.9]), 0.005))
    assert rr_irregular is None
    assert rr_interval_px(np.zeros((40, 800), bool))[0] is None


def test_time_mark_spacing_is_measured_to_a_fraction_of_a_pixel():
    lit = np.zeros((30, 900), bool)
    for k in range(40):
        x = round(10 + k * 21.37)
        lit[20:23, x:x + 2] = True
    found = mark_period_px(lit, (0, 899), range(5, 28))
    assert found is not None and found[0] == pytest.approx(21.37, abs=0.05) and 19 <= found[1] <= 23


def test_calibration_needs_a_time_scale():
    scale = ScreenScale((10, 20, 500, 300), 150.0, -1.3, None, "CW", 4, 0.2)
    with pytest.raises(CalibrationError, match="time scale"):
        scale.calibration()
    cal = ScreenScale((10, 20, 500, 300), 150.0, -1.3, 0.0025, "CW", 4, 0.2).calibration()
    assert (cal.s_per_px, cal.cm_s_per_px, cal.baseline_row, cal.mode) == (0.0025, -1.3, 150.0, "CW")
    assert (cal.region.x0, cal.region.y0, cal.region.x1, cal.region.y1, cal.region.ref_y0) == (10, 20, 500, 300, 130)


# --- whole screens ---------------------------------------------------------------------------

def _drawn_screen(seed: int = 0) -> tuple[np.ndarray, list[st.Word]]:
    """A plain screen: speckled strip x 40..700, rows 100..400, baseline at 250, labels every 50 px
    (100 cm/s, so -2 cm/s per px) right of it, and the OCR words for those labels."""
    rng = np.random.default_rng(seed)
    img = np.zeros((480, 800, 3), np.uint8)
    img[100:401, 40:701] = rng.integers(0, 120, (301, 661, 1), dtype=np.uint8)
    img[250, 40:701] = 200
    draw, words = ImageDraw.Draw(pil := Image.fromarray(img)), []
    for v in range(-300, 301, 100):
        y = 250 - v // 2
        draw.line([(703, y), (709, y)], fill=(255, 255, 255))
        draw.text((714, y - 5), str(v), fill=(255, 255, 255))
        words.append(st.Word(str(v), 90.0, (714, y - 5, 7 * len(str(v)), 10)))
    return np.asarray(pil), words


def test_whole_screen_with_given_words_finds_box_baseline_and_scale():
    img, words = _drawn_screen()
    scale = read_screen_scale(img, words + [st.Word("CW", 95.0, (5, 5, 20, 10))])
    assert scale.cm_s_per_px == pytest.approx(-2.0, rel=0.01)
    assert scale.baseline_row == pytest.approx(250.0, abs=0.6)
    x0, y0, x1, y1 = scale.box
    assert abs(x0 - 40) <= 4 and abs(x1 - 700) <= 4 and y0 <= 110 and y1 >= 390
    assert scale.mode == "CW" and scale.s_per_px is None  # no ECG, no heart rate
    with pytest.raises(CalibrationError, match="time scale"):
        scale.calibration()


def test_whole_screen_without_labels_is_refused_with_a_reason():
    img, _ = _drawn_screen()
    with pytest.raises(CalibrationError, match="tick label"):
        read_screen_scale(img, [st.Word("Doe", 90.0, (5, 5, 20, 10))])


SEEDS = range(10)


@needs_tesseract
def test_synthetic_screens_read_with_tesseract_match_the_generator_truth():
    good, refusals = 0, []
    for seed in SEEDS:
        case = generate_doppler(seed)
        truth = spectral_calibration(case.regions, case.frames.shape[1:3], "x")
        try:
            scale = read_screen_scale(case.frames[0])
        except CalibrationError as exc:
            refusals.append(str(exc))
            continue
        ok = (abs(scale.cm_s_per_px / truth.cm_s_per_px - 1) <= 0.03
              and abs(scale.baseline_row - truth.baseline_row) <= 2)
        good += ok
        if ok and scale.s_per_px is not None:
            assert scale.s_per_px == pytest.approx(truth.s_per_px, rel=0.05), seed
            assert scale.calibration().region.y0 <= truth.baseline_row <= scale.calibration().region.y1
    assert good >= 8, f"only {good} of {len(SEEDS)} synthetic screens read within 3 % / 2 px"
    assert all(len(r) > 20 for r in refusals)


@needs_real
def test_real_cw_screens_read_from_the_ocr_listing():
    files = sorted(p for p in REAL.iterdir() if p.suffix.lower() in (".png", ".jpeg", ".jpg"))
    assert len(files) == 40
    read = 0
    for path in files:
        img = np.asarray(Image.open(path).convert("RGB"))
        try:
            scale = read_screen_scale(img, words_from_ocr_csv(REAL / "ocr_results.csv", path.name))
        except CalibrationError as exc:
            assert str(exc)
            continue
        read += 0.5 <= abs(scale.cm_s_per_px) <= 5 and 0 <= scale.baseline_row < img.shape[0]
    assert read >= 30, f"only {read} of 40 real screens gave a plausible scale from the OCR listing"


@needs_real
@needs_tesseract
def test_real_cw_screens_read_with_tesseract_agree_on_one_vendor_scale():
    scales = []
    for name in ("10.png", "17.png", "2.png", "25.png"):
        img = np.asarray(Image.open(REAL / name).convert("RGB"))
        scale = read_screen_scale(img)
        assert scale.mode == "CW" or name == "17.png"
        scales.append(scale.cm_s_per_px)
    assert all(s == pytest.approx(-1.30, rel=0.03) for s in scales), scales

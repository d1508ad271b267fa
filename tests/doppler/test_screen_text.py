import numpy as np
import pytest

from echoseg.doppler import screen_text as st
from echoseg.doppler.site import SCREEN_OTHER_WEIGHT, site_posterior
from echoseg.synth import overlay
from echoseg.types import Region

needs_tesseract = pytest.mark.skipif(not st.available(), reason="Tesseract OCR is not installed")


def _words(*texts: str, conf: float = 90.0) -> list[st.Word]:
    return [st.Word(t, conf, (0, 0, 10, 10)) for t in texts]


@pytest.mark.parametrize("texts, site", [
    (("LVOT", "PW"), "lvot"), (("LVOTVTI",), "lvot"), (("RVOT", "VTI"), "rvot"), (("MVE/A",), "mv"),
    (("Mitral",), "mv"), (("AoV", "CW"), "av"), (("AVVmax",), "av"), (("PVPW",), "pv"), (("PA",), "pv"),
    (("Pulmonary",), "pv"), (("left", "ventricular", "outflow"), "lvot"), (("MV",), "mv"),
])
def test_site_from_words_reads_scanner_labels(texts, site):
    assert st.site_from_words(_words(*texts, "2.5", "MHz", "Gain", "-8", "dB")) == site


@pytest.mark.parametrize("texts", [
    ("Pa", "PRF", "5.9", "kHz"),  # OCR noise in mixed case is not an abbreviation
    ("MV", "LVOT"),  # two sites named: refuse rather than guess
    ("AVI", "4V1", "MI", "0.8", "MHz", "Adult", "Echo"),  # look-alikes of site words
    ("Pulmonary", "vein"), (),
])
def test_site_from_words_refuses_noise_and_ambiguity(texts):
    assert st.site_from_words(_words(*texts)) is None


def test_site_from_words_drops_low_confidence_words():
    assert st.site_from_words(_words("LVOT", conf=10.0)) is None
    assert st.site_from_words(_words("LVOT", conf=10.0), min_conf=5.0) == "lvot"


def test_parse_tsv_scales_boxes_and_skips_empty_words():
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t200\t100\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t20\t40\t60\t22\t91.5\tLVOT\n")
    assert st.parse_tsv(tsv, scale=2) == [st.Word("LVOT", 91.5, (10, 20, 30, 11))]


def test_text_image_blanks_regions_to_background_and_inverts_text():
    frame = np.full((60, 100, 3), 10, np.uint8)
    frame[5:10, 5:30] = 240  # text
    frame[30:60, 0:100] = np.random.default_rng(0).integers(0, 255, (30, 100, 3), dtype=np.uint8)  # spectrum
    region = Region(0, 30, 99, 59, 3, 3, 4, 7, 0.01, 1.0, 0, 10, 0)
    img = st.text_image(frame, (region,))
    assert img.dtype == np.uint8 and img.shape == (60, 100)
    assert (img[30:] == 255).all() and (img[20:25] == 255).all()  # data region and background white
    assert (img[5:10, 5:30] == 0).all()  # brightest text black


def test_screen_label_multiplies_into_the_site_posterior():
    flat = np.full(5, 0.2)
    post = site_posterior(flat, "PW", -1, "pv")
    # PW and away: mv x 0.1 (direction), av x 0.05 (mode); the others x SCREEN_OTHER_WEIGHT
    assert post.argmax() == 4 and post[4] == pytest.approx(1 / (1 + (2 + 0.1 + 0.05) * SCREEN_OTHER_WEIGHT))
    # a waveform that rules the printed site out overrules a misread label
    sure_mv = np.array([0.999, 0.00025, 0.00025, 0.00025, 0.00025])
    assert site_posterior(sure_mv, "PW", +1, "av").argmax() == 0
    with pytest.raises(ValueError, match="screen_site"):
        site_posterior(flat, "PW", -1, "tv_inflow")


def test_available_is_off_when_disabled(monkeypatch):
    monkeypatch.setenv(st.ENV_DISABLE, "1")
    assert not st.available()


def _screen(label: str | None, seed: int = 0) -> tuple[np.ndarray, tuple[Region, ...]]:
    rng = np.random.default_rng(seed)
    frame = np.zeros((300, 500, 3), np.uint8)
    frame[:, :, 2] = 25  # a dark blue-black background
    texts = [(10, 10, "2.5 MHz"), (10, 30, "Gain 4 dB"), (10, 50, "WF 100 Hz"), (300, 10, "HR 72 bpm")]
    if label:
        texts.append((10, 70, label))
    ink = overlay.text_layer(frame.shape[:2], texts, size=14)
    frame = np.maximum(frame, (255 * ink[..., None] * np.array([0.9, 0.85, 1.0])).astype(np.uint8))
    frame[120:290, 20:480] = rng.integers(0, 256, (170, 460, 3), dtype=np.uint8)  # speckled spectrum
    return frame, (Region(20, 120, 479, 289, 3, 3, 4, 7, 0.004, 1.0, 0, 85, 0),)


@needs_tesseract
@pytest.mark.parametrize("label, site", [("LVOT PW", "lvot"), ("RVOT VTI", "rvot"), ("PV", "pv"),
                                         ("MV E/A", "mv"), ("AoV CW", "av"), (None, None)])
def test_screen_site_reads_a_rendered_label(label, site):
    frame, regions = _screen(label)
    found, words = st.screen_site(frame, regions)
    assert found == site
    assert any(w.text.startswith("MHz") for w in words)  # the other text was read too


@pytest.mark.parametrize("text, flow", [
    (["TR", "Vmax", "3.2", "m/s"], "tr"), (["TRVmax"], "tr"), (["PR", "PG"], "pr"), (["AI", "PHT"], "ar"),
    (["MR", "Vmax"], "mr"), (["E'", "8", "cm/s"], "tdi"), (["s'"], "tdi"), (["TV", "E/A"], "tv_inflow"),
    (["Pulmonary", "vein"], "pulm_vein"), (["HV"], "hepatic_vein"), (["Tricuspid", "regurgitation"], "tr"),
    (["RVSP", "42", "mmHg"], "tr"), (["PAEDP"], "pr"), (["PR", "PG"], "pr"), (["Mitral", "regurgitation"], "mr"),
    (["Aortic", "valve", "insufficiency"], "ar"), (["Pulmonary", "regurgitation"], "pr"), (["LAA", "vel"], "laa"),
    (["IVC"], "caval"), (["Superior", "vena", "cava"], "caval"), (["VSD", "Vmax"], "shunt"), (["PDA"], "shunt")])
def test_non_target_flows_are_named_and_never_read_as_a_site(text, flow):
    from echoseg.doppler.screen_text import Word, nontarget_from_words, site_from_words

    words = [Word(t, 90.0, (0, 0, 10, 10)) for t in text]
    assert nontarget_from_words(words) == flow
    assert site_from_words(words) is None


def test_site_words_name_no_non_target_flow_and_two_flows_name_none():
    from echoseg.doppler.screen_text import Word, nontarget_from_words

    def words(*t: str) -> list:
        return [Word(x, 90.0, (0, 0, 10, 10)) for x in t]

    for text in (("LVOT", "VTI"), ("PV", "VTI"), ("MV", "E/A"), ("AV", "Vmax"), ("Trace",), ("Prox",),
                 ("Mitral", "stenosis"), ("Aortic", "valve"), ("PA", "Vmax"), ("TRACE",), ("IVCT",)):
        assert nontarget_from_words(words(*text)) is None, text
    from echoseg.doppler.screen_text import site_from_words
    assert site_from_words(words("Mitral", "stenosis")) == "mv" and site_from_words(words("Aortic", "valve")) == "av"
    assert nontarget_from_words(words("TR", "PR")) is None
    assert nontarget_from_words([Word("TR", 10.0, (0, 0, 1, 1))]) is None  # below the confidence floor


def _line(*texts_x: tuple[str, int], y: int = 100, h: int = 14) -> list:
    from echoseg.doppler.screen_text import Word
    return [Word(t, 90.0, (x, y, 8 * len(t), h)) for t, x in texts_x]


@pytest.mark.parametrize("words, vti", [
    (_line(("VTI", 10), ("22.8", 100), ("cm", 140)), 22.8),   # a result box line
    (_line(("VTl", 10), ("101", 130), ("cm", 160)), 101.0),   # OCR's l for I, a wide gap to the number
    (_line(("PVVTI", 10), ("22.8cm", 90)), 22.8),             # glued
    (_line(("VTI", 10), ("22,8", 100), ("cm", 140)), 22.8),   # decimal comma
    (_line(("VTI", 10), ("22.8", 100), ("cm/s", 140)), None),  # a velocity, not a VTI
    (_line(("PV", 10), ("VTI", 40)), None),                   # the box's title: no number
    (_line(("VTI", 10), ("480", 100), ("cm", 140)), None),    # implausible: a misread
    (_line(("VTI", 10)) + _line(("22.8", 100), ("cm", 140), y=140), None),  # the number on another line
    (_line(("VTI", 10), ("22.8", 100), ("cm", 140)) + _line(("VTI", 10), ("30.1", 100), ("cm", 140), y=140), None),
    (_line(("VTI", 10), ("22.8", 100), ("cm", 140)) + _line(("VTI", 10), ("22.8", 100), ("cm", 140), y=140), 22.8),
])
def test_printed_vti_is_read_off_a_result_box_line(words, vti):
    from echoseg.doppler.screen_text import PRINTED_VTI, printed_value
    assert printed_value(words, PRINTED_VTI) == vti


@pytest.mark.parametrize("words, vmax", [
    (_line(("Vmax", 10), ("103", 100), ("cm/s", 140)), 103.0), (_line(("PV", 10), ("Vmax", 40), ("0.80", 120), ("m/s", 160)), 80.0),
    (_line(("Vmax", 10), ("375cm/s", 100)), 375.0), (_line(("Vmax", 10), ("103", 100), ("cm", 140)), None),
    (_line(("Vmean", 10), ("72.9", 100), ("cm/s", 140)), None)])
def test_printed_vmax_is_read_in_cm_per_s(words, vmax):
    from echoseg.doppler.screen_text import PRINTED_VMAX, printed_value
    assert printed_value(words, PRINTED_VMAX) == vmax

"""Real vendor ultrasound files shipped by ``pydicom-data``, with what echoseg must read from them.

Each row was checked against the pixels shown on screen, not only against echoseg's own parser:
frames were rendered to PNG and the depth labels, scale ticks and on-screen caliper readings read off
(notes in ``screen``). ``pixels`` maps (row, col) of frame 0 to the expected RGB triple; ``tol`` is the
allowed absolute difference per channel (non-zero for lossy codecs whose decoders may differ by a
rounding step). ``mean`` is the mean of every output value over all frames (uint8 RGB).

Pattern after pydicom's ``tests/pixels/pixels_reference.py``: one row per file, data not code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Reference:
    name: str
    frames: int
    rows: int
    cols: int
    photometric: str
    n_regions: int
    cm_per_px: float | None           # chosen 2D tissue scale, None when the file has no 2D region
    mean: float
    pixels: dict[tuple[int, int], tuple[int, int, int]] = field(default_factory=dict)
    tol: int = 0
    frame_time_ms: float | None = None
    manufacturer: str = ""
    error: str | None = None           # expected exception class name when the file cannot be decoded
    screen: str = ""                   # what the rendered frame shows, for the calibration check


_PHILIPS_SCREEN = (
    "Philips C5-1, label '11cm'. Region y 60..518, ReferencePixelY0 36 -> depth 0 at row 96. Blue 5-cm "
    "ticks at rows 97/287/477 (190 px = 5 cm -> 0.02632 cm/px, DICOM 0.02623, 0.3 %), white 1-cm ticks "
    "every 38 px; the 11-cm tick is at row 516: (516-97) px x 0.02623 = 10.99 cm. On-screen caliper "
    "'Cist Mag 1.06 cm' between '+' centres (459.5,290.5)-(498.5,301.5) = 40.5 px x 0.02623 = 1.063 cm. "
    "DICOM MaxX1 = 800 = Columns (one pixel outside): echoseg clips it to 799 with a warning. "
    "Region 2 is an ECG trace (format 4, data type 10), not Doppler.")
_PHILIPS_2F = _PHILIPS_SCREEN + " Frame 1 of the 2-frame variants is a synthetic blue-filled frame made by pydicom."
_PHILIPS_PX = {(80, 460): (0, 0, 0), (290, 459): (255, 255, 255), (97, 795): (90, 205, 255), (10, 20): (37, 62, 94)}
_ALOKA_SCREEN = (
    "ALOKA dual 2D (two side-by-side regions x 32..335 and 336..639, same scale). No depth number on screen. "
    "Green depth ticks at x 32-37 every 26.07 px from row 23.5 to 414.5 (15 intervals; long tick every 5) "
    "-> 1 cm = 26.07 px = 0.03836 cm/px, DICOM 0.03827 (0.25 %); region height 392 px x 0.03827 = 15.0 cm. "
    "Bottom ticks along x have the same 26.1-px spacing (square pixels). Region 3 (x 32..63, y 40..103, data "
    "type 13) is the grey bar drawn top left.")
_ALOKA_PX = {(100, 150): (16, 16, 16), (144, 36): (0, 250, 0), (60, 45): (141, 141, 141), (300, 500): (29, 29, 29)}
_US1_PX = {(200, 180): (55, 55, 55), (250, 450): (21, 21, 21), (30, 100): (255, 255, 255), (160, 620): (255, 255, 0)}
_US1I_PX = {(200, 180): (56, 57, 56), (250, 450): (21, 27, 0), (30, 100): (255, 255, 255), (160, 620): (255, 254, 0)}
_US1_SCREEN = ("GE power-Doppler lymph node, label '3cm3cm' and a caliper bar; no (0018,6011) regions, "
               "so echoseg reports no calibration (the user must pass --cm-per-px).")
_COLOR_PX = {(60, 120): (80, 80, 80), (40, 100): (16, 16, 16), (100, 200): (32, 32, 32)}

REFERENCES: tuple[Reference, ...] = (
    Reference("OBXXXX1A.dcm", 1, 600, 800, "PALETTE COLOR", 2, 0.02622878766196998, 12.4433, _PHILIPS_PX,
              manufacturer="Philips Medical Systems", screen=_PHILIPS_SCREEN),
    Reference("OBXXXX1A_2frame.dcm", 2, 600, 800, "PALETTE COLOR", 2, 0.02622878766196998, 28.1116, _PHILIPS_PX,
              manufacturer="Philips Medical Systems", screen=_PHILIPS_2F),
    Reference("OBXXXX1A_expb.dcm", 1, 600, 800, "PALETTE COLOR", 2, 0.02622878766196998, 12.4433, _PHILIPS_PX,
              manufacturer="Philips Medical Systems",
              screen="Big-endian copy; pydicom 3.0's apply_color_lut reads its LUT little-endian (all black), "
                     "echoseg unpacks it with the file's byte order. " + _PHILIPS_SCREEN),
    Reference("OBXXXX1A_expb_2frame.dcm", 2, 600, 800, "PALETTE COLOR", 2, 0.02622878766196998, 28.1116, _PHILIPS_PX,
              manufacturer="Philips Medical Systems", screen=_PHILIPS_2F),
    Reference("OBXXXX1A_rle.dcm", 1, 600, 800, "PALETTE COLOR", 2, 0.02622878766196998, 12.4433, _PHILIPS_PX,
              manufacturer="Philips Medical Systems", screen=_PHILIPS_SCREEN),
    Reference("OBXXXX1A_rle_2frame.dcm", 2, 600, 800, "PALETTE COLOR", 2, 0.02622878766196998, 28.1116, _PHILIPS_PX,
              manufacturer="Philips Medical Systems", screen=_PHILIPS_2F),
    Reference("gdcm-US-ALOKA-16.dcm", 1, 480, 640, "PALETTE COLOR", 3, 0.03826530650258064, 29.7341, _ALOKA_PX,
              manufacturer="ALOKA CO., LTD.", screen="16-bit segmented palette. " + _ALOKA_SCREEN),
    Reference("gdcm-US-ALOKA-16_big.dcm", 1, 480, 640, "PALETTE COLOR", 3, 0.03826530650258064, 29.7341, _ALOKA_PX,
              manufacturer="ALOKA CO., LTD.", screen="Big-endian copy. " + _ALOKA_SCREEN),
    Reference("color3d_jpeg_baseline.dcm", 120, 480, 640, "YBR_FULL_422", 1, 0.05104970559477806, 10.869,
              {(45, 340): (84, 84, 84), (40, 380): (75, 164, 124), (200, 300): (94, 94, 94), (460, 300): (27, 34, 44)},
              tol=3, frame_time_ms=33.333, manufacturer="SonoSite, Inc.",
              screen="SonoSite cardiac sector, depth label '19' (cm). Depth dots at x 596-597 every 19.61 px "
                     "from row 41.5 (0 cm) to 394.5 (18 cm), large dot every 5 cm (rows 139.5/237.5/335.5 -> "
                     "98 px = 5 cm = 0.05102 cm/px, DICOM 0.05105, 0.06 %); 19 cm falls at row 41.5 + 19/0.05105 = "
                     "413.7, the region's last row (414). Grey tissue decodes with R=G=B (96 % of pixels), "
                     "the green marker dot at (40, 380) stays green: YBR->RGB is right. HeartRate is 0 (absent).")
    ,
    Reference("JPGLosslessP14SV1_1s_1f_8b.dcm", 1, 768, 1024, "MONOCHROME2", 1, 0.025476696592378157, 17.2578,
              {(314, 629): (255, 255, 255), (319, 629): (104, 104, 104), (400, 512): (11, 11, 11),
               (140, 975): (242, 242, 242), (100, 500): (0, 0, 0)},
              manufacturer="Philips Medical Systems",
              screen="JPEG Lossless (process 14), decoded by python-gdcm (echoseg.io.codecs). Philips S5-1 "
                     "'Adult Echo', label '16cm'. On-screen caliper 'Asc Ao Diam 3.3 cm' between '+' centres "
                     "(row 319, col 629) and (435, 688): 130.1 px x 0.025477 = 3.316 cm. Region y 38..758."),
    Reference("US1_UNCR.dcm", 1, 480, 640, "RGB", 0, None, 34.5288, _US1_PX,
              manufacturer="G.E. Medical Systems", screen=_US1_SCREEN),
    Reference("US1_UNCI.dcm", 1, 480, 640, "RGB", 0, None, 34.6906, _US1I_PX,
              manufacturer="G.E. Medical Systems", screen="Lossy-history copy of US1. " + _US1_SCREEN),
    Reference("US1_J2KR.dcm", 1, 480, 640, "YBR_RCT", 0, None, 34.5288, _US1_PX,
              manufacturer="G.E. Medical Systems", screen="JPEG 2000 lossless, decoded by Pillow. " + _US1_SCREEN),
    Reference("US1_J2KI.dcm", 1, 480, 640, "YBR_ICT", 0, None, 34.6906, _US1I_PX, tol=2,
              manufacturer="G.E. Medical Systems", screen="JPEG 2000 lossy. " + _US1_SCREEN),
    Reference("color-pl.dcm", 1, 120, 256, "RGB", 0, None, 42.6622, _COLOR_PX,
              manufacturer="Acme Products", screen="Planar RGB colour Doppler; no regions."),
    Reference("color-px.dcm", 1, 120, 256, "RGB", 0, None, 42.6622, _COLOR_PX,
              manufacturer="Acme Products", screen="Pixel-interleaved copy of color-pl; identical output."),
    # ultrasound files bundled with pydicom itself (get_testdata_file finds them beside pydicom-data's)
    Reference("examples_jpeg2k.dcm", 1, 480, 640, "YBR_RCT", 0, None, 34.5288, _US1_PX,
              manufacturer="G.E. Medical Systems",
              screen="pydicom's copy of US1_J2KR (identical pixels), decoded by pylibjpeg-openjpeg. " + _US1_SCREEN),
    Reference("examples_rgb_color.dcm", 1, 240, 320, "RGB", 0, None, 34.2666,
              {(100, 90): (75, 60, 59), (125, 225): (33, 25, 25), (15, 50): (234, 234, 234), (80, 310): (254, 250, 0)},
              manufacturer="G.E. Medical Systems", screen="US1 halved to 320x240 by pydicom. " + _US1_SCREEN),
    Reference("ExplVR_BigEnd.dcm", 1, 60, 80, "RGB", 0, None, 171.5775,
              {(0, 0): (171, 171, 171), (30, 40): (255, 255, 0), (10, 10): (255, 255, 0)},
              manufacturer="G.E. Medical Systems",
              screen="A 60x80 big-endian crop of the US1 screen's yellow area (84 % of pixels 255,255,0); no regions."),
)


@dataclass(frozen=True)
class Refusal:
    """A real ultrasound file echoseg must refuse, the exception it raises and words its message must hold."""

    name: str
    error: str                         # exception class name in echoseg.errors
    says: str                          # a fragment of the message (after the file name)
    screen: str = ""


REFUSALS: tuple[Refusal, ...] = (
    Refusal("examples_palette.dcm", "CalibrationError", "lies outside the 800x350 image",
            screen="pydicom's 800x350 crop of OBXXXX1A that kept the 600-row file's (0018,6011) regions: "
                   "the 2D region (y 60..518) runs off the image, so its scale cannot be trusted."),
    Refusal("examples_ybr_color.dcm", "CalibrationError", "lies outside the 320x240 image",
            screen="pydicom's 320x240 downscale of color3d_jpeg_baseline with the 640x480 file's regions."),
)
"""Every ultrasound file that pydicom and pydicom-data ship is in REFERENCES or REFUSALS (tests/io/test_codecs.py)."""


def reference_path(name: str) -> Path | None:
    """Path of a pydicom-data file, or None when pydicom-data is not installed (never downloads)."""
    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        return None
    try:
        found = get_testdata_file(name, download=False)
    except Exception:  # noqa: BLE001 - any lookup failure means "not available here"
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None

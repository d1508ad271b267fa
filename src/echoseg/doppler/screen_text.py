"""Burned-in screen text: the site label a sonographer or scanner printed on a Doppler screen.

Scanners print the sample site ("LVOT PW", "MV E/A", "AV Vmax", "PV VTI"...) beside the spectrum,
and exported screenshots or secondary captures often carry no DICOM label at all. This module reads
that text with the Tesseract OCR engine (Apache-2.0, a system program: Debian's ``tesseract-ocr``)
when it is installed, and finds the one site it names. Without Tesseract, :func:`available` is
False and routing falls back to the waveform alone.

The data regions (spectral strip, 2D thumbnail) are blanked before reading, so speckle there cannot
be read as letters; short abbreviations must be upper case, as scanners print them.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from echoseg.types import Region

ENV_DISABLE = "ECHOSEG_NO_OCR"  # set to 1 to never call Tesseract
_SCALE = 2  # Tesseract reads small scanner fonts far better at twice their size
_MIN_CONF = 30.0

# Suffixes that scanners glue to a site abbreviation ("LVOTVTI", "MVE/A", "PVPW").
_SUFFIX = r"(?i:VTI|PW|CW|E/A|E|A|VMAX|V?MAX|MEAN|PEAK|INFLOW|VALVE|FLOW)*"
_END = r"(?![A-Za-z])"
NOT_LEAK = r"(?! (?:valve )?(?:regurg|insuff|incompet))"  # "mitral regurgitation" names MR, not the MV site
# site -> (case-sensitive abbreviation pattern for one word, case-insensitive name pattern for the
# joined text)
_SITE_TOKENS = {
    "lvot": (rf"^LVOT{_SUFFIX}{_END}", r"\bleft ventricular outflow"),
    "rvot": (rf"^RVOT{_SUFFIX}{_END}", r"\bright ventricular outflow"),
    "mv": (rf"^MV{_SUFFIX}{_END}", rf"\bmitral\b{NOT_LEAK}"),
    "av": (rf"^(?:AV|AoV|AOV|Ao|AO){_SUFFIX}{_END}", rf"\baortic\b{NOT_LEAK}"),
    "pv": (rf"^(?:PV|PA|PULM){_SUFFIX}{_END}", rf"\bpulm(?:onic|onary)?\b(?! ?veins?\b){NOT_LEAK}"),
}


# Flows that are not one of the five VTI sites, as scanners and sonographers label them: "TR Vmax",
# "RVSP", "PR PG", "AI", "E'", "s'", "TV E/A", "P Vein", "HV", "LAA", "IVC", "VSD". Matched like the
# sites; see nontarget_from_words.
_GRAD = r"(?i:VMAX|V?MAX|PG|PEAK|MAXPG|MEANPG|VEL|VTI|CW|PW|JET|DT|PHT)*"
_OTHER_TOKENS = {
    "tr": (rf"^(?:TR{_GRAD}|RVSP|PASP|SPAP){_END}", r"\btricuspid (?:valve )?regurg"),
    "mr": (rf"^MR{_GRAD}{_END}", r"\bmitral (?:valve )?regurg"),
    "ar": (rf"^(?:AR|AI){_GRAD}{_END}", r"\baortic (?:valve )?(?:regurg|insuff)"),
    "pr": (rf"^(?:(?:PR|PI){_GRAD}|PAEDP|PADP){_END}", r"\bpulmon\w* (?:valve )?(?:regurg|insuff)"),
    "tdi": (r"^(?:[EeAaSs]['’`]|TDI|TVI|DTI)(?:[A-Za-z]{0,4})$", r"\btissue doppler"),
    "tv_inflow": (rf"^TV(?i:E/A|E|A|IN|INFLOW|PW)*{_END}", r"\btricuspid (?:inflow|valve inflow)"),
    "pulm_vein": (r"^(?:PVein|PVEIN|PulmV)$", r"\bpulm\w* ?veins?\b|\bp\.? ?vein"),
    "hepatic_vein": (rf"^HV{_GRAD}{_END}", r"\bhepatic"),
    # flows the network has no class for: refused by their words alone (vocab.PRINTED_NON_TARGETS)
    "laa": (rf"^LAA{_GRAD}{_END}", r"\b(?:left )?atrial appendage"),
    "caval": (rf"^(?:SVC|IVC){_GRAD}{_END}", r"\bvena cava|\bcaval\b"),
    "shunt": (rf"^(?:PDA|VSD|ASD|PFO){_GRAD}{_END}", r"\bshunt\b|\bductus\b|\bseptal defect"),
}


@dataclass(frozen=True)
class Word:
    """One word Tesseract read: its text, confidence (0-100) and box (x, y, w, h) in image pixels."""

    text: str
    conf: float
    box: tuple[int, int, int, int]


def available() -> bool:
    """True when the Tesseract program is installed and OCR is not disabled by ECHOSEG_NO_OCR=1."""
    return os.environ.get(ENV_DISABLE, "") not in ("1", "true", "yes") and shutil.which("tesseract") is not None


def text_image(frame: np.ndarray, blank: tuple[Region, ...] = ()) -> np.ndarray:
    """Dark-on-light grey image of the screen text: the brightest channel, with the ``blank``
    regions (data areas) set to the background, then stretched so the background (the median
    outside the data regions) is white and the brightest text black, so that Tesseract's global
    threshold separates them."""
    grey = (frame.max(axis=2) if frame.ndim == 3 else frame).astype(np.float32)
    data = np.zeros(grey.shape, dtype=bool)
    for r in blank:
        data[max(r.y0, 0):r.y1 + 1, max(r.x0, 0):r.x1 + 1] = True
    bg = float(np.median(grey[~data])) if (~data).any() else 0.0
    grey[data] = bg
    top = max(float(grey.max()), bg + 1.0)
    ink = np.clip((grey - bg) / (top - bg), 0.0, 1.0)
    return np.round(255.0 * (1.0 - ink)).astype(np.uint8)


def read_words(image: np.ndarray, timeout_s: float = 10.0) -> list[Word]:
    """Words Tesseract reads in a dark-on-light grey image (sparse-text mode, one thread)."""
    return start_reading(image).words(timeout_s)


class PendingRead:
    """Tesseract reading one image in its own process (:func:`start_reading`), so that the network
    runs meanwhile; :meth:`words` waits for it."""

    def __init__(self, proc: subprocess.Popen[bytes], png: bytes) -> None:
        self._proc, self._png = proc, png
        self._words: list[Word] | None = None

    def words(self, timeout_s: float = 10.0) -> list[Word]:
        """The words read (waits at most ``timeout_s``; the process is killed past it:
        subprocess.TimeoutExpired). RuntimeError when Tesseract fails. A second call returns the
        same words."""
        if self._words is not None:
            return list(self._words)
        try:
            out, err = self._proc.communicate(self._png, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise
        if self._proc.returncode != 0:
            raise RuntimeError(f"tesseract failed ({self._proc.returncode}): {err.decode(errors='replace')[:200]}")
        self._words = parse_tsv(out.decode(errors="replace"), scale=_SCALE)
        return list(self._words)

    def close(self) -> None:
        """Stop the reading if it still runs (nothing is left behind when its words are not needed)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def start_reading(image: np.ndarray) -> PendingRead:
    """Start Tesseract on a dark-on-light grey image (see :func:`text_image`); OSError when it cannot start."""
    from PIL import Image

    pil = Image.fromarray(image)
    pil = pil.resize((pil.width * _SCALE, pil.height * _SCALE), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.Popen(["tesseract", "stdin", "stdout", "--psm", "11", "tsv"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return PendingRead(proc, buf.getvalue())


def parse_tsv(tsv: str, scale: float = 1.0) -> list[Word]:
    """Words of Tesseract's TSV output with their boxes divided by ``scale`` (empty words dropped)."""
    words = []
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or not cols[11].strip():
            continue
        x, y, w, h = (int(round(int(v) / scale)) for v in cols[6:10])
        words.append(Word(cols[11].strip(), float(cols[10]), (x, y, w, h)))
    return words


def site_from_words(words: list[Word], min_conf: float = _MIN_CONF) -> str | None:
    """The one Doppler site the screen words name, or None when none or several are named.

    A word names a site when it starts with the site's upper-case abbreviation, optionally glued to
    a measurement suffix ("LVOT", "LVOTVTI", "MVE/A", "AoV"); full names ("Mitral", "Pulmonary",
    "left ventricular outflow"; any case, not "pulmonary vein") are matched on the joined words.
    """
    kept = [w.text.strip(".,:;()[]'\"") for w in words if w.conf >= min_conf]
    joined = " ".join(kept)
    found = {site for site, (abbrev, name) in _SITE_TOKENS.items()
             if re.search(name, joined, flags=re.IGNORECASE) or any(re.search(abbrev, t) for t in kept)}
    return found.pop() if len(found) == 1 else None


def nontarget_from_words(words: list[Word], min_conf: float = _MIN_CONF) -> str | None:
    """The one non-target flow (a key of :data:`echoseg.vocab.NON_TARGET_NAMES`) the screen words name
    ("TR Vmax", "PR", "E'", "TV E/A", "pulmonary vein"...), or None when none or several are named."""
    kept = [w.text.strip(".,:;()[]\"") for w in words if w.conf >= min_conf]
    joined = " ".join(kept)
    found = {key for key, (abbrev, name) in _OTHER_TOKENS.items()
             if re.search(name, joined, flags=re.IGNORECASE) or any(re.search(abbrev, t) for t in kept)}
    return found.pop() if len(found) == 1 else None


def screen_site(frame: np.ndarray, regions: tuple[Region, ...]) -> tuple[str | None, list[Word]]:
    """(site named on the screen or None, the words read) for one RGB or grey screen frame;
    the file's ultrasound regions are blanked first."""
    words = read_words(text_image(frame, regions))
    return site_from_words(words), words


@dataclass(frozen=True)
class PrintedQuantity:
    """How a result box prints one quantity: the label word, the units (factor to echoseg's unit;
    a number may carry its unit glued on, "22.8cm") and the plausible range in echoseg's unit."""

    word: re.Pattern[str]
    units: dict[str, float]
    plausible: tuple[float, float]


PRINTED_VTI = PrintedQuantity(re.compile(r"^(?:[A-Z]{2,4})?VT[Il1|]:?$"), {"cm": 1.0}, (1.0, 200.0))  # "VTl": OCR
PRINTED_VMAX = PrintedQuantity(re.compile(r"^(?:[A-Z]{2,4})?V ?max:?$", re.IGNORECASE), {"cm/s": 1.0, "m/s": 100.0},
                               (10.0, 700.0))
_PRINTED_NUMBER = re.compile(r"^(\d{1,3}(?:\.\d{1,2})?)([a-z/]*)$")


def printed_value(words: list[Word], q: PrintedQuantity, min_conf: float = _MIN_CONF) -> float | None:
    """The value a result box on the screen prints for ``q`` ("VTI 22.8 cm", OCR's "VTl 22.8 cm",
    "Vmax 1.03 m/s", "Vmax 103cm/s"): its word, then on the same line to its right a number and one of
    its units, converted to echoseg's unit; None when no such line is read, when lines print
    different values, or when the value lies outside the plausible range."""
    kept = [w for w in words if w.conf >= min_conf]
    found: set[float] = set()
    for w in kept:
        if not q.word.match(w.text):
            continue
        number = _next_on_line(w, kept, 8.0)
        m = None if number is None else _PRINTED_NUMBER.match(number.text.replace(",", ".").lower())
        if m is None or number is None:
            continue
        unit = m.group(2)
        if not unit:
            after = _next_on_line(number, kept, 3.0)
            unit = "" if after is None else after.text.lower().rstrip(".")
        if unit in q.units and q.plausible[0] <= float(m.group(1)) * q.units[unit] <= q.plausible[1]:
            found.add(round(float(m.group(1)) * q.units[unit], 2))
    return found.pop() if len(found) == 1 else None


def _next_on_line(w: Word, words: list[Word], reach: float) -> Word | None:
    """The nearest word to the right of ``w`` on its line, starting at most ``reach`` x its height away."""
    x, y, ww, h = w.box
    mid, h = y + h / 2, max(h, 1)
    right = [v for v in words if v is not w and v.box[0] >= x + ww - 1 and v.box[0] - (x + ww) <= reach * h
             and abs(v.box[1] + v.box[3] / 2 - mid) <= 0.6 * max(h, v.box[3])]
    return min(right, key=lambda v: v.box[0]) if right else None


def label_from_words(words: list[Word]) -> str | None:
    """The one class of :data:`echoseg.vocab.SITE_CLASSES` the words name: a site or a non-target
    flow; None when none, or a site and a non-target flow both, are named."""
    site, other = site_from_words(words), nontarget_from_words(words)
    return None if site and other else site or other

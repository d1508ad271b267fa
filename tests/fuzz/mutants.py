"""Seeded mutants of generated echo DICOMs, and the checks every one of them must pass.

Base files come from echoseg.synth (small A4C cines and Doppler screens, uncompressed and JPEG)
with planted, distinctive patient identifiers. Each mutant applies one or two mutations:

- ``flip``: 1-16 bytes set to random values (half the time inside the header);
- ``truncate``: the file cut at a random length;
- ``length``: the length field of a header element (SOP class, manufacturer, Rows, NumberOfFrames,
  a region tag, the patient's name, pixel data ...) set to a random, large or off-by-some value,
  so that values run on into their neighbours (the patient's name among them);
- ``vr``: an element's VR replaced by another;
- ``tag``: an element's tag bytes replaced;
- ``calibration``: absurd values written through pydicom: PhysicalDelta of +-inf, NaN, 1e300, 1e-300,
  0 or negative; FrameTime of 1e-300 ms or 1e300; NumberOfFrames of 10**6; Rows 65535; region bounds
  outside the image; ReferencePixelY0 far off; an unknown transfer syntax; a non-US modality.

:func:`check_case` runs one mutant through ``measure_file`` and ``describe_file`` (what ``echoseg
info`` prints) and returns the problems found: an uncaught exception, a reason that does not name
the file, is too long or not printable, a planted identifier in any output (results, the info
text and JSON, library warnings and log records), or too much time.
"""
from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

PLANTED = {"PatientName": "ZQXNAME^PLANTED", "PatientID": "ZQXPID7731", "PatientBirthDate": "19010203",
           "InstitutionName": "ZQXINSTITUTE", "ReferringPhysicianName": "ZQXDOCTOR^REF",
           "OtherPatientIDs": "ZQXOTHERID"}
"""Patient identifiers planted in every base file; none may appear in any output."""

MARKERS = ("ZQXNAME", "ZQXPID", "ZQXINSTITUTE", "ZQXDOCTOR", "ZQXOTHERID", "19010203")
"""What an output must never contain (every planted value holds one of these)."""

KINDS = ("flip", "truncate", "length", "vr", "tag", "calibration")

# tags whose element headers the length/vr/tag mutations aim at (group, element)
TARGETS = [(0x0008, 0x0016), (0x0008, 0x0060), (0x0008, 0x0070), (0x0008, 0x0080), (0x0008, 0x0090),
           (0x0008, 0x103E), (0x0010, 0x0010), (0x0010, 0x0020), (0x0010, 0x0030), (0x0018, 0x1063),
           (0x0018, 0x6011), (0x0018, 0x602C), (0x0018, 0x602E), (0x0018, 0x6018), (0x0018, 0x601C),
           (0x0020, 0x000D), (0x0028, 0x0002), (0x0028, 0x0004), (0x0028, 0x0008), (0x0028, 0x0010),
           (0x0028, 0x0011), (0x0028, 0x0100), (0x7FE0, 0x0010), (0x0002, 0x0010)]

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


@dataclass(frozen=True)
class Mutant:
    """One mutated file: its bytes, the mutations applied (for the report) and its base's name."""

    name: str
    base: str
    kinds: tuple[str, ...]
    data: bytes


@dataclass
class Outcome:
    """What one mutant did: its rows' qc/reasons, the problems found, seconds taken."""

    name: str
    kinds: tuple[str, ...]
    problems: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    passed_rows: int = 0
    read_ok: bool = False
    seconds: float = 0.0


# ------------------------------------------------------------------------------------ base files
def _plant(ds: Any) -> Any:
    for k, v in PLANTED.items():
        setattr(ds, k, v)
    return ds


def base_files(out: Path, seed: int = 0) -> list[Path]:
    """Write the base DICOMs (small synthetic A4C cines and Doppler screens, planted identifiers) into ``out``."""
    from echoseg.synth.a4c import generate_a4c
    from echoseg.synth.dicom_writer import to_dataset
    from echoseg.synth.doppler import generate_doppler

    out.mkdir(parents=True, exist_ok=True)
    cases = [("a4c", generate_a4c(seed + 1, n_frames=6, image_size=(200, 260)), "none"),
             ("a4c_jpeg", generate_a4c(seed + 2, n_frames=4, image_size=(200, 260)), "jpeg"),
             ("mv", generate_doppler(seed + 3, site="mv", image_size=(240, 320)), "none"),
             ("lvot_jpeg", generate_doppler(seed + 4, site="lvot", image_size=(240, 320)), "jpeg")]
    paths = []
    for stem, case, compression in cases:
        ds = _plant(to_dataset(case, compression=compression))
        path = out / f"{stem}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------ mutations
def _element_offsets(data: bytes, tag: tuple[int, int]) -> list[int]:
    """Byte offsets where ``tag`` (little endian) starts an element header in ``data``."""
    needle = tag[0].to_bytes(2, "little") + tag[1].to_bytes(2, "little")
    found, start = [], 0
    while (i := data.find(needle, start)) >= 0 and len(found) < 8:
        found.append(i)
        start = i + 1
    return found


def _flip(rng: np.random.Generator, data: bytearray) -> None:
    header = min(len(data), 2048)
    for _ in range(int(rng.integers(1, 17))):
        hi = header if rng.random() < 0.5 else len(data)
        data[int(rng.integers(0, hi))] = int(rng.integers(0, 256))


def _truncate(rng: np.random.Generator, data: bytearray) -> None:
    del data[int(rng.integers(0, len(data))):]


def _pick_element(rng: np.random.Generator, data: bytearray) -> int | None:
    for _ in range(8):
        offsets = _element_offsets(bytes(data), TARGETS[int(rng.integers(0, len(TARGETS)))])
        if offsets:
            return offsets[int(rng.integers(0, len(offsets)))]
    return None


def _length(rng: np.random.Generator, data: bytearray) -> None:
    i = _pick_element(rng, data)
    if i is None or i + 12 > len(data):
        return _flip(rng, data)
    vr = bytes(data[i + 4:i + 6])
    long_form = vr in _LONG_VRS
    at, width = (i + 8, 4) if long_form else (i + 6, 2)
    old = int.from_bytes(data[at:at + width], "little")
    choice = rng.integers(0, 4)
    new = [int(rng.integers(0, 2 ** (8 * width))), 2 ** (8 * width) - 1, old + int(rng.integers(1, 400)),
           max(0, old - int(rng.integers(1, 8)))][int(choice)]
    data[at:at + width] = int(new % 2 ** (8 * width)).to_bytes(width, "little")


def _vr(rng: np.random.Generator, data: bytearray) -> None:
    i = _pick_element(rng, data)
    if i is None:
        return _flip(rng, data)
    vrs = [b"UL", b"US", b"FD", b"DS", b"IS", b"SQ", b"OB", b"UN", b"LO", b"PN", b"XX", b"\x00\x00"]
    data[i + 4:i + 6] = vrs[int(rng.integers(0, len(vrs)))]


def _tag(rng: np.random.Generator, data: bytearray) -> None:
    i = _pick_element(rng, data)
    if i is None:
        return _flip(rng, data)
    data[i + int(rng.integers(0, 4))] = int(rng.integers(0, 256))


_ABSURD = [float("inf"), -float("inf"), float("nan"), 1e300, 1e-300, 0.0, -0.05, 5e3]


def _calibration(rng: np.random.Generator, path: Path) -> bytes:
    """Absurd values written through pydicom (so the file itself stays well formed)."""
    import pydicom
    from pydicom import config

    ds = pydicom.dcmread(path)
    what = int(rng.integers(0, 10))
    value = _ABSURD[int(rng.integers(0, len(_ABSURD)))]
    regions = list(ds.get("SequenceOfUltrasoundRegions") or [])
    item = regions[int(rng.integers(0, len(regions)))] if regions else None
    if what <= 2 and item is not None:
        setattr(item, ["PhysicalDeltaX", "PhysicalDeltaY"][what % 2], value)
    elif what == 3:
        ds.FrameTime = str(["1e-300", "1e300", "-20", "0", "nan"][int(rng.integers(0, 5))])
    elif what == 4:
        ds.NumberOfFrames = int([10 ** 6, 0, 2 ** 31 - 1, 3000][int(rng.integers(0, 4))])
    elif what == 5:
        ds.Rows = int([65535, 1, 0][int(rng.integers(0, 3))])
    elif what == 6 and item is not None:
        item.RegionLocationMaxX1 = int([10 ** 9, -5, 0][int(rng.integers(0, 3))]) % 2 ** 32
    elif what == 7 and item is not None:
        item.ReferencePixelY0 = int([10 ** 6, -10 ** 6, 2 ** 31 - 1][int(rng.integers(0, 3))])
    elif what == 8:  # an unknown transfer syntax of the same length (the file meta stays consistent)
        data = path.read_bytes()
        ts = str(ds.file_meta.TransferSyntaxUID).encode()
        return data.replace(ts, ts[:-2] + [b"99", b"77", b".3"][int(rng.integers(0, 3))], 1)
    else:
        ds.Modality = ["CT", "ZZ", ""][int(rng.integers(0, 3))]
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    import io
    buf = io.BytesIO()
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(buf, enforce_file_format=False)
    finally:
        config.settings.writing_validation_mode = old
    return buf.getvalue()


def mutants(bases: list[Path], n: int, seed: int) -> Iterator[Mutant]:
    """``n`` seeded mutants of ``bases`` (one or, a quarter of the time, two mutations each)."""
    rng = np.random.default_rng(seed)
    raw = {p: p.read_bytes() for p in bases}
    ops = {"flip": _flip, "truncate": _truncate, "length": _length, "vr": _vr, "tag": _tag}
    for i in range(n):
        base = bases[int(rng.integers(0, len(bases)))]
        kinds = [KINDS[int(rng.integers(0, len(KINDS)))] for _ in range(2 if rng.random() < 0.25 else 1)]
        data = bytearray(_calibration(rng, base) if "calibration" in kinds else raw[base])
        for k in kinds:
            if k != "calibration":
                ops[k](rng, data)
        yield Mutant(f"m{i:05d}_{'+'.join(kinds)}_{base.stem}.dcm", base.name, tuple(kinds), bytes(data))


# ------------------------------------------------------------------------------------ checks
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001
            self.messages.append(str(record.msg))


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in asdict(obj).items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj if isinstance(obj, (str, int, float, bool, type(None))) else str(obj)


def _describe_file() -> Any:
    """echoseg.io.read.describe_file, or (to fuzz an older echoseg) what its ``info`` did: describe(read())
    with EchosegError caught."""
    from echoseg.io import read as reader

    if hasattr(reader, "describe_file"):
        return reader.describe_file
    from echoseg.errors import EchosegError

    def describe_file(path: Path) -> dict[str, Any]:
        try:
            return dict(reader.describe(reader.read(path)))
        except EchosegError as exc:
            return {"file": str(path), "error": str(exc)}
    return describe_file


def check_case(path: Path, kinds: tuple[str, ...], models: Any, opts: Any, max_seconds: float = 30.0,
               max_reason: int = 500) -> tuple[Outcome, Any]:
    """Run ``path`` through ``measure_file`` and ``describe_file``; the outcome and the FileResult."""
    from echoseg.io.read import format_text
    from echoseg.pipeline import measure_file

    describe_file = _describe_file()

    out = Outcome(path.name, kinds)
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    t0 = time.perf_counter()
    result = None
    texts: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = measure_file(path, models, opts)
            except BaseException as exc:  # noqa: BLE001 - the very thing we look for
                out.problems.append(f"measure_file raised {type(exc).__name__}: {str(exc)[:200]}")
            try:
                desc = describe_file(path)
                texts.append(json.dumps(desc, allow_nan=False))
                out.read_ok = "error" not in desc
                texts.append(format_text(desc) if out.read_ok else str(desc["error"]))
            except BaseException as exc:  # noqa: BLE001
                out.problems.append(f"describe_file raised {type(exc).__name__}: {str(exc)[:200]}")
        texts += [str(w.message) for w in caught]
    finally:
        root.removeHandler(records)
    out.seconds = time.perf_counter() - t0
    texts += records.messages
    if result is not None:
        texts.append(json.dumps(_plain(result), default=str))
        for m in result.measurements:
            out.passed_rows += m.qc == "pass"
            if m.reason:
                out.reasons.append(m.reason)
                if result.error is not None and str(path) not in m.reason:  # QC reasons sit in the file's row
                    out.problems.append(f"reason does not name the file: {m.reason[:200]}")
                if len(m.reason) > max_reason or not m.reason.isprintable():
                    out.problems.append(f"reason too long ({len(m.reason)}) or not printable")
                if "internal error" in m.reason:
                    out.problems.append(f"internal error: {m.reason[:300]}")
    for t in texts:
        if any(k in t for k in MARKERS):
            out.problems.append(f"planted identifier in an output: {t[:300]!r}")
            break
    if out.seconds > max_seconds:
        out.problems.append(f"took {out.seconds:.1f} s (> {max_seconds:g} s)")
    return out, result


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB; Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------------ the web demo
class WebFuzz:
    """Mutants through the web demo's upload handler (a FastAPI test client), every fourth one zipped.

    Each upload must answer 200 with the file's entry (or a 4xx with a clean reason, never a 500),
    every reason naming the name shown, no "internal error", no temporary path and no planted
    identifier in the response; each session's downloads (CSV, JSON, HTML) are checked the same way
    before the next session (one per 30 uploads) replaces it.
    """

    PER_SESSION = 30

    def __init__(self, models: Any) -> None:
        from fastapi.testclient import TestClient

        from echoseg.web.app import create_app

        self.app = create_app(models)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.sid: str | None = None
        self.uploads = 0
        self.statuses: dict[int, int] = {}

    def _session(self) -> list[str]:
        problems = []
        if self.sid is not None and self.uploads >= self.PER_SESSION:
            problems = self.check_downloads()
            self.client.delete(f"/api/sessions/{self.sid}")
            self.sid = None
        if self.sid is None:
            self.sid, self.uploads = self.client.post("/api/sessions").json()["id"], 0
        return problems

    def check(self, name: str, data: bytes, zipped: bool) -> list[str]:
        """Upload one mutant; the problems found."""
        import io
        import zipfile

        problems = self._session()
        if zipped:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(f"study/{name}", data)
            upload, shown = (f"{Path(name).stem}.zip", buf.getvalue()), f"{Path(name).stem}.zip/study/{name}"
        else:
            upload, shown = (name, data), name
        r = self.client.post(f"/api/sessions/{self.sid}/upload",
                             files=[("files", (*upload, "application/octet-stream"))])
        self.uploads += 1
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        if any(p.is_file() for p in self.app.state.store.root.rglob("*")):
            problems.append("an upload stayed on disk after it was measured")
        text = r.text
        if r.status_code >= 500:
            return [*problems, f"web upload answered {r.status_code}"]
        if any(k in text for k in MARKERS):
            problems.append(f"planted identifier in the web response: {text[:300]!r}")
        if "echoseg-web-" in text:
            problems.append("a temporary path in the web response")
        if r.status_code != 200:
            detail = str(r.json().get("detail", ""))
            if not detail or not detail.isprintable() or len(detail) > 500:
                problems.append(f"web upload {r.status_code} without a clean reason: {detail[:200]!r}")
            return problems
        entries = [f for f in r.json()["files"] if f["name"] == shown]
        if not entries:
            return [*problems, f"web upload answered 200 without an entry named {shown}"]
        entry = entries[-1]
        reasons = [t["reason"] for t in entry["tasks"] if t["reason"]] + ([entry["error"]] if entry["error"] else [])
        for reason in reasons:
            if "internal error" in reason:
                problems.append(f"web internal error: {reason[:300]}")
            if entry["error"] and shown not in reason:
                problems.append(f"web reason does not name the file: {reason[:200]}")
        return problems

    def check_downloads(self) -> list[str]:
        problems = []
        for what in ("measurements.csv", "results.json", "report.html"):
            r = self.client.get(f"/api/sessions/{self.sid}/download/{what}")
            if r.status_code != 200:
                problems.append(f"web download {what} answered {r.status_code}")
            elif any(k in r.text for k in MARKERS):
                problems.append(f"planted identifier in the web download {what}")
        return problems

    def close(self) -> list[str]:
        """Check the last session's downloads, then stop; the problems found. Nothing may stay on disk."""
        problems = self.check_downloads() if self.sid is not None else []
        root = self.app.state.store.root
        self.client.__exit__(None, None, None)
        if root.exists():
            problems.append(f"the web demo's folder {root} is left after shutdown")
        return problems

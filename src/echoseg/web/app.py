"""Web demo: upload echo DICOMs (or a zipped study), see each measurement with its overlay and QC,
adjust the measured frame or the beats, and download the session's tables and report.

Run it with ``echoseg app`` (:func:`serve`), which listens on 127.0.0.1:8000 by default. Every
measurement goes through :func:`echoseg.pipeline.measure_file`, the call the command line uses;
the edits reuse the same post-processing, measurement and QC functions on what the pipeline
computed. Uploaded files live in a per-session temporary folder only while they are measured;
results stay in memory under a random session id (a few sessions, least recently used dropped).

Why FastAPI + uvicorn rather than Gradio or Streamlit: three small pure-Python dependencies
instead of a framework with dozens; every endpoint is a plain function testable with
``fastapi.testclient`` without a browser; the page is three static files (no frontend build,
nothing fetched from a CDN at run time); no telemetry or analytics to switch off, and the
server binds 127.0.0.1 unless told otherwise.

Example::

    >>> from echoseg.web import create_app, serve
    >>> app = create_app()                  # an ASGI app for any server  # doctest: +SKIP
    >>> serve(port=8000)                    # or run it here with uvicorn  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import json
import secrets
import shutil
import tempfile
import threading
import zipfile
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np

try:
    from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(f"the web demo needs fastapi, uvicorn and python-multipart ({exc}); "
                      "install them with: pip install 'echoseg[web]'") from exc

from echoseg.vocab import ATRIUM_LABEL
from echoseg.doppler.study import study_rows
from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.report.html import html_report
from echoseg.report.overlay import overlay_image
from echoseg.report.tables import BEAT_COLUMNS, MEASUREMENT_COLUMNS, beat_rows, measurement_rows
from echoseg.types import Beat, FileResult, Measurement, SpectralCalibration, TissueCalibration
from echoseg.vocab import DISCLAIMER, TASKS_ATRIA

MAX_SESSIONS = 4
MAX_FILES = 32  # per session
MAX_UPLOAD_BYTES = 1 << 30  # per upload request, zips counted uncompressed
DOWNLOADS = ("measurements.csv", "beats.csv", "studies.csv", "results.json", "report.html")


# ============================================================================= edit contexts
@dataclass(frozen=True, eq=False)
class AtriaContext:
    """What a frame edit needs: per-frame atrial probabilities at model resolution and the cine."""

    probs: dict[str, np.ndarray]  # task -> (T, S, S) float16
    geom: Any  # preprocess.Geometry
    cal: TissueCalibration
    frames_jpeg: tuple[bytes, ...]


@dataclass(frozen=True)
class DopplerContext:
    """What a beat edit needs to re-run QC: the strip's calibration and flow side."""

    cal: SpectralCalibration
    side: int | None
    envelope_conf: float | None


def atria_context(path: Path, result: FileResult, models: Models, cm_per_px: float | None = None) -> AtriaContext:
    """Re-run the atria network on ``path`` (as the pipeline did) and keep what frame edits need."""
    from PIL import Image

    from echoseg.atria.prepare import atria_input
    from echoseg.io.calibration import tissue_calibration
    from echoseg.io.read import read
    from echoseg.models.inference import infer

    img = read(path, cm_per_px=cm_per_px)
    cal = tissue_calibration(img.regions, img.shape, img.path)
    loaded = models.get("atria")
    x, geom = atria_input(img.frames, cal, size=int(loaded.config["input_size"]))
    probs = infer(loaded.model, x)
    jpegs = []
    for frame in img.frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=90)
        jpegs.append(buf.getvalue())
    keep = {t: probs[:, ATRIUM_LABEL[t]].astype(np.float16) for t in result.curves}
    return AtriaContext(probs=keep, geom=geom, cal=cal, frames_jpeg=tuple(jpegs))


def doppler_context(path: Path, result: FileResult) -> DopplerContext:
    """Calibration of the strip, the flow side (from the envelope) and the envelope confidence."""
    from echoseg.io.calibration import row_to_velocity, spectral_calibration
    from echoseg.io.read import read

    img = read(path, max_frames=1)
    cal = spectral_calibration(img.regions, img.shape, img.path)
    side = None
    if result.envelope is not None:
        v = row_to_velocity(cal, np.asarray(result.envelope[1], dtype=np.float64))
        v = v[np.isfinite(v)]
        if v.size and np.abs(v).max() > 0:
            flow = v[np.abs(v) > 0.1 * np.abs(v).max()]
            side = 1 if float(np.median(flow)) > 0 else -1
    m = result.measurements[0]
    conf = m.extra.get("envelope_confidence", m.confidence)  # lower bound when the pipeline omits it
    return DopplerContext(cal=cal, side=m.extra.get("side", side), envelope_conf=conf)


def atrium_at_frame(ctx: AtriaContext, curve: np.ndarray, task: str,
                    frame: int) -> tuple[float, np.ndarray, Any, dict[str, Any]]:
    """(area cm², full-size mask, QCResult, extras) of ``task`` on ``frame``, as the pipeline measures it."""
    from echoseg.atria.measure import area_length_volume_ml
    from echoseg.atria.postprocess import clean_mask, long_axis, soft_area_cm2
    from echoseg.atria.qc import qc_atria
    from echoseg.imaging.resample import to_image

    n = ctx.probs[task].shape[0]
    if not 0 <= frame < n:
        raise ValueError(f"frame must be between 0 and {n - 1} for this cine, not {frame}")
    prob = to_image(ctx.probs[task][frame].astype(np.float32), ctx.geom)
    mask = clean_mask(prob)
    value = soft_area_cm2(prob, ctx.cal)
    check = qc_atria(curve, mask, prob, task, frame=frame, cal=ctx.cal)
    extra: dict[str, Any] = {"warnings": list(check.warnings), "raw_value": value}
    if mask.any() and value > 0:
        length = long_axis(mask, ctx.cal)
        extra.update(length_cm=length, volume_ml=area_length_volume_ml(value, length))
    return value, mask, check, extra


def doppler_with_beats(m: Measurement, beats: tuple[Beat, ...], included: set[int], ctx: DopplerContext,
                       site_conf: float | None) -> Measurement:
    """The measurement recomputed over the included complete beats (incomplete beats never count)."""
    from echoseg.doppler.measure import summarise_beats
    from echoseg.doppler.qc import qc_doppler

    unknown = included - {b.index for b in beats}
    if unknown:
        raise ValueError(f"beats {sorted(unknown)} do not exist; this strip has beats "
                         f"{[b.index for b in beats]}")
    chosen = [b for b in beats if not b.complete or b.index in included]
    summary = summarise_beats(chosen, irregular=m.extra.get("irregular"))
    check = qc_doppler(chosen, summary, ctx.envelope_conf, site_conf, ctx.cal, site=m.task.removesuffix("_vti"),
                       side=ctx.side)
    excluded = sorted(b.index for b in beats if b.complete and b.index not in included)
    extra = dict(m.extra) | {k: summary.get(k) for k in ("sd", "n_total", "heart_rate_bpm", "vmax_cm_s", "vmean_cm_s",
                                                           "peak_gradient_mmhg", "mean_gradient_mmhg")}
    extra |= {"warnings": list(check.warnings) + list(m.extra.get("notes") or []), "raw_value": summary["value"],
              "edited": True,
              "edit": f"beats {', '.join(str(i + 1) for i in excluded)} excluded by the user"}
    reason = check.reason if summary["n"] or not excluded else "every complete beat is excluded; include at least one"
    return replace(m, value=summary["value"] if check.passed else None, n=int(summary["n"]), qc=check.qc,
                   reason=reason, confidence=check.confidence, extra=extra)


# ============================================================================= session state
@dataclass
class Entry:
    """One measured file of a session: the pipeline's result, the user's edits and the edited result."""

    id: str
    original: FileResult
    context: AtriaContext | DopplerContext | None = None
    context_error: str = ""
    truth: dict[str, float] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)  # atria: task -> chosen frame
    included: dict[str, set[int]] = field(default_factory=dict)  # Doppler: task -> included beat indices
    view_task: str | None = None  # the overlay shows this task's frame (None: the pipeline's overview)
    version: int = 0
    edited: FileResult | None = None

    @property
    def result(self) -> FileResult:
        return self.edited or self.original


@dataclass
class Session:
    """One browser session: its files (in upload order), diameters, temp folder and a lock for edits."""

    id: str
    tmp: tempfile.TemporaryDirectory[str]
    entries: dict[str, Entry] = field(default_factory=dict)
    lvot_cm: float | None = None
    rvot_cm: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)


def default_frames(result: FileResult) -> dict[str, int]:
    return {m.task: int(m.frame) for m in result.measurements if m.task in TASKS_ATRIA and m.frame is not None}


def default_included(result: FileResult) -> dict[str, set[int]]:
    return {t: {b.index for b in beats if b.complete} for t, beats in result.beats.items()}


def apply_edits(entry: Entry) -> FileResult:
    """The original result with the entry's frame and beat choices applied (unchanged tasks verbatim)."""
    r, ctx = entry.original, entry.context
    rows, masks, frames, labels = [], dict(r.masks), dict(r.frames_for_task), list(r.labels)
    for m in r.measurements:
        if isinstance(ctx, AtriaContext) and m.task in entry.frames and entry.frames[m.task] != m.frame:
            k = entry.frames[m.task]
            value, mask, check, extra = atrium_at_frame(ctx, r.curves[m.task], m.task, k)
            extra = dict(m.extra) | extra | {"edited": True, "edit": f"frame {k} chosen by the user "
                                                                      f"(pipeline: frame {m.frame})"}
            m = replace(m, value=value if check.passed else None, frame=k, qc=check.qc, reason=check.reason,
                        confidence=check.confidence, extra=extra)
            masks[m.task], frames[m.task] = mask, k
        elif isinstance(ctx, DopplerContext) and m.task in entry.included \
                and entry.included[m.task] != default_included(r).get(m.task):
            m = doppler_with_beats(m, r.beats[m.task], entry.included[m.task], ctx, r.route_confidence)
            labels = [(x, y, t if i in entry.included[m.task] or not r.beats[m.task][i].complete else f"({t})")
                      for i, (x, y, t) in enumerate(r.labels)]
        rows.append(m)
    image = r.image
    if isinstance(ctx, AtriaContext) and rows and rows[0].task in frames:
        k = frames[rows[0].task]
        image = r.image if k == r.frames_for_task.get(rows[0].task) else _decode(ctx.frames_jpeg[k])
    return replace(r, measurements=tuple(rows), masks=masks, frames_for_task=frames, labels=tuple(labels), image=image)


def _decode(jpeg: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def view_overlay(entry: Entry) -> bytes:
    """PNG of the overlay: the pipeline's overview, or the frame of the last edited atrium."""
    r = entry.result
    task = entry.view_task
    if task is not None and isinstance(entry.context, AtriaContext) and task in r.frames_for_task:
        k = r.frames_for_task[task]
        image = r.image if k == r.frames_for_task.get(r.measurements[0].task) else _decode(entry.context.frames_jpeg[k])
        r = replace(r, image=image, masks={t: m for t, m in r.masks.items() if r.frames_for_task.get(t) == k})
    img = overlay_image(r)
    if img is None:
        raise LookupError(f"{entry.original.file}: no image to draw (the file could not be read)")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ============================================================================= JSON views and downloads
def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def entry_json(entry: Entry) -> dict[str, Any]:
    r, orig = entry.result, entry.original
    tasks = []
    for m in r.measurements:
        tasks.append({"task": m.task, "value": _num(m.value), "raw_value": _num(m.extra.get("raw_value")),
                      "unit": m.unit, "n": m.n, "frame": m.frame, "qc": m.qc, "reason": m.reason,
                      "confidence": _num(m.confidence), "warnings": list(m.extra.get("warnings") or []),
                      "edited": bool(m.extra.get("edited")), "edit": m.extra.get("edit", ""),
                      "truth": entry.truth.get(m.task),
                      "details": {k: _num(m.extra[k]) for k in ("sd", "length_cm", "volume_ml", "heart_rate_bpm",
                                                                "vmax_cm_s", "peak_gradient_mmhg",
                                                                "mean_gradient_mmhg") if m.extra.get(k) is not None}})
    out: dict[str, Any] = {"id": entry.id, "name": orig.file, "kind": orig.kind, "route": orig.route,
                           "route_confidence": _num(orig.route_confidence), "error": orig.error,
                           "editable": entry.context is not None, "edit_note": entry.context_error,
                           "has_image": orig.image is not None, "version": entry.version, "tasks": tasks,
                           "cine": None, "beats": {}}
    if isinstance(entry.context, AtriaContext):
        out["cine"] = {"n_frames": len(entry.context.frames_jpeg), "frame_time_ms": orig.frame_time_ms,
                       "curves": {t: [round(float(a), 4) for a in c] for t, c in orig.curves.items()},
                       "frames": dict(r.frames_for_task), "pipeline_frames": default_frames(orig)}
    for task, beats in orig.beats.items():
        inc = entry.included.get(task, default_included(orig)[task])
        out["beats"][task] = [{"index": b.index, "start_s": b.start_s, "end_s": b.end_s, "vti_cm": b.vti_cm,
                               "vmax_cm_s": b.vmax_cm_s, "complete": b.complete,
                               "included": b.complete and b.index in inc} for b in beats]
    return out


def studies(session: Session) -> tuple[list[dict[str, object]], str]:
    """Derived indices per study over the session's (edited) passing values, and an error message."""
    results = [e.result for e in session.entries.values()]
    try:
        return study_rows(results, session.lvot_cm, session.rvot_cm), ""
    except ValueError as exc:
        return study_rows(results), str(exc)


def session_json(session: Session) -> dict[str, Any]:
    rows, err = studies(session)
    return {"id": session.id, "disclaimer": DISCLAIMER, "files": [entry_json(e) for e in session.entries.values()],
            "studies": [{k: _json_safe(v) for k, v in row.items()} for row in rows], "studies_error": err,
            "diameters": {"lvot_cm": session.lvot_cm, "rvot_cm": session.rvot_cm}}


def _json_safe(v: object) -> object:
    return _num(v) if isinstance(v, (float, np.floating)) else v


def _csv(rows: list[dict[str, object]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def download(session: Session, name: str) -> tuple[str, str]:
    """(content, media type) of one of :data:`DOWNLOADS`, with the user's edits applied and marked."""
    entries = list(session.entries.values())
    results = [e.result for e in entries]
    mrows = measurement_rows(results)
    flags = [bool(m.extra.get("edited")) for r in results for m in r.measurements]
    for row, flag in zip(mrows, flags, strict=True):
        row["edited"] = "yes" if flag else ""
    brows = beat_rows(results)
    inc = [b.complete and b.index in e.included.get(t, default_included(e.original)[t])
           for e in entries for t, beats in e.original.beats.items() for b in beats]
    for row, flag in zip(brows, inc, strict=True):
        row["included"] = "yes" if flag else "no"
    rows, _ = studies(session)
    if name == "measurements.csv":
        return _csv(mrows, list(dict.fromkeys([*MEASUREMENT_COLUMNS, "edited"]))), "text/csv"
    if name == "beats.csv":
        return _csv(brows, [*BEAT_COLUMNS, "included"]), "text/csv"
    if name == "studies.csv":
        return _csv(rows, list(rows[0]) if rows else ["study_uid"]), "text/csv"
    if name == "results.json":
        return json.dumps({"disclaimer": DISCLAIMER, "measurements": mrows, "beats": brows,
                           "studies": [{k: _json_safe(v) for k, v in r.items()} for r in rows]},
                          indent=1, default=str), "application/json"
    if name == "report.html":
        return html_report(results, rows), "text/html"
    raise LookupError(f"download must be one of {', '.join(DOWNLOADS)}, not {name!r}")


# ============================================================================= uploads
def safe_extract_zip(archive: Path, dest: Path, max_files: int = MAX_FILES,
                     max_bytes: int = MAX_UPLOAD_BYTES) -> list[Path]:
    """Extract the regular files of a zip under ``dest``; refuse path escapes, too many or too large members."""
    with zipfile.ZipFile(archive) as zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        if len(members) > 4 * max_files:
            raise ValueError(f"{archive.name}: {len(members)} files in the zip; at most {4 * max_files} are accepted")
        total = sum(i.file_size for i in members)
        if total > max_bytes:
            raise ValueError(f"{archive.name}: {total / 2**20:.0f} MiB uncompressed; at most "
                             f"{max_bytes / 2**20:.0f} MiB are accepted")
        out, written = [], 0
        root = dest.resolve()
        for info in members:
            target = (dest / info.filename).resolve()
            if root not in target.parents:
                raise ValueError(f"{archive.name}: member {info.filename!r} would be written outside the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):  # counted as written, whatever the zip declares
                    written += len(chunk)
                    if written > max_bytes:
                        raise ValueError(f"{archive.name}: more than {max_bytes / 2**20:.0f} MiB uncompressed")
                    dst.write(chunk)
            out.append(target)
    return out


class SessionStore:
    """Sessions in memory, least recently used dropped beyond ``max_sessions`` (their temp folders too)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, not {max_sessions}")
        self.max_sessions = max_sessions
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self) -> Session:
        s = Session(id=secrets.token_urlsafe(16), tmp=tempfile.TemporaryDirectory(prefix="echoseg-web-"))
        with self._lock:
            self._items[s.id] = s
            while len(self._items) > self.max_sessions:
                _, old = self._items.popitem(last=False)
                old.tmp.cleanup()
        return s

    def get(self, sid: str) -> Session:
        with self._lock:
            if sid not in self._items:
                raise KeyError(f"session {sid!r} is unknown or expired; reload the page to start a new one")
            self._items.move_to_end(sid)
            return self._items[sid]

    def drop(self, sid: str) -> None:
        with self._lock:
            s = self._items.pop(sid, None)
        if s is not None:
            s.tmp.cleanup()

    def close(self) -> None:
        for sid in list(self._items):
            self.drop(sid)

    def __len__(self) -> int:
        return len(self._items)


def measure_into(session: Session, path: Path, name: str, models: Models, cm_per_px: float | None = None,
                 truth: dict[str, float] | None = None) -> Entry:
    """Measure ``path`` into the session as ``name``, build its edit context, then delete the file."""
    if len(session.entries) >= MAX_FILES:
        raise ValueError(f"this session already holds {MAX_FILES} files; start a new session to measure more")
    try:
        result = measure_file(path, models, Options(cm_per_px=cm_per_px))
        ctx: AtriaContext | DopplerContext | None = None
        note = ""
        try:
            if result.kind == "a4c" and result.curves:
                ctx = atria_context(path, result, models, cm_per_px)
            elif result.kind == "doppler" and result.beats:
                ctx = doppler_context(path, result)
        except Exception as exc:  # noqa: BLE001 - the measurement stands; only editing is off
            note = f"editing unavailable: {type(exc).__name__}: {exc}"
    finally:
        path.unlink(missing_ok=True)
    result = _renamed(result, str(path), name)
    entry = Entry(id=secrets.token_hex(6), original=result, context=ctx, context_error=note, truth=truth or {},
                  frames=default_frames(result), included=default_included(result))
    session.entries[entry.id] = entry
    return entry


def _renamed(r: FileResult, tmp: str, name: str) -> FileResult:
    """Show the uploaded name instead of the temporary path everywhere in a result."""
    def fix(s: str | None) -> str | None:
        return None if s is None else s.replace(tmp, name)
    rows = tuple(replace(m, file=name, reason=fix(m.reason) or "",
                         extra=m.extra | {"warnings": [fix(w) for w in m.extra.get("warnings") or []]})
                 for m in r.measurements)
    return replace(r, file=name, measurements=rows, error=fix(r.error))


def synthetic_example(session: Session, seed: int, models: Models) -> list[Entry]:
    """Generate one synthetic study (A4C + five Doppler sites) and measure it; the DICOMs are deleted."""
    from echoseg.synth.dataset import write_dataset

    if not 0 <= seed < 1_000_000:
        raise ValueError(f"seed must be between 0 and 999999, not {seed}")
    folder = Path(tempfile.mkdtemp(dir=session.tmp.name))
    try:
        truth_csv = write_dataset(folder, "study", 1, seed, jpeg_fraction=0.0)
        truth: dict[str, dict[str, float]] = {}
        with open(truth_csv) as fh:
            for row in csv.DictReader(fh):
                truth.setdefault(row["file"], {})[row["task"]] = round(float(row["value"]), 4)
        return [measure_into(session, folder / f, f"example-{seed}/{f}", models, truth=t) for f, t in truth.items()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ============================================================================= app
def static_dir() -> Path:
    return Path(str(resources.files("echoseg").joinpath("web", "static")))


def create_app(models: Models | None = None, max_sessions: int = MAX_SESSIONS) -> FastAPI:
    """The FastAPI application. ``models`` defaults to the shipped weights, loaded on first use."""
    models = models or Models()
    store = SessionStore(max_sessions)
    busy = threading.Lock()  # one measurement at a time: the CPU is the limit

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        store.close()

    app = FastAPI(title="echoseg demo", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.exception_handler(KeyError)
    async def _unknown(_r: Request, exc: KeyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc.args[0]) if exc.args else "not found"}, status_code=404)

    @app.exception_handler(ValueError)
    async def _bad(_r: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        resp = await call_next(request)
        resp.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; object-src 'none'"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html")

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        from echoseg import __version__
        from echoseg.models.files import WEIGHTS_FILE, shipped_dir
        names = {"atria": models.atria_path, "doppler": models.doppler_path}
        present = {k: Path(v).exists() or (shipped_dir(v) / WEIGHTS_FILE).exists() for k, v in names.items()}
        return {"version": __version__, "disclaimer": DISCLAIMER, "models": present}

    @app.post("/api/sessions")
    def new_session() -> dict[str, Any]:
        return session_json(store.create())

    @app.get("/api/sessions/{sid}")
    def get_session(sid: str) -> dict[str, Any]:
        return session_json(store.get(sid))

    @app.delete("/api/sessions/{sid}")
    def end_session(sid: str) -> dict[str, str]:
        store.drop(sid)
        return {"detail": "session deleted"}

    @app.post("/api/sessions/{sid}/upload")
    def upload(sid: str, files: Annotated[list[UploadFile], File()],
               cm_per_px: Annotated[float | None, Form()] = None) -> dict[str, Any]:
        s = store.get(sid)
        folder = Path(tempfile.mkdtemp(dir=s.tmp.name))
        try:
            todo = _save_uploads(files, folder)
            with busy, s.lock:
                for path, name in todo:
                    measure_into(s, path, name, models, cm_per_px)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return session_json(s)

    @app.post("/api/sessions/{sid}/example")
    def example(sid: str, seed: int = 7) -> dict[str, Any]:
        s = store.get(sid)
        with busy, s.lock:
            synthetic_example(s, seed, models)
        return session_json(s)

    @app.post("/api/sessions/{sid}/files/{fid}/frame")
    def set_frame(sid: str, fid: str, body: dict[str, Any]) -> dict[str, Any]:
        s, e = _entry(store, sid, fid)
        task, frame = str(body.get("task")), body.get("frame")
        if not isinstance(e.context, AtriaContext) or task not in e.frames:
            raise ValueError(f"task must be one of {sorted(e.frames)} for a frame edit of {e.original.file}, "
                             f"not {task!r}")
        if not isinstance(frame, int) or not 0 <= frame < len(e.context.frames_jpeg):
            raise ValueError(f"frame must be an integer from 0 to {len(e.context.frames_jpeg) - 1}, not {frame!r}")
        with s.lock:
            e.frames[task], e.view_task = frame, task
            return _refresh(s, e)

    @app.post("/api/sessions/{sid}/files/{fid}/beats")
    def set_beats(sid: str, fid: str, body: dict[str, Any]) -> dict[str, Any]:
        s, e = _entry(store, sid, fid)
        task, inc = str(body.get("task")), body.get("included")
        if not isinstance(e.context, DopplerContext) or task not in e.included:
            raise ValueError(f"task must be one of {sorted(e.included)} for a beat edit of {e.original.file}, "
                             f"not {task!r}")
        if not isinstance(inc, list) or not all(isinstance(i, int) for i in inc):
            raise ValueError(f"included must be a list of beat indices, not {inc!r}")
        beats = {b.index: b for b in e.original.beats[task]}
        with s.lock:
            e.included[task] = {i for i in inc if i not in beats or beats[i].complete}
            return _refresh(s, e)

    @app.post("/api/sessions/{sid}/files/{fid}/reset")
    def reset(sid: str, fid: str) -> dict[str, Any]:
        s, e = _entry(store, sid, fid)
        with s.lock:
            e.frames, e.included, e.view_task = default_frames(e.original), default_included(e.original), None
            return _refresh(s, e)

    @app.get("/api/sessions/{sid}/files/{fid}/overlay.png")
    def overlay(sid: str, fid: str) -> Response:
        try:
            return Response(view_overlay(_entry(store, sid, fid)[1]), media_type="image/png")
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.put("/api/sessions/{sid}/diameters")
    def diameters(sid: str, body: dict[str, Any]) -> dict[str, Any]:
        s = store.get(sid)
        s.lvot_cm, s.rvot_cm = _diameter(body.get("lvot_cm"), "lvot_cm"), _diameter(body.get("rvot_cm"), "rvot_cm")
        return session_json(s)

    @app.get("/api/sessions/{sid}/download/{name}")
    def get_download(sid: str, name: str) -> Response:
        if name not in DOWNLOADS:
            raise HTTPException(404, f"download must be one of {', '.join(DOWNLOADS)}, not {name!r}")
        content, media = download(store.get(sid), name)
        return Response(content, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="echoseg-{name}"'})

    return app


def _entry(store: SessionStore, sid: str, fid: str) -> tuple[Session, Entry]:
    s = store.get(sid)
    if fid not in s.entries:
        raise KeyError(f"file {fid!r} is not in this session; reload the page")
    return s, s.entries[fid]


def _refresh(s: Session, e: Entry) -> dict[str, Any]:
    """Apply the entry's edits; the updated file and the session's study rows."""
    with s.lock:
        e.edited = apply_edits(e)
        e.version += 1
        out = session_json(s)
    return {"file": entry_json(e), "studies": out["studies"], "studies_error": out["studies_error"]}


def _diameter(v: Any, name: str) -> float | None:
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in cm, not {v!r}") from None
    if not 0.5 <= x <= 5.0:
        raise ValueError(f"{name} must be between 0.5 and 5 cm, not {v!r}")
    return x


def _save_uploads(files: list[Any], folder: Path) -> list[tuple[Path, str]]:
    """Write uploads under ``folder``, unpacking zips; (path, display name) of every input found."""
    from echoseg.io.read import find_inputs

    todo: list[tuple[Path, str]] = []
    total = 0
    for i, up in enumerate(files):
        name = Path(up.filename or f"upload{i}").name or f"upload{i}"
        path = folder / f"{i:03d}" / name
        path.parent.mkdir(parents=True)
        with open(path, "wb") as dst:
            shutil.copyfileobj(up.file, dst)
        total += path.stat().st_size
        if total > MAX_UPLOAD_BYTES:
            raise ValueError(f"upload larger than {MAX_UPLOAD_BYTES / 2**20:.0f} MiB; send fewer files at a time")
        if zipfile.is_zipfile(path):
            sub = path.parent / "unzipped"
            safe_extract_zip(path, sub)
            path.unlink()
            found = find_inputs([sub])
            if not found:
                raise ValueError(f"{name}: no DICOM, AVI or PNG/JPEG file inside the zip")
            todo += [(p, f"{name}/{p.relative_to(sub).as_posix()}") for p in found]
        else:
            todo.append((path, name))
    if len(todo) > MAX_FILES:
        raise ValueError(f"{len(todo)} files in one upload; at most {MAX_FILES} are accepted")
    return todo


def serve(host: str = "127.0.0.1", port: int = 8000, models: Models | None = None) -> None:
    """Run the demo with uvicorn until interrupted (127.0.0.1: reachable from this computer only)."""
    import uvicorn

    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, not {port}")
    print(f"echoseg demo on http://{host}:{port}  ({DISCLAIMER})")
    uvicorn.run(create_app(models), host=host, port=port, log_level="warning")

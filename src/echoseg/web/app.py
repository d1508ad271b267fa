"""Web demo: upload echo DICOMs (or a zipped study), see each measurement with its overlay and QC,
adjust the measured frame or the beats, and download the session's tables and report.

Run it with ``echoseg app`` (:func:`serve`), which listens on 127.0.0.1:8000 by default. Every
measurement goes through :func:`echoseg.pipeline.measure_file`, the call the command line uses,
once per file; the edits (:mod:`echoseg.web.edits`) re-measure with the family code on what the
pipeline kept. Uploaded files live in a per-session temporary folder only while they are measured;
results stay in memory under a random session id (64 sessions by default, least recently used dropped;
:mod:`echoseg.web.sessions`). This module holds the routes.

What a request may cost is bounded (:mod:`echoseg.web.limits`, docs/robustness.md): its body and what
its zips expand to, counted while it streams (:mod:`echoseg.web.uploads`); its measuring time, and it
stops when the client leaves. Requests from other sites and Host names the server does not answer
to are refused (:mod:`echoseg.web.guard`).

Why FastAPI + uvicorn rather than Gradio or Streamlit: three small pure-Python dependencies
instead of a framework with dozens; every endpoint is a plain function testable with
``fastapi.testclient`` without a browser; the page is three static files (no frontend build,
nothing fetched from a CDN at run time); no telemetry or analytics to switch off, and the
server binds 127.0.0.1 unless told otherwise.

Example::

    >>> from echoseg.web.app import create_app, serve
    >>> app = create_app()                  # an ASGI app for any server  # doctest: +SKIP
    >>> serve(port=8000)                    # or run it here with uvicorn  # doctest: +SKIP
"""
from __future__ import annotations

import asyncio
import math
import shutil
import signal
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

try:
    from fastapi import APIRouter, FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(f"the web demo needs fastapi, uvicorn and python-multipart ({exc}); "
                      "install them with: pip install 'echoseg[web]'") from exc

from echoseg.errors import clean_text
from echoseg.options import Models
from echoseg.vocab import DISCLAIMER
from echoseg.web import edits
from echoseg.web.guard import LOOPBACK_HOSTS, Guard
from echoseg.web.limits import DEFAULT_WEB_LIMITS, WebLimits
from echoseg.web.sessions import Session, SessionStore, measure_upload, synthetic_example
from echoseg.web.uploads import Budget, UploadCancelled, UploadTooLarge, receive_upload, unpack
from echoseg.web.views import DOWNLOADS, diameter, download, entry_json, session_json

T = TypeVar("T")

router = APIRouter()


def static_dir() -> Path:
    return Path(str(resources.files("echoseg").joinpath("web", "static")))


def create_app(models: Models | None = None, max_sessions: int | None = None, *,
               limits: WebLimits = DEFAULT_WEB_LIMITS, allowed_hosts: Collection[str] | None = None,
               tmp_parent: Path | None = None) -> FastAPI:
    """The FastAPI application. ``models`` defaults to the shipped weights, loaded on first use.

    ``limits`` bound what a request may cost (``max_sessions``, when given, overrides
    ``limits.max_sessions``); ``allowed_hosts`` are the names the Host header may carry (None: any;
    :func:`serve` sets them); ``tmp_parent`` is where the uploads' folder goes (default: the
    temporary directory). ``app.state`` holds the models, the limits, the
    :class:`~echoseg.web.sessions.SessionStore` (``store``), ``busy``, the lock that lets one
    measurement run at a time (the CPU is the limit), and ``closing``, set when the server stops.
    """
    if max_sessions is not None:
        from dataclasses import replace

        limits = replace(limits, max_sessions=max_sessions)
    app = FastAPI(title="echoseg demo", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan)
    app.state.models = models or Models()
    app.state.limits = limits
    app.state.store = SessionStore(limits.max_sessions, parent=tmp_parent)
    app.state.busy = threading.Lock()
    app.state.closing = threading.Event()
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.add_exception_handler(KeyError, _not_found)
    app.add_exception_handler(ValueError, _unprocessable)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, upload_bytes=limits.max_request_bytes)
    app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        app.state.closing.set()
        app.state.store.close()


async def _not_found(_r: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc.args[0]) if exc.args else "not found"}, status_code=404)


async def _unprocessable(_r: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": clean_text(exc)}, status_code=422)


async def _too_large(_r: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": clean_text(exc)}, status_code=413, headers={"Connection": "close"})


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.store
    return store


def _refresh(s: Session, e: edits.Entry) -> dict[str, Any]:
    """Apply the entry's edits; the updated file and the session's study rows."""
    with s.lock:
        e.edited = edits.apply_edits(e)
        e.version += 1
        out = session_json(s)
    return {"file": entry_json(e), "studies": out["studies"], "studies_error": out["studies_error"]}


# ============================================================================= routes
@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(static_dir() / "index.html")


@router.get("/api/info")
def info(request: Request) -> dict[str, Any]:
    from echoseg import __version__
    from echoseg.models.files import WEIGHTS_FILE, shipped_dir

    models: Models = request.app.state.models
    names = {"atria": models.atria_path, "doppler": models.doppler_path}
    present = {k: Path(v).exists() or (shipped_dir(v) / WEIGHTS_FILE).exists() for k, v in names.items()}
    lim: WebLimits = request.app.state.limits
    return {"version": __version__, "disclaimer": DISCLAIMER, "models": present,
            "limits": {"max_request_mb": lim.max_request_mb, "max_expanded_mb": lim.max_expanded_mb,
                       "max_files": lim.max_files, "max_seconds": lim.max_seconds}}


@router.post("/api/sessions")
def new_session(request: Request) -> dict[str, Any]:
    return session_json(_store(request).create())


@router.get("/api/sessions/{sid}")
def get_session(request: Request, sid: str) -> dict[str, Any]:
    return session_json(_store(request).get(sid))


@router.delete("/api/sessions/{sid}")
def end_session(request: Request, sid: str) -> dict[str, str]:
    _store(request).drop(sid)
    return {"detail": "session deleted"}


def _cm_per_px(text: str | None) -> float | None:
    """The form's calibration for AVI/PNG inputs (cm per pixel), None when empty."""
    if text is None or not text.strip():
        return None
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and 0 < x <= 1):
        raise ValueError("cm_per_px must be a scale in cm per pixel, above 0 and at most 1, "
                         f"not {clean_text(text, 40)!r}")
    return x


async def _watching(request: Request, stop: threading.Event, work: Callable[[], T]) -> T:
    """Run ``work`` in a worker thread; set ``stop`` when the client leaves (or this request is cancelled)."""
    task = asyncio.ensure_future(run_in_threadpool(work))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if await request.is_disconnected():
                stop.set()
    finally:
        if not task.done():
            stop.set()


@router.post("/api/sessions/{sid}/upload")
async def upload(request: Request, sid: str) -> dict[str, Any]:
    """Stream the upload to the session's folder, unpack its zips and measure its files; every byte is
    counted against the request's limits while it arrives, and the folder is deleted however this ends."""
    app, s = request.app, _store(request).get(sid)
    limits: WebLimits = app.state.limits
    stop: threading.Event = threading.Event()

    def cancelled() -> bool:
        return stop.is_set() or app.state.closing.is_set()

    try:
        folder = Path(tempfile.mkdtemp(dir=s.tmp.name))
    except FileNotFoundError:  # dropped (least recently used) since it was looked up
        raise KeyError("this session expired; reload the page to start a new one") from None
    try:
        budget = Budget(limits)
        try:
            got = await receive_upload(request.headers.get("content-type", ""), request.stream(), folder, budget,
                                       cancelled)
            cm = _cm_per_px(got.fields.get("cm_per_px"))
            todo = await _watching(request, stop, lambda: unpack(got, budget, cancelled))
            if not todo:
                raise ValueError("no file in the upload; choose one or more DICOM files or a .zip")
            if len(s.entries) + len(todo) > limits.max_files:
                raise ValueError(f"this session holds {len(s.entries)} files and the upload {len(todo)}; a session "
                                 f"holds at most {limits.max_files}: start a new session to measure more")
            await _watching(request, stop, lambda: measure_upload(
                s, todo, app.state.models, cm, app.state.busy, limits.max_seconds, cancelled))
        except (UploadCancelled, ClientDisconnect):
            return JSONResponse({"detail": "the upload was abandoned (the client left or the server is stopping)"},
                                status_code=408 if stop.is_set() else 503)  # type: ignore[return-value]
    finally:
        await run_in_threadpool(shutil.rmtree, folder, True)
    return session_json(s)


@router.post("/api/sessions/{sid}/example")
def example(request: Request, sid: str, seed: int = 7) -> dict[str, Any]:
    s = _store(request).get(sid)
    with request.app.state.busy, s.lock:
        synthetic_example(s, seed, request.app.state.models)
    return session_json(s)


@router.post("/api/sessions/{sid}/files/{fid}/frame")
def set_frame(request: Request, sid: str, fid: str, body: dict[str, Any]) -> dict[str, Any]:
    s, e = _store(request).entry(sid, fid)
    with s.lock:
        edits.choose_frame(e, str(body.get("task")), body.get("frame"))
        return _refresh(s, e)


@router.post("/api/sessions/{sid}/files/{fid}/beats")
def set_beats(request: Request, sid: str, fid: str, body: dict[str, Any]) -> dict[str, Any]:
    s, e = _store(request).entry(sid, fid)
    with s.lock:
        edits.choose_beats(e, str(body.get("task")), body.get("included"))
        return _refresh(s, e)


@router.post("/api/sessions/{sid}/files/{fid}/reset")
def reset(request: Request, sid: str, fid: str) -> dict[str, Any]:
    s, e = _store(request).entry(sid, fid)
    with s.lock:
        edits.reset(e)
        return _refresh(s, e)


@router.get("/api/sessions/{sid}/files/{fid}/overlay.png")
def overlay(request: Request, sid: str, fid: str) -> Response:
    try:
        return Response(edits.view_overlay(_store(request).entry(sid, fid)[1]), media_type="image/png")
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None


@router.put("/api/sessions/{sid}/diameters")
def diameters(request: Request, sid: str, body: dict[str, Any]) -> dict[str, Any]:
    s = _store(request).get(sid)
    s.lvot_cm, s.rvot_cm = diameter(body.get("lvot_cm"), "lvot_cm"), diameter(body.get("rvot_cm"), "rvot_cm")
    return session_json(s)


@router.get("/api/sessions/{sid}/download/{name}")
def get_download(request: Request, sid: str, name: str) -> Response:
    if name not in DOWNLOADS:
        raise HTTPException(404, f"download must be one of {', '.join(DOWNLOADS)}, not {name!r}")
    content, media = download(_store(request).get(sid), name)
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="echoseg-{name}"'})


def allowed_hosts_for(host: str) -> frozenset[str] | None:
    """The Host names :func:`serve` answers to when listening on ``host``: the loopback names for a
    loopback address, ``host`` (and the loopback names) otherwise, None (any) for 0.0.0.0 or ::."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return LOOPBACK_HOSTS | {host.strip("[]").lower()}


def serve(host: str = "127.0.0.1", port: int = 8000, models: Models | None = None, *,
          limits: WebLimits = DEFAULT_WEB_LIMITS, graceful_s: int = 5) -> None:
    """Run the demo with uvicorn until interrupted (127.0.0.1: reachable from this computer only).

    On SIGTERM, SIGINT or SIGHUP the requests in flight get ``graceful_s`` seconds, then are
    cancelled, and the uploads' folder is removed before the process ends (a second signal ends it
    at once, the folder removed all the same).
    """
    import uvicorn

    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, not {port}")
    app = create_app(models, limits=limits, allowed_hosts=allowed_hosts_for(host))
    store: SessionStore = app.state.store

    def cleanup_then_die(sig: int, _frame: object) -> None:  # uvicorn re-raises the signal it caught
        app.state.closing.set()
        store.close()
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)

    previous = {sig: signal.signal(sig, cleanup_then_die) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    print(f"echoseg demo on http://{host}:{port}  ({DISCLAIMER})", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=graceful_s)
    finally:
        app.state.closing.set()
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Web demo: upload echo DICOMs (or a zipped study), see each measurement with its overlay and QC,
adjust the measured frame or the beats, and download the session's tables and report.

Run it with ``echoseg app`` (:func:`serve`), which listens on 127.0.0.1:8000 by default. Every
measurement goes through :func:`echoseg.pipeline.measure_file`, the call the command line uses,
once per file; the edits (:mod:`echoseg.web.edits`) re-measure with the family code on what the
pipeline kept. Uploaded files live in a per-session temporary folder only while they are measured;
results stay in memory under a random session id (a few sessions, least recently used dropped;
:mod:`echoseg.web.sessions`). This module holds the routes.

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

import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

try:
    from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Request, UploadFile
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(f"the web demo needs fastapi, uvicorn and python-multipart ({exc}); "
                      "install them with: pip install 'echoseg[web]'") from exc

from echoseg.options import Models
from echoseg.vocab import DISCLAIMER
from echoseg.web import edits
from echoseg.web.sessions import MAX_SESSIONS, Session, SessionStore, measure_into, save_uploads, synthetic_example
from echoseg.web.views import DOWNLOADS, diameter, download, entry_json, session_json

router = APIRouter()


def static_dir() -> Path:
    return Path(str(resources.files("echoseg").joinpath("web", "static")))


def create_app(models: Models | None = None, max_sessions: int = MAX_SESSIONS) -> FastAPI:
    """The FastAPI application. ``models`` defaults to the shipped weights, loaded on first use.

    ``app.state`` holds the models, the :class:`~echoseg.web.sessions.SessionStore` (``store``)
    and ``busy``, the lock that lets one measurement run at a time (the CPU is the limit).
    """
    app = FastAPI(title="echoseg demo", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan)
    app.state.models = models or Models()
    app.state.store = SessionStore(max_sessions)
    app.state.busy = threading.Lock()
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.add_exception_handler(KeyError, _not_found)
    app.add_exception_handler(ValueError, _unprocessable)
    app.middleware("http")(_headers)
    app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.store.close()


async def _not_found(_r: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc.args[0]) if exc.args else "not found"}, status_code=404)


async def _unprocessable(_r: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    resp = await call_next(request)
    resp.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; object-src 'none'"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-store"
    return resp


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
    return {"version": __version__, "disclaimer": DISCLAIMER, "models": present}


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


@router.post("/api/sessions/{sid}/upload")
def upload(request: Request, sid: str, files: Annotated[list[UploadFile], File()],
           cm_per_px: Annotated[float | None, Form()] = None) -> dict[str, Any]:
    s = _store(request).get(sid)
    folder = Path(tempfile.mkdtemp(dir=s.tmp.name))
    try:
        todo = save_uploads(files, folder)
        with request.app.state.busy, s.lock:
            for path, name in todo:
                measure_into(s, path, name, request.app.state.models, cm_per_px)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
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


def serve(host: str = "127.0.0.1", port: int = 8000, models: Models | None = None) -> None:
    """Run the demo with uvicorn until interrupted (127.0.0.1: reachable from this computer only)."""
    import uvicorn

    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, not {port}")
    print(f"echoseg demo on http://{host}:{port}  ({DISCLAIMER})")
    uvicorn.run(create_app(models), host=host, port=port, log_level="warning")

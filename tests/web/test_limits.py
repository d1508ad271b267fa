"""The web demo under hostile and careless use (issue 17, item 9): each reproduction ends in a clear
refusal, quickly, with nothing left on disk.

Zip bomb and oversized uploads, cross-site requests, ten users at once, odd file names, a client
that leaves, a request over its time budget, and SIGTERM while an upload streams in (a real server
in a subprocess). No test needs the shipped weights: the files either never reach a network or are
refused before one runs.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from echoseg.options import Models  # noqa: E402
from echoseg.web import app as web  # noqa: E402
from echoseg.web import sessions  # noqa: E402
from echoseg.web.guard import refusal  # noqa: E402
from echoseg.web.limits import WebLimits  # noqa: E402
from echoseg.web.uploads import safe_name, shown_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NO_MODELS = Models(atria_path="/nonexistent/atria", doppler_path="/nonexistent/doppler")  # never loaded here


def _files_on_disk(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _post_named(client, name: str, data: bytes):
    """Upload ``data`` as a file named ``name``, the name's bytes sent as they are (UTF-8, NUL included)."""
    body = (b'--zz\r\nContent-Disposition: form-data; name="files"; filename="' + name.encode() + b'"\r\n'
            b"Content-Type: application/dicom\r\n\r\n" + data + b"\r\n--zz--\r\n")
    return client.post(f"/api/sessions/{client.sid}/upload", content=body,
                       headers={"content-type": "multipart/form-data; boundary=zz"})


def _declaring(data: bytes, size: int) -> bytes:
    """``data`` (a one-member zip) with the central directory claiming ``size`` uncompressed bytes."""
    at = data.index(b"PK\x01\x02") + 24
    return data[:at] + size.to_bytes(4, "little") + data[at + 4:]


@pytest.fixture
def client(tmp_path):
    app = web.create_app(NO_MODELS, limits=WebLimits(max_request_mb=2, max_expanded_mb=8), tmp_parent=tmp_path)
    with TestClient(app) as c:
        c.sid = c.post("/api/sessions").json()["id"]
        yield c


# ----------------------------------------------------------------------------- zip bombs
def test_zip_bomb_declaring_a_gibibyte_is_refused_at_once_under_the_default_limits(tmp_path):
    bomb = _declaring(_zip({"bomb.dcm": b"\0" * 1000}), 2 << 30)
    app = web.create_app(NO_MODELS, tmp_parent=tmp_path)
    with TestClient(app) as c:
        sid = c.post("/api/sessions").json()["id"]
        t0 = time.perf_counter()
        r = c.post(f"/api/sessions/{sid}/upload", files=[("files", ("bomb.zip", bomb, "application/zip"))])
        assert time.perf_counter() - t0 < 2.0
        assert r.status_code == 413 and "bomb.zip: the zip expands to" in r.json()["detail"]
        assert "768 MiB limit per upload" in r.json()["detail"]
        assert _files_on_disk(app.state.store.root) == []


def test_real_zip_bomb_is_refused_quickly_and_nothing_stays(client):
    bomb = _zip({"a.dcm": b"\0" * (64 << 20)})  # 64 MiB of zeros in ~64 KiB
    assert len(bomb) < 200_000
    t0 = time.perf_counter()
    r = client.post(f"/api/sessions/{client.sid}/upload", files=[("files", ("bomb.zip", bomb, "application/zip"))])
    assert time.perf_counter() - t0 < 3.0
    assert r.status_code == 413 and "8 MiB" in r.json()["detail"]
    assert _files_on_disk(client.app.state.store.root) == []


def test_the_expansion_limit_is_per_request_not_per_zip(client):
    each = _zip({"a.dcm": b"\0" * (3 << 20)})  # 3 MiB each: every zip alone is under the 8 MiB limit
    files = [("files", (f"part{i}.zip", each, "application/zip")) for i in range(3)]
    r = client.post(f"/api/sessions/{client.sid}/upload", files=files)
    assert r.status_code == 413 and "part2.zip" in r.json()["detail"] and "8 MiB limit" in r.json()["detail"], r.text
    assert _files_on_disk(client.app.state.store.root) == []
    assert client.get(f"/api/sessions/{client.sid}").json()["files"] == []


# ----------------------------------------------------------------------------- oversized bodies
def test_declared_oversize_is_refused_before_the_body_is_read(client):
    r = client.post(f"/api/sessions/{client.sid}/upload", content=b"x" * (3 << 20),
                    headers={"content-type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 413 and "2 MiB limit per request" in r.json()["detail"]
    big_json = client.post(f"/api/sessions/{client.sid}/files/x/frame", content=b"{" + b" " * (2 << 20) + b"}",
                           headers={"content-type": "application/json"})
    assert big_json.status_code == 413


def test_streamed_oversize_is_refused_while_streaming(tmp_path):
    """A real server and a chunked body with no Content-Length: the body is counted as it arrives and
    the 413 comes back after about 2 MiB, while the client still has most of its 64 MiB to send."""
    import select

    app = web.create_app(NO_MODELS, limits=WebLimits(max_request_mb=2), tmp_parent=tmp_path)
    with _served(app) as port:
        sid = httpx.post(f"http://127.0.0.1:{port}/api/sessions").json()["id"]
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(f"POST /api/sessions/{sid}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        part = b'--zz\r\nContent-Disposition: form-data; name="files"; filename="big.dcm"\r\n\r\n'
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        chunk = b"%x\r\n%s\r\n" % (65536, b"\0" * 65536)
        sent, reply = 0, b""
        deadline = time.monotonic() + 20
        while sent < (64 << 20) and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                sock.settimeout(5)
                with contextlib.suppress(ConnectionResetError):  # the server closes with the rest unread
                    while (more := sock.recv(65536)) and b"}" not in reply:
                        reply += more
                break
            if writable:
                sock.sendall(chunk)
                sent += 65536
        sock.close()
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent < (24 << 20), sent  # 2 MiB read, the rest at most what the sockets' buffers hold
        assert _files_on_disk(app.state.store.root) == []


# ----------------------------------------------------------------------------- cross-site requests
def test_cross_origin_requests_are_refused_and_change_nothing(client):
    store = client.app.state.store
    before = len(store)
    for _ in range(5):
        r = client.post("/api/sessions", headers={"origin": "https://evil.example"})
        assert r.status_code == 403 and "another site" in r.json()["detail"]
    assert client.delete(f"/api/sessions/{client.sid}", headers={"origin": "null"}).status_code == 403
    assert client.post("/api/sessions", headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert len(store) == before and client.get(f"/api/sessions/{client.sid}").status_code == 200
    # the page's own requests (same Origin) and clients without one (curl) pass
    assert client.post("/api/sessions", headers={"origin": "http://testserver"}).status_code == 200
    assert client.post("/api/sessions").status_code == 200
    assert client.get("/api/info").json()["limits"]["max_request_mb"] == 2  # the page checks sizes before sending


def test_host_check_refuses_names_the_server_does_not_answer_to(tmp_path):
    app = web.create_app(NO_MODELS, allowed_hosts=web.allowed_hosts_for("127.0.0.1"), tmp_parent=tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"host": "localhost:8000"}).status_code == 200
        r = c.get("/api/info", headers={"host": "rebound.evil.example:8000"})
        assert r.status_code == 400 and "Host header" in r.json()["detail"]
    assert web.allowed_hosts_for("0.0.0.0") is None
    assert refusal("PUT", {"host": "h:1", "origin": "http://h:1"}, {"h"}) is None
    assert refusal("PUT", {"host": "h:1", "origin": "http://h:2"}, {"h"})[0] == 403


# ----------------------------------------------------------------------------- sessions for a lab
def test_ten_parallel_users_all_keep_their_sessions(tmp_path):
    """Ten users at once on a real server: each creates a session, uploads and reads it back."""
    app = web.create_app(NO_MODELS, tmp_parent=tmp_path)
    with _served(app) as port:
        errors: list[str] = []
        sids: list[str] = []

        def user(i: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as h:
                sid = h.post("/api/sessions").json()["id"]
                sids.append(sid)
                r = h.post(f"/api/sessions/{sid}/upload", files=[("files", (f"user{i}.txt", b"hello", "text/plain"))])
                if r.status_code != 200:
                    errors.append(f"{i}: upload {r.status_code}")

        users = [threading.Thread(target=user, args=(i,)) for i in range(10)]
        for u in users:
            u.start()
        for u in users:
            u.join(60)
        assert errors == [] and len(sids) == 10
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as h:
            for sid in sids:
                r = h.get(f"/api/sessions/{sid}")
                assert r.status_code == 200 and len(r.json()["files"]) == 1
    assert sessions.MAX_SESSIONS >= 64


# ----------------------------------------------------------------------------- file names
@pytest.mark.parametrize("name", ["..", ".", "\0", "../..", "/"])
def test_a_file_name_with_nothing_usable_is_a_clear_4xx(client, name):
    r = _post_named(client, name, b"DICM")
    assert r.status_code == 422 and "has no usable name" in r.json()["detail"] and "rename it" in r.json()["detail"]
    assert _files_on_disk(client.app.state.store.root) == []


@pytest.mark.parametrize("name", ["../../etc/a4c.dcm", "/abs/path/a4c.dcm", "C:\\scans\\a4c.dcm", "a\0b.dcm",
                                  "x" * 5000 + ".dcm", "é" * 300 + ".dcm", ".hidden.dcm"])
def test_any_other_file_name_is_kept_inside_the_folder_and_shown_cleaned(client, name):
    r = _post_named(client, name, b"DICM" * 8)
    assert r.status_code == 200, r.text
    shown = r.json()["files"][-1]["name"]
    assert "/" not in shown and "\\" not in shown and "\0" not in shown and len(shown) <= 100
    assert shown.endswith(".dcm") and not shown.startswith(".") and len(shown.encode()) <= 200
    assert r.json()["files"][-1]["error"]  # refused with a reason (not a DICOM), not a server error
    assert _files_on_disk(client.app.state.store.root) == []
    assert not Path("/abs/path/a4c.dcm").exists()


def test_safe_name_and_shown_path():
    assert safe_name("a/b/../c.dcm") == "c.dcm" and safe_name("...") == "" and safe_name("a\x07.dcm") == "a.dcm"
    assert len(safe_name("y" * 500)) == 100 and safe_name("y" * 500 + ".dicom").endswith(".dicom")
    assert shown_path("../s1/./a.dcm", 0) == "s1/a.dcm" and shown_path("..", 3) == "member3"


# ----------------------------------------------------------------------------- time budget and cancellation
def test_a_request_stops_at_its_time_budget_and_when_cancelled(tmp_path):
    store = sessions.SessionStore(4, parent=tmp_path)
    s = store.create()
    todo = []
    for i in range(3):
        p = Path(s.tmp.name) / f"f{i}.txt"
        p.write_bytes(b"x")
        todo.append((p, f"f{i}.txt"))
    busy = threading.Lock()
    # no time left: every file gets a row saying why, none is measured
    assert sessions.measure_upload(s, todo, NO_MODELS, None, busy, 0.5, lambda: False) == 0
    reasons = [e.original.error for e in s.entries.values()]
    assert len(reasons) == 3 and all("used its 0.5 s budget" in r and f"f{i}.txt" in r for i, r in enumerate(reasons))
    # a client that leaves while waiting for the CPU: nothing runs, the wait ends
    busy.acquire()
    left = threading.Event()
    threading.Timer(0.3, left.set).start()
    t0 = time.perf_counter()
    assert sessions.measure_upload(s, todo, NO_MODELS, None, busy, 60, left.is_set) == 0
    assert time.perf_counter() - t0 < 2.0 and len(s.entries) == 3
    busy.release()
    # cancelled before the first file: nothing measured
    assert sessions.measure_upload(s, todo, NO_MODELS, None, busy, 60, lambda: True) == 0 and len(s.entries) == 3
    store.close()
    assert not store.root.exists()


def test_orphaned_upload_folders_of_dead_servers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"echoseg-web-{int(dead.stdout)}-abc123"
    (orphan / "session-x").mkdir(parents=True)
    (orphan / "session-x" / "upload.dcm").write_bytes(b"patient")
    alive = tmp_path / f"echoseg-web-{os.getpid()}-def456"
    alive.mkdir()
    store = sessions.SessionStore(2, parent=tmp_path)
    assert not orphan.exists() and alive.exists() and store.root.exists()
    store.close()


# ----------------------------------------------------------------------------- SIGTERM
def test_sigterm_during_an_upload_leaves_nothing_in_the_temporary_folder(tmp_path):
    """A real `serve()` in a subprocess, an upload half sent, SIGTERM: the process ends and its folder is gone."""
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    code = (f"from echoseg.web.app import serve; from echoseg.options import Models; "
            f"serve(port={port}, models=Models('/nonexistent/a', '/nonexistent/d'), graceful_s=1)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, proc)
        sid = httpx.post(f"http://127.0.0.1:{port}/api/sessions").json()["id"]
        sock = socket.create_connection(("127.0.0.1", port))
        head = (b'--zz\r\nContent-Disposition: form-data; name="files"; filename="cine.dcm"\r\n\r\n')
        sock.sendall(f"POST /api/sessions/{sid}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: {100 << 20}\r\n\r\n".encode()
                     + head + b"\0" * (4 << 20))
        deadline = time.monotonic() + 10
        while not [p for p in tmp_path.glob("echoseg-web-*/*/*/*/cine.dcm") if p.stat().st_size > 0]:
            assert time.monotonic() < deadline, "the upload never reached the disk"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(tmp_path.glob("echoseg-web-*")) == [], proc.stderr.read().decode()[-2000:]


@contextlib.contextmanager
def _served(app):
    """``app`` served by uvicorn in a thread on a free local port; yields the port."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for_port(port)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")

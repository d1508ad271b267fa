"""The web demo's limits under issue 17's reproductions, on a real `serve()` in a subprocess.

A 1 GiB zip bomb, three 300 MiB zips in one request, a 1.1 GB chunked upload, a cross-site POST, a
foreign Host, ten parallel users, a file named "..", then SIGTERM while 300 MiB of an upload sit
on disk; prints what each got, the server's CPU and peak memory, and what stayed in TMPDIR.
Needs about 1.5 GB of free disk under TMPDIR-FOLDER.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/web_limits.py TMPDIR-FOLDER
"""
import io
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx


def main(tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0)); return s.getsockname()[1]
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-c", f"from echoseg.web.app import serve; serve(port={port})"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try: socket.create_connection(("127.0.0.1", port), 0.2).close(); break
        except OSError: time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    def cpu():  # server process CPU seconds
        f = open(f"/proc/{proc.pid}/stat").read().split(")")[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    def hwm():
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith("VmHWM"): return int(line.split()[1]) / 1024
    sid = httpx.post(base + "/api/sessions").json()["id"]
    # 0. a few MB of JPEG DICOM declaring 1,000 frames of 800x600 (decodes to 1.3 GiB of RGB)
    from pydicom.encaps import encapsulate, generate_frames

    from echoseg.synth.a4c import generate_a4c
    from echoseg.synth.dicom_writer import to_dataset

    ds = to_dataset(generate_a4c(1, n_frames=1, image_size=(600, 800)), compression="jpeg")
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData, ds.NumberOfFrames = encapsulate([frame] * 1000), 1000
    big = io.BytesIO()
    ds.save_as(big, enforce_file_format=True)
    c0, t0, rss0 = cpu(), time.perf_counter(), hwm()
    r = httpx.post(f"{base}/api/sessions/{sid}/upload", files=[("files", ("cine.dcm", big.getvalue(), "application/dicom"))],
                   timeout=600)
    f = r.json()["files"][-1]
    print(f"{len(big.getvalue())/1e6:.1f} MB JPEG DICOM of 1000 frames of 800x600: HTTP {r.status_code} in "
          f"{time.perf_counter()-t0:.2f} s, server CPU {cpu()-c0:.2f} s, server peak RSS {rss0:.0f} -> {hwm():.0f} MiB: "
          f"{f['error']}")
    # 1. zip bomb: 1 GiB of zeros
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("bomb.dcm", "w", force_zip64=True) as f:
            z = b"\0" * (1 << 20)
            for _ in range(1024): f.write(z)
    bomb = buf.getvalue()
    c0, t0 = cpu(), time.perf_counter()
    r = httpx.post(f"{base}/api/sessions/{sid}/upload", files=[("files", ("bomb.zip", bomb, "application/zip"))], timeout=600)
    print(f"zip bomb {len(bomb)/1e6:.2f} MB -> 1 GiB: HTTP {r.status_code} in {time.perf_counter()-t0:.2f} s, server CPU {cpu()-c0:.2f} s: {r.json()['detail']}")
    # 3 zips of 300 MiB each (each under the limit alone)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", b"\0" * (300 << 20))
    part = buf.getvalue()
    c0, t0 = cpu(), time.perf_counter()
    r = httpx.post(f"{base}/api/sessions/{sid}/upload", files=[("files", (f"p{i}.zip", part, "application/zip")) for i in range(3)], timeout=600)
    print(f"3 zips of 300 MiB: HTTP {r.status_code} in {time.perf_counter()-t0:.2f} s, server CPU {cpu()-c0:.2f} s: {r.json()['detail']}")
    # 2. 1.1 GB upload, chunked (no Content-Length)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST /api/sessions/{sid}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    p = b'--zz\r\nContent-Disposition: form-data; name="files"; filename="big.dcm"\r\n\r\n'
    sock.sendall(b"%x\r\n%s\r\n" % (len(p), p))
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b"\1" * (1 << 20))
    sent, reply, t0, maxdisk = 0, b"", time.perf_counter(), 0
    while sent < 1100 * 10**6:
        rd, wr, _ = select.select([sock], [sock], [], 1)
        if rd:
            try: reply = sock.recv(200)
            except ConnectionResetError: reply = b"reset"
            break
        if wr: sock.sendall(chunk); sent += 1 << 20
        if sent % (64 << 20) == 0:
            maxdisk = max(maxdisk, sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()))
    sock.close()
    print(f"1.1 GB chunked upload: {reply[:40]!r} after {sent/2**20:.0f} MiB sent, {time.perf_counter()-t0:.1f} s; most on disk seen {maxdisk/2**20:.0f} MiB")
    # cross-site
    r = httpx.post(base + "/api/sessions", headers={"origin": "https://evil.example"})
    print(f"cross-site POST /api/sessions: HTTP {r.status_code}")
    r = httpx.get(base + "/api/info", headers={"host": "evil.example:8000"})
    print(f"foreign Host: HTTP {r.status_code}")
    # 10 parallel users
    sids, errs = [], []
    def user(i):
        with httpx.Client(base_url=base, timeout=60) as h:
            s = h.post("/api/sessions").json()["id"]; sids.append(s)
            if h.post(f"/api/sessions/{s}/upload", files=[("files", (f"u{i}.txt", b"x", "text/plain"))]).status_code != 200: errs.append(i)
    ts = [threading.Thread(target=user, args=(i,)) for i in range(10)]
    [t.start() for t in ts]; [t.join() for t in ts]
    kept = sum(httpx.get(f"{base}/api/sessions/{s}").status_code == 200 for s in sids)
    print(f"10 parallel users: {kept} of 10 sessions kept, {len(errs)} failed uploads")
    # '..' name
    body = b'--zz\r\nContent-Disposition: form-data; name="files"; filename=".."\r\n\r\nDICM\r\n--zz--\r\n'
    r = httpx.post(f"{base}/api/sessions/{sid}/upload", content=body, headers={"content-type": "multipart/form-data; boundary=zz"})
    print(f"file named '..': HTTP {r.status_code}: {r.json()['detail']}")
    print(f"server peak RSS so far {hwm():.0f} MiB")
    # SIGTERM during an upload
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST /api/sessions/{sid}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: {500 << 20}\r\n\r\n".encode() + p + b"\0" * (300 << 20))
    time.sleep(1)
    ondisk = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM); rc = proc.wait(60)
    left = list(tmp.glob("echoseg-web-*"))
    print(f"SIGTERM with {ondisk/2**20:.0f} MiB of upload on disk: exited ({rc}) in {time.perf_counter()-t0:.1f} s; left in TMPDIR: {left}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""A real PACS round trip: Orthanc (Debian's ``orthanc``, started here on free localhost ports in
tmp_path) gets a generated study over REST and C-STOREs it to ``echoseg listen``; echoseg measures it
and C-STOREs the SR back; the SR's numbers, read through Orthanc's REST API, must be those of
``echoseg measure`` on the same files. Skipped when Orthanc is not installed (scripts/setup.sh
installs it where apt can)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pydicom
import pytest

from echoseg.cli import main
from tests.net.conftest import LOINC, free_port, measured, sr_numbers

ORTHANC = shutil.which("Orthanc")
pytestmark = pytest.mark.skipif(ORTHANC is None, reason="Orthanc is not installed (Debian package orthanc)")


class Rest:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, body: bytes | dict | None = None, timeout: float = 30) -> object:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if isinstance(body, dict):
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as rsp:
            raw = rsp.read()
        return json.loads(raw) if raw else None


def _wait(what: str, check, timeout: float, procs: list[subprocess.Popen]) -> object:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for p in procs:
            assert p.poll() is None, f"{p.args[0]} exited with {p.returncode} while waiting for {what}"
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _echo(port: int, aet: str) -> bool:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title="PROBE")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 2
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    if not assoc.is_established:
        return False
    assoc.release()
    return True


@pytest.fixture()
def orthanc(tmp_path: Path):
    http, dicom, listen = free_port(), free_port(), free_port()
    config = {"Name": "echoseg-test", "StorageDirectory": str(tmp_path / "db"), "IndexDirectory": str(tmp_path / "db"),
              "HttpPort": http, "DicomPort": dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "Plugins": [], "OrthancExplorerEnabled": False, "WebDavEnabled": False,
              "DicomModalities": {"echoseg": ["ECHOSEG", "127.0.0.1", listen]}, "DicomCheckModalityHost": False,
              "DicomAlwaysAllowStore": True, "StableAge": 1, "HttpTimeout": 30}
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("w")
    proc = subprocess.Popen([str(ORTHANC), str(tmp_path / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    try:
        rest = Rest(http)
        _wait("Orthanc's REST API", lambda: rest.call("GET", "/system"), 30, [proc])
        yield {"rest": rest, "dicom": dicom, "listen": listen, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_orthanc_sends_study_to_echoseg_and_gets_the_sr_back(tmp_path: Path, study, orthanc) -> None:
    rest = orthanc["rest"]
    node_out = tmp_path / "node"
    node = subprocess.Popen([sys.executable, "-m", "echoseg", "listen", "--out", str(node_out), "--port",
                             str(orthanc["listen"]), "--ae-title", "ECHOSEG", "--idle", "600",
                             "--send-to", f"127.0.0.1:{orthanc['dicom']}:ORTHANC"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait("echoseg listen", lambda: _echo(orthanc["listen"], "ECHOSEG"), 30, [node])
        uploaded = [rest.call("POST", "/instances", p.read_bytes()) for p in study]
        (study_id,) = {u["ParentStudy"] for u in uploaded}  # type: ignore[index]
        rest.call("POST", "/modalities/echoseg/store", {"Resources": [study_id], "Synchronous": True}, timeout=60)

        def sr_instance():
            for series in rest.call("GET", f"/studies/{study_id}/series"):  # type: ignore[union-attr]
                if series["MainDicomTags"].get("Modality") == "SR":
                    return series["Instances"][0]
            return None

        sr_id = _wait("the SR in Orthanc", sr_instance, 60, [node, orthanc["proc"]])
        tags = rest.call("GET", f"/instances/{sr_id}/tags?simplify")
    finally:
        node.terminate()
        _, stderr = node.communicate(timeout=60)
    assert node.returncode == 0, stderr
    assert tags["StudyInstanceUID"] == str(pydicom.dcmread(study[0]).StudyInstanceUID)  # type: ignore[index]
    assert tags["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.88.33"  # type: ignore[index]
    from_pacs = sr_numbers(tags["ContentSequence"])  # type: ignore[index]

    direct = tmp_path / "measure"
    assert main(["measure", *map(str, study), "--out", str(direct), "--quiet"]) == 0
    rows = {task: float(r["value"]) for (_, task), r in measured(direct).items() if r["qc"] == "pass"}
    assert set(rows) == set(LOINC)
    for task, code in LOINC.items():
        assert from_pacs[code] == pytest.approx([rows[task]], abs=1e-3), task
    events = [json.loads(x)["event"] for x in (node_out / "node.jsonl").read_text().splitlines()]
    assert events.count("stored") == len(study) and "sent" in events

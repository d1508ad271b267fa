"""echoseg.dicomnode: a pynetdicom sender stores a study, the node measures it when the association
ends (or after the idle time), writes results like `echoseg measure`, and C-STOREs the SR back;
bad and non-ultrasound objects are accepted and reported, never crash the node."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from echoseg.batch.inputs import UsageError
from echoseg.dicomnode import Node, NodeConfig, Peer
from tests.io.test_read import make_ds, smooth_rgb
from tests.net.conftest import LOINC, free_port, measured, send, sr_numbers


def _node(out: Path, **kw) -> Node:
    return Node(NodeConfig(out=out, port=0, idle_s=kw.pop("idle_s", 30.0), **kw)).start()


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "node.jsonl").read_text().splitlines()]


def _ct(study_uid: str) -> pydicom.Dataset:
    return make_ds(smooth_rgb(1, 16, 16)[..., 0], "MONOCHROME2", sop="1.2.840.10008.5.1.4.1.1.2", modality="CT",
                   regions=(), StudyInstanceUID=study_uid)


def _truncated_us(study_uid: str) -> pydicom.Dataset:
    ds = make_ds(smooth_rgb(2, 24, 32), "RGB", StudyInstanceUID=study_uid)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]  # fewer bytes than two frames need
    return ds


def test_echo_and_wrong_called_ae_title(tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    node = _node(tmp_path / "out")
    try:
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", node.port, ae_title="ECHOSEG")
        assert assoc.is_established
        assert int(assoc.send_c_echo().Status) == 0
        assoc.release()
        other = ae.associate("127.0.0.1", node.port, ae_title="NOTME")
        assert not other.is_established  # only associations addressed to this node
    finally:
        node.stop()
    assert node.config.host == "127.0.0.1"


def test_study_measured_when_association_ends_and_sr_sent_back(tmp_path: Path, study, receiver) -> None:
    out = tmp_path / "out"
    node = _node(out, send_to=Peer("127.0.0.1", receiver.port, receiver.ae_title), idle_s=600)  # no idle timeout
    try:
        uid = str(pydicom.dcmread(study[0]).StudyInstanceUID)
        bad = [_ct(uid), _truncated_us(uid)]
        statuses, _ = send(node.port, [pydicom.dcmread(p) for p in study] + bad)
        assert statuses == [0, 0, 0, 0]  # every object accepted, the bad ones too
        assert node.wait_measured(timeout=90)  # long before the idle time: the release triggered it
        assert receiver.got.wait(30)
    finally:
        node.stop()
    rows = measured(out)
    assert len(rows) == 4
    passed = {task: float(r["value"]) for (_, task), r in rows.items() if r["qc"] == "pass"}
    assert set(passed) == {"lvot_vti", "av_vti"}, rows
    fails = [r["reason"] for r in rows.values() if r["qc"] == "fail"]
    assert any("not an ultrasound image" in why for why in fails)
    assert any("truncated" in why for why in fails)
    for f in ("beats.csv", "results.json", "report.html", "run.json"):
        assert (out / f).is_file()
    (sr,) = receiver.received
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33" and sr.StudyInstanceUID == uid
    numbers = sr_numbers(sr.ContentSequence)
    for task, code in LOINC.items():
        assert numbers[code] == pytest.approx([passed[task]], abs=1e-3)
    kinds = [e["event"] for e in _events(out)]
    assert kinds.count("stored") == 4 and "measured" in kinds and "sent" in kinds
    stored = [e for e in _events(out) if e["event"] == "stored"]
    assert sum(e["ultrasound"] for e in stored) == 3
    text = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.suffix in (".jsonl", ".csv", ".json"))
    assert "Dulcinea" not in text and "8675309" not in text  # paths are hashes, the log has no header text


def test_idle_time_measures_an_open_association(tmp_path: Path, study) -> None:
    out = tmp_path / "out"
    node = _node(out, idle_s=0.5, sr=False)
    try:
        _, assoc = send(node.port, [pydicom.dcmread(study[0])], release=False)
        t0 = time.monotonic()
        while not (out / "measurements.csv").is_file() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        assert (out / "measurements.csv").is_file(), "not measured while the association stayed open"
        assert assoc.is_established
        assoc.release()
        assert node.wait_measured(timeout=60)
    finally:
        node.stop()
    assert not (out / "sr").exists()
    assert len(measured(out)) == 1


@pytest.mark.filterwarnings("ignore:The value length")  # pydicom, building the bad object here
def test_garbage_object_does_not_crash_the_node(tmp_path: Path, study) -> None:
    """An object with a broken element is kept; the node then goes on receiving."""
    out = tmp_path / "out"
    node = _node(out)
    try:
        ds = make_ds(smooth_rgb(1, 8, 8), "RGB", StudyInstanceUID=generate_uid())
        ds.add_new(0x00091010, "LO", "x" * 5000)  # private element longer than its VR allows
        ds.add_new(0x00181063, "LO", "not-a-number")  # FrameTime (DS) sent with a wrong VR and value
        statuses, _ = send(node.port, [ds])
        assert statuses == [0]
        statuses, _ = send(node.port, [pydicom.dcmread(study[0])])
        assert statuses == [0]
        assert node.wait_measured(timeout=120)
    finally:
        node.stop()
    rows = measured(out)
    assert len(rows) == 2 and any(r["qc"] == "pass" for r in rows.values())


def test_peer_and_config_checks() -> None:
    assert Peer.parse("pacs.local:104:PACS") == Peer("pacs.local", 104, "PACS")
    for bad in ("pacs:104", "pacs:x:PACS", "pacs:104:", "pacs:70000:PACS", "pacs:104:" + "A" * 17):
        with pytest.raises(UsageError, match="send-to"):
            Peer.parse(bad)
    with pytest.raises(UsageError, match="ae-title"):
        NodeConfig(out=Path("x"), ae_title="")
    with pytest.raises(UsageError, match="idle"):
        NodeConfig(out=Path("x"), idle_s=0)


def test_listen_command_answers_echo_and_stops_on_sigterm(tmp_path: Path) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "echoseg", "listen", "--out", str(tmp_path / "out"),
                             "--port", str(port), "--ae-title", "ECHOTEST"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ae = AE(ae_title="TESTSCU")
        ae.add_requested_context(Verification)
        t0 = time.monotonic()
        assoc = None
        while time.monotonic() - t0 < 30:
            assoc = ae.associate("127.0.0.1", port, ae_title="ECHOTEST")
            if assoc.is_established:
                break
            time.sleep(0.3)
        assert assoc is not None and assoc.is_established
        assert int(assoc.send_c_echo().Status) == 0
        assoc.release()
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert f"127.0.0.1:{port}" in stdout


def test_a_port_in_use_is_refused_with_the_fix(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(UsageError, match="pick a free port with --port"):
            Node(NodeConfig(out=tmp_path, port=busy.getsockname()[1])).start()

"""Shared by the DICOM network tests: one generated two-file Doppler study, a free localhost port, a
C-STORE sender, a storage SCP that collects what it is sent, and the SR's numbers read back."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

pytest.importorskip("pynetdicom")

LOINC = {"lvot_vti": "80030-0", "av_vti": "79965-0"}  # echoseg.report.sr.CONCEPTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> list[Path]:
    """Two synthetic Doppler DICOMs (LVOT PW, AV CW) of one study, as a scanner writes them."""
    from echoseg.cli import main

    data = tmp_path_factory.mktemp("netstudy")
    for task, seed in (("lvot", 5), ("av", 9)):  # seeds whose strips both pass QC
        assert main(["synth", "--out", str(data / task), "--n", "1", "--seed", str(seed), "--task", task,
                     "--jpeg-fraction", "0", "--quiet"]) == 0
    files = sorted(data.rglob("*.dcm"))
    uid = pydicom.dcmread(files[0]).StudyInstanceUID
    for p in files:
        ds = pydicom.dcmread(p)
        ds.StudyInstanceUID, ds.PatientName, ds.PatientID = uid, "Quixote^Dulcinea", "PID-8675309"
        ds.save_as(p, enforce_file_format=True)
    for p in data.rglob("*"):
        if p.is_file() and p.suffix != ".dcm":
            p.unlink()
    return files


def send(port: int, datasets: list[pydicom.Dataset], ae_title: str = "ECHOSEG", release: bool = True):
    """C-STORE ``datasets`` to 127.0.0.1:port; returns (statuses, association)."""
    from pynetdicom import AE

    ae = AE(ae_title="TESTSCU")
    for sop in dict.fromkeys(str(ds.SOPClassUID) for ds in datasets):
        ae.add_requested_context(sop)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    if release:
        assoc.release()
    return statuses, assoc


class Receiver:
    """A storage SCP on a free port that keeps every dataset sent to it (stands in for a PACS)."""

    def __init__(self, ae_title: str = "PACS") -> None:
        from pynetdicom import AE, evt
        from pynetdicom.sop_class import ComprehensiveSRStorage  # type: ignore[attr-defined]

        self.received: list[pydicom.Dataset] = []
        self.got = threading.Event()
        ae = AE(ae_title=ae_title)
        ae.add_supported_context(ComprehensiveSRStorage)
        self.port = free_port()
        self.ae_title = ae_title

        def on_store(event) -> int:
            ds = event.dataset
            ds.file_meta = event.file_meta
            self.received.append(ds)
            self.got.set()
            return 0x0000

        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, on_store)])

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def sr_numbers(items) -> dict[str, list[float]]:
    """LOINC/SCT/DCM code -> every NUM value in an SR content tree (pydicom datasets or Orthanc JSON dicts)."""
    out: dict[str, list[float]] = {}

    def get(item, key):
        return item.get(key) if isinstance(item, dict) else getattr(item, key, None)

    def walk(seq) -> None:
        for item in seq or ():
            if get(item, "ValueType") == "NUM":
                code = get(get(item, "ConceptNameCodeSequence")[0], "CodeValue")
                value = float(get(get(item, "MeasuredValueSequence")[0], "NumericValue"))
                out.setdefault(str(code), []).append(value)
            walk(get(item, "ContentSequence"))

    walk(items)
    return out


def measured(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(file name, task) -> row of out/measurements.csv."""
    import csv

    with (out / "measurements.csv").open() as fh:
        return {(Path(r["file"]).name, r["task"]): r for r in csv.DictReader(fh)}

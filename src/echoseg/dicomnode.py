"""``echoseg listen``: a DICOM node (pynetdicom) that a scanner or a PACS sends studies to.

It answers C-ECHO, accepts C-STORE of any storage SOP class in any transfer syntax (ultrasound images
are measured; anything else is kept and gets a failed row that says why, as ``echoseg measure`` gives
it), and measures a study when the association that brought it ends, or when no image of it has come
for ``idle_s`` seconds. Results go into ``out`` exactly as ``echoseg measure --out`` writes them (the
same batch run over ``out/received``, so a study already measured is not measured again); with
``send_to`` each study's DICOM SR (:mod:`echoseg.report.sr`) is sent back with C-STORE.

Received objects are stored as ``out/received/<study>/<instance>.dcm``, both names hashes of the UIDs
(never patient names). What the node did is appended to ``out/node.jsonl``, one JSON object a line
(stored, measured, sent), without header values. The node binds to 127.0.0.1 unless told otherwise.
Starting a node hides pydicom's and highdicom's warnings for the whole process (:func:`_silence_libraries`).

    >>> from echoseg.dicomnode import Node, NodeConfig       # doctest: +SKIP
    >>> node = Node(NodeConfig(out=Path("results"), port=11112)).start()   # doctest: +SKIP
    >>> node.wait_measured(timeout=60); node.stop()           # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from echoseg.batch.inputs import UsageError
from echoseg.batch.settings import ModelSpec, Settings
from echoseg.errors import reason_for

log = logging.getLogger("echoseg.node")

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
_SUCCESS, _OUT_OF_RESOURCES, _CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000


@dataclass(frozen=True)
class Peer:
    """A DICOM application entity to send to: host, port and AE title."""

    host: str
    port: int
    ae_title: str

    @classmethod
    def parse(cls, text: str) -> Peer:
        """``HOST:PORT:AET`` -> Peer; UsageError naming the fix otherwise.

        >>> Peer.parse("127.0.0.1:4242:ORTHANC")
        Peer(host='127.0.0.1', port=4242, ae_title='ORTHANC')
        """
        host, _, rest = text.rpartition(":")
        host, _, port = host.rpartition(":")
        aet = rest
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--send-to must be HOST:PORT:AET (e.g. 127.0.0.1:4242:ORTHANC), not {text!r}")
        return cls(host, int(port), check_ae_title(aet, "--send-to's AE title"))


def check_ae_title(aet: str, what: str = "--ae-title") -> str:
    """An AE title: 1 to 16 characters of printable ASCII other than backslash, not all spaces."""
    if not (0 < len(aet.strip()) <= 16 and all(32 <= ord(c) < 127 and c != "\\" for c in aet)):
        raise UsageError(f"{what} must be 1 to 16 printable ASCII characters (no backslash), not {aet!r}")
    return aet.strip()


@dataclass(frozen=True)
class NodeConfig:
    """What ``echoseg listen`` was asked: where to listen, where results go, how to measure, where to send."""

    out: Path
    port: int = 11112
    ae_title: str = "ECHOSEG"
    host: str = "127.0.0.1"
    send_to: Peer | None = None
    idle_s: float = 30.0
    sr: bool = True
    settings: Settings = field(default_factory=Settings)
    spec: ModelSpec = field(default_factory=ModelSpec)
    lvot_diameter_cm: float | None = None
    study_info: Path | None = None

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title)
        if not 0 <= self.port < 65536:
            raise UsageError(f"--port must be 0..65535, not {self.port}")
        if not self.idle_s > 0:
            raise UsageError(f"--idle must be a number of seconds above 0, not {self.idle_s!r}")


@dataclass
class _Study:
    key: str                      # hash of the StudyInstanceUID: the folder name under received/
    uid: str | None               # None when the object had no readable StudyInstanceUID
    last_seen: float = 0.0
    received: int = 0             # objects stored so far
    measured_at: int = 0          # ``received`` when it was last measured
    due: bool = False             # its association ended: measure now


def _hash(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class Node:
    """The listening node; :meth:`start` returns at once, :meth:`stop` measures what is pending and closes."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.out = Path(config.out)
        self._lock = threading.Lock()
        self._studies: dict[str, _Study] = {}
        self._assoc_studies: dict[int, set[str]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._server: Any = None
        self._worker: threading.Thread | None = None
        self.port = config.port
        self.runs = 0                  # measuring runs done
        self.sent: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------------------ the server
    def start(self) -> Node:
        """Open the port and start the measuring thread."""
        from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        (self.out / "received").mkdir(parents=True, exist_ok=True)
        _silence_libraries()
        ae = AE(ae_title=self.config.ae_title)
        ae.require_called_aet = True
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(str(cx.abstract_syntax), ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        handlers: list[Any] = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo),
                    (evt.EVT_RELEASED, self._on_end), (evt.EVT_ABORTED, self._on_end),
                    (evt.EVT_CONN_CLOSE, self._on_end)]
        try:
            self._server = ae.start_server((self.config.host, self.config.port), block=False, evt_handlers=handlers)
        except OSError as exc:
            raise UsageError(f"cannot listen on {self.config.host}:{self.config.port} ({exc.strerror or exc}); "
                             "pick a free port with --port") from None
        self.port = int(self._server.server_address[1])
        self._worker = threading.Thread(target=self._loop, name="echoseg-node-measure", daemon=True)
        self._worker.start()
        self._event("listening", host=self.config.host, port=self.port, ae_title=self.config.ae_title)
        log.info("listening on %s:%d as %s; results in %s", self.config.host, self.port, self.config.ae_title,
                 self.out)
        return self

    def stop(self, measure_pending: bool = True) -> None:
        """Close the port; measure the studies still pending first (``measure_pending``), then end the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if measure_pending:
            with self._lock:
                for s in self._studies.values():
                    s.due = True
            self._wake.set()
            self.wait_measured(timeout=None)
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join()

    def wait_measured(self, timeout: float | None = 60.0) -> bool:
        """Block until every study received has been measured and no run is in progress; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._busy or any(s.received > s.measured_at for s in self._studies.values()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(0.2 if left is None else min(0.2, left))
        return True

    # ---------------------------------------------------------------------------- the handlers
    def _on_echo(self, event: Any) -> int:
        return _SUCCESS

    def _on_store(self, event: Any) -> int:
        """Store the object as received (its bytes untouched) and note its study; never raises."""
        try:
            return self._store(event)
        except Exception as exc:  # noqa: BLE001 - a bad object must never take the node down
            log.error("could not store a received object (%s); the sender is told", type(exc).__name__)
            self._event("store_failed", error=type(exc).__name__)
            return _OUT_OF_RESOURCES if isinstance(exc, OSError) else _CANNOT_UNDERSTAND

    def _store(self, event: Any) -> int:
        from echoseg.io.dicom import US_SOP_CLASSES, _library_messages, _uid

        sop_class = str(event.request.AffectedSOPClassUID)
        sop_uid = _uid(event.request.AffectedSOPInstanceUID) or f"unknown-{time.time_ns()}"
        with _library_messages():
            try:
                study_uid = _uid(event.dataset.get("StudyInstanceUID"))
            except Exception:  # noqa: BLE001 - an object pydicom cannot decode is kept all the same
                study_uid = None
        key = _hash(study_uid, 12) if study_uid else "unknown-study"
        folder = self.out / "received" / key
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_hash(sop_uid, 16)}.dcm"
        tmp = self.out / ".partial" / f"{path.stem}.{threading.get_ident()}.part"  # outside what is measured
        tmp.parent.mkdir(exist_ok=True)
        with tmp.open("wb") as fh:
            fh.write(event.encoded_dataset())  # preamble, file meta and the dataset as sent
        tmp.replace(path)
        assoc = id(event.assoc)
        with self._lock:
            s = self._studies.setdefault(key, _Study(key, study_uid))
            s.received += 1
            s.last_seen = time.monotonic()
            self._assoc_studies.setdefault(assoc, set()).add(key)
        self._event("stored", study=key, file=str(path.relative_to(self.out)), ultrasound=sop_class in US_SOP_CLASSES,
                    sop_class=_sop_class_name(sop_class))
        return _SUCCESS

    def _on_end(self, event: Any) -> None:
        """An association ended (released, aborted or its connection closed): its studies are due."""
        assoc = id(event.assoc)
        with self._lock:
            keys = self._assoc_studies.pop(assoc, set())
            for k in keys:
                self._studies[k].due = True
        if keys:
            self._wake.set()

    # ------------------------------------------------------------------------------ measuring
    def _due(self) -> list[_Study]:
        now = time.monotonic()
        with self._lock:
            return [s for s in self._studies.values() if s.received > s.measured_at
                    and (s.due or now - s.last_seen >= self.config.idle_s)]

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=min(1.0, self.config.idle_s / 4))
            self._wake.clear()
            due = self._due()
            if not due:
                continue
            with self._lock:
                self._busy = True
                counts = {s.key: s.received for s in due}
                for s in due:
                    s.due = False
            try:
                self._measure(due)
            except Exception as exc:  # noqa: BLE001 - the node goes on; the log says what failed
                log.error("measuring %d received study(ies) failed (%s); the node goes on",
                          len(due), reason_for(exc, str(self.out)))
                self._event("measure_failed", studies=[s.key for s in due], error=type(exc).__name__)
            finally:
                with self._idle:
                    for s in due:
                        s.measured_at = counts[s.key]
                    self._busy = False
                    self._idle.notify_all()

    def _measure(self, due: list[_Study]) -> None:
        """One ``echoseg measure`` run over everything received (the journal skips what is measured), then
        the SRs of the studies just due sent back."""
        from echoseg.batch.run import BatchRequest, run_batch
        from echoseg.report.sr import sr_name

        cfg = self.config
        req = BatchRequest(inputs=(str(self.out / "received"),), out=self.out, settings=cfg.settings, spec=cfg.spec,
                           lvot_diameter_cm=cfg.lvot_diameter_cm, study_info=cfg.study_info,
                           sr=cfg.sr or cfg.send_to is not None,
                           command_line=("echoseg", "listen", "--out", str(self.out)))
        summary = run_batch(req)
        self.runs += 1
        self._event("measured", studies=[s.key for s in due], files=summary.files, measured=summary.measured,
                    rows=summary.rows, passed=summary.passed)
        log.info("measured %d study(ies): %d file(s) in %s, %d passed QC", len(due), summary.files, self.out,
                 summary.passed)
        if cfg.send_to is None:
            return
        for s in due:
            sr = self.out / "sr" / sr_name(s.uid) if s.uid else None
            if sr is None or not sr.is_file():
                self._event("not_sent", study=s.key, why="no SR: no passing measurement from a DICOM image")
                continue
            self._send(sr, s.key)

    def _send(self, path: Path, key: str) -> None:
        """C-STORE one SR to ``send_to``; the outcome goes to the log and node.jsonl, never an exception."""
        import pydicom
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
        from pynetdicom import AE

        peer = self.config.send_to
        assert peer is not None
        ae = AE(ae_title=self.config.ae_title)
        ae.add_requested_context(COMPREHENSIVE_SR, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        status: int | None = None
        why = ""
        try:
            ds = pydicom.dcmread(path)
            assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
            if not assoc.is_established:
                why = "association refused or peer unreachable"
            else:
                try:
                    rsp = assoc.send_c_store(ds)
                    status = int(rsp.Status) if rsp is not None and "Status" in rsp else None
                    why = "" if status == _SUCCESS else "no response" if status is None else f"status 0x{status:04X}"
                finally:
                    assoc.release()
        except Exception as exc:  # noqa: BLE001 - sending is best effort; the node goes on
            why = f"{type(exc).__name__}"
        ok = status == _SUCCESS
        rec = {"study": key, "sr": str(path.relative_to(self.out)), "to": f"{peer.host}:{peer.port}:{peer.ae_title}",
               "ok": ok, **({"why": why} if why else {})}
        self.sent.append(rec)
        self._event("sent" if ok else "send_failed", **rec)
        (log.info if ok else log.warning)("SR %s %s %s%s", path.name, "sent to" if ok else "NOT sent to", rec["to"],
                                          f" ({why})" if why else "")

    # --------------------------------------------------------------------------------- the log
    def _event(self, what: str, **fields: Any) -> None:
        rec = {"t": datetime.now(timezone.utc).isoformat(timespec="seconds"), "event": what, **fields}
        try:
            with self._log_lock, (self.out / "node.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
        except OSError as exc:
            log.warning("cannot append to %s (%s)", self.out / "node.jsonl", exc.strerror or type(exc).__name__)


def _silence_libraries() -> None:
    """Hide pydicom's and highdicom's warnings and log records for the whole process.

    They may quote header values, and Python's warning capture (:func:`echoseg.io.dicom._library_messages`)
    is not thread-safe: with associations stored while a study is measured, one thread's capture can
    end while another's is still open. With this base state whatever escapes a capture is dropped,
    never printed.
    """
    import logging
    import warnings

    warnings.simplefilter("ignore")
    for name in ("pydicom", "highdicom"):
        logger = logging.getLogger(name)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())


def _sop_class_name(uid: str) -> str:
    """A SOP class's registered name, or "unregistered" (no free text from the sender)."""
    from echoseg.io.dicom import _sop_name, _uid

    return _sop_name(_uid(uid) or "")


def serve(config: NodeConfig) -> int:
    """Run the node until SIGINT/SIGTERM, then measure what is pending and exit 0 (``echoseg listen``)."""
    import signal

    node = Node(config).start()
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"echoseg listen: {config.ae_title} on {config.host}:{node.port}, results in {config.out} "
          "(Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        node.stop()
    return 0

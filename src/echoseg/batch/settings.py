"""What a batch run is asked to do, checked before any work, and the key that says which journal
records it may reuse.

A record is reused only when its ``run_key`` is this run's: the same echoseg version and record
format, the same weights (sha256 of the weights and of the model card), the same backend, the same
measuring options and whether screen text can be read (Tesseract installed). Study-level inputs
(diameters, the study sidecar) are not part of it: they are applied when the outputs are
assembled, so changing them re-assembles without re-measuring.

    >>> check_diameter("lvot_diameter", 2.1, 1.0, 4.0)
    2.1
    >>> check_diameter("lvot_diameter", 21, 1.0, 4.0)
    Traceback (most recent call last):
    ...
    echoseg.batch.inputs.UsageError: lvot_diameter 21 cm looks like millimetres (21 mm = 2.1 cm): pass 2.1; it must be between 1 and 4 cm
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from echoseg.batch.inputs import UsageError
from echoseg.batch.record import FORMAT
from echoseg.io.limits import DEFAULT_LIMITS, ReadLimits
from echoseg.options import Models, Options

LVOT_CM = (1.0, 4.0)  # the ranges echoseg.doppler.study accepts
RVOT_CM = (1.0, 5.0)


def check_diameter(name: str, value: float | None, lo: float, hi: float) -> float | None:
    """``value`` (cm) when it lies in [lo, hi]; a :class:`UsageError` that says so, and names
    millimetres when ``value`` is ten times a plausible diameter."""
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v) or not lo <= v <= hi:
        if math.isfinite(v) and lo * 10 <= v <= hi * 10:
            raise UsageError(f"{name} {value:g} cm looks like millimetres ({value:g} mm = {v / 10:g} cm): "
                             f"pass {v / 10:g}; it must be between {lo:g} and {hi:g} cm")
        raise UsageError(f"{name} must be between {lo:g} and {hi:g} cm, not {value!r}")
    return v


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (flat memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """The networks a worker loads (picklable; :meth:`models` builds the :class:`Models` once per worker)."""

    atria: str = "atria"
    doppler: str = "doppler"
    backend: str | None = None  # None: ECHOSEG_BACKEND, else "auto"

    def models(self) -> Models:
        return Models(atria_path=self.atria, doppler_path=self.doppler, backend=self.backend)


@dataclass(frozen=True)
class Settings:
    """The per-file choices of a batch run (everything that changes a record)."""

    task: str = "auto"
    cm_per_px: float | None = None
    save_masks: bool = False
    overlays: bool = True
    read_screen_text: bool = True
    keep_screen_text: bool = False  # Options.keep_screen_text: header text kept in overlays (docs/dicom.md)
    limits: ReadLimits = DEFAULT_LIMITS  # decode budgets: a file over one gets a failed row

    def __post_init__(self) -> None:
        from echoseg.vocab import TASKS

        if self.task not in ("auto", *TASKS):
            raise UsageError(f"task must be auto or one of {', '.join(TASKS)}, not {self.task!r}")
        if self.cm_per_px is not None and not (math.isfinite(self.cm_per_px) and 0 < self.cm_per_px <= 1):
            raise UsageError(f"cm_per_px must be a scale in cm per pixel, above 0 and at most 1, not {self.cm_per_px!r}")

    def options(self) -> Options:
        return Options(task=self.task, cm_per_px=self.cm_per_px, read_screen_text=self.read_screen_text,
                       keep_screen_text=self.keep_screen_text, limits=self.limits)


def _model_identity(name_or_path: str) -> dict[str, str]:
    from echoseg.models.files import locate

    folder, weights, _ = locate(name_or_path)
    return {"model": name_or_path, "weights": weights.name, "weights_sha256": sha256_file(weights),
            "card_sha256": sha256_file(folder / "model.json")}


def resolve_backend(spec: ModelSpec) -> str:
    """The backend the workers will run ("onnxruntime" | "torch"), as load_for_inference decides it.

    Raises:
        ModelError: a model is missing, or "onnxruntime" was asked for a model it cannot run.
    """
    from echoseg.errors import ModelError
    from echoseg.models import ort
    from echoseg.models.files import locate
    from echoseg.models.inference import backend_choice

    choice = backend_choice(spec.backend)
    whys = []
    for m in (spec.atria, spec.doppler):
        _, weights, config = locate(m)
        if choice != "torch":
            why = ort.unsupported(weights, config)
            if why:
                whys.append(f"{m}: {why}")
    if choice == "torch" or (whys and choice == "auto"):
        return "torch"
    if whys:
        raise ModelError(f"backend onnxruntime cannot run {'; '.join(whys)}; pass --backend torch or auto")
    return "onnxruntime"


def provenance(spec: ModelSpec) -> dict[str, Any]:
    """Version, weight hashes and backend of a run (run.json's ``models``; part of :func:`run_key`)."""
    from echoseg import __version__

    return {"echoseg_version": __version__, "record_format": FORMAT, "backend": resolve_backend(spec),
            "atria": _model_identity(spec.atria), "doppler": _model_identity(spec.doppler)}


def run_key(spec: ModelSpec, settings: Settings, prov: dict[str, Any] | None = None) -> str:
    """sha256 over what makes a record: :func:`provenance` (computed when not given), the settings,
    and whether Tesseract can read screen text."""
    from echoseg.doppler.screen_text import available

    prov = provenance(spec) if prov is None else prov
    ident = {k: v for k, v in prov.items()}
    for k in ("atria", "doppler"):  # the weights' content, not where they were found
        ident[k] = {kk: vv for kk, vv in prov[k].items() if kk != "model"}
    payload = {"provenance": ident, "settings": asdict(settings), "ocr": available() and settings.read_screen_text}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cores() -> int:
    """CPU cores this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_cap(environ: Mapping[str, str]) -> int | None:
    """The threads a user allowed each process with ``OMP_NUM_THREADS`` (None: not set, or not a
    positive whole number), read when a run is prepared, never at import.

    >>> thread_cap({"OMP_NUM_THREADS": "1"}), thread_cap({}), thread_cap({"OMP_NUM_THREADS": "x"})
    (1, None, None)
    """
    try:
        n = int(environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return n if n > 0 else None


def threads_per_worker(jobs: int, n_cores: int | None = None, cap: int | None = None) -> int:
    """Threads for each of ``jobs`` workers so that jobs x threads fits the cores (at least 1), and
    at most ``cap`` (:func:`thread_cap`: a user's ``OMP_NUM_THREADS`` is respected, never raised).

    >>> threads_per_worker(2, 8), threads_per_worker(3, 8), threads_per_worker(16, 8), threads_per_worker(1, 8, 2)
    (4, 2, 1, 2)
    """
    if jobs < 1:
        raise UsageError(f"jobs must be at least 1, not {jobs!r}")
    n = max(1, (n_cores or cores()) // jobs)
    return min(n, cap) if cap else n


def check_out_dir(out: Path) -> Path:
    """``out`` when it is a folder or can become one; UsageError otherwise."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder for the outputs")
    return out

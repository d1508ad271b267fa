"""Benchmark echoseg on regenerated synthetic cohorts: accuracy, subgroups, and prompted baselines.

Four cohorts come from fixed generator seeds that training (seeds < 8_500_000) and validation
(8_500_000 ..) never use; cohort ``k`` is written with ``write_dataset`` seed ``9000 + 10 * seed + k``,
so its case seeds are ``(9000 + 10 * seed + k) * 1000 + i`` (>= 9_000_000, at most 1000 per kind):

- ``held-out``: the training style families, the generator's default (vendor-like) settings;
- ``shifted``: the same families drawn on screen sizes outside the training distribution
  (:data:`SHIFTED_SIZES`, rows x cols, cycled over the cases; nothing else is shifted);
- ``external``: the held-out style family (``heldout=True``), never seen in training;
- ``scanner`` (only when asked for: not in :data:`DEFAULT_COHORTS`): the physical generators,
  closer to real screens: scanner-formed A4C cines
  (:mod:`echoseg.synth.a4c_scanner`, B-mode from scatterers) and signal-level Doppler
  (:mod:`echoseg.synth.doppler_signal`: the spectrum computed from a velocity distribution).

Each cohort is written as DICOM, measured through :func:`echoseg.pipeline.measure` exactly as a
user's files are, written with :func:`echoseg.report.write_all`, and compared with its truth by
:func:`echoseg.evaluation.evaluate.evaluate`. The baseline comparison segments the A4C frame echoseg measured
with the classical prompted segmenters of :mod:`echoseg.evaluation.baseline`, prompts taken from the truth mask.

Example::

    from echoseg.evaluation.benchmark import run_benchmark
    from echoseg.evaluation.benchmark_report import write_benchmark_md
    from echoseg.pipeline import Models
    res = run_benchmark("out/bench", n_a4c=40, n_doppler=100, models=Models())
    write_benchmark_md(res, "docs/benchmark.md", "echoseg benchmark")
"""
from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from echoseg.evaluation.evaluate import EvalResult, evaluate
from echoseg.evaluation.stats import dice
from echoseg.options import Models
from echoseg.types import DopplerDetails, FileResult
from echoseg.vocab import ATRIUM_LABEL, TASKS_DOPPLER, site_of

if TYPE_CHECKING:
    from echoseg.synth.case import SynthCase

TEST_SEED_BASE = 9000  # write_dataset seed; cases are seed * 1000 + i >= 9_000_000
MAX_CASES = 1000  # per cohort and kind, so that cohorts never share a case seed
SHIFTED_SIZES: tuple[tuple[int, int], ...] = ((360, 480), (384, 704), (900, 1200))  # rows, cols
COHORTS = ("held-out", "shifted", "external", "scanner")
DEFAULT_COHORTS = COHORTS[:3]  # what ``echoseg benchmark`` runs (docs/benchmark.md); ``scanner`` on request
BASELINE_METHODS = ("echoseg", "classical-box", "classical-point")
SUBGROUPS = ("rhythm", "size_tertile", "style")
TERTILES = ("T1 (smallest)", "T2", "T3 (largest)")
DESCRIPTION = {
    "held-out": "training style families, default generator settings",
    "shifted": "training style families on screen sizes outside the training distribution",
    "external": "held-out style family (never seen in training), default generator settings",
    "scanner": "scanner-formed A4C cines and signal-level Doppler spectra (the physical generators)",
}


@dataclass(frozen=True)
class CohortSpec:
    """How one cohort is generated: ``write_dataset`` seed, style split and (shifted) screen sizes."""

    name: str
    seed: int
    heldout: bool
    image_sizes: tuple[tuple[int, int], ...] = ()
    physical: bool = False  # the scanner-formed A4C and signal-level Doppler generators

    def case_seeds(self, n: int) -> range:
        """Generator seeds of the cohort's ``n`` cases of one kind."""
        return range(self.seed * 1000, self.seed * 1000 + n)


@dataclass(frozen=True)
class CohortResult:
    """One cohort measured: where its files are, its evaluation and Doppler routing."""

    spec: CohortSpec
    n_a4c: int
    n_doppler: int
    truth_csv: Path
    measurements_csv: Path
    evaluation: EvalResult
    routing: tuple[int, int, int, int, int]  # see :func:`routing`


@dataclass(frozen=True)
class BaselineCase:
    """One atrium of one A4C file, segmented on the frame echoseg measured by every method."""

    cohort: str
    file: str
    task: str
    frame: int
    truth_cm2: float  # generator truth area of that frame
    area_cm2: dict[str, float]  # method -> area
    dice: dict[str, float]  # method -> Dice against the truth mask of that frame
    echoseg_qc: str


@dataclass(frozen=True)
class BenchmarkResult:
    """Everything :func:`run_benchmark` measured (pooled evaluation: all cohorts, by :data:`SUBGROUPS`)."""

    cohorts: tuple[CohortResult, ...]
    pooled: EvalResult
    baseline: tuple[BaselineCase, ...] | None
    n_a4c: int
    n_doppler: int
    seed: int
    models: str
    wall_s: float


# --------------------------------------------------------------------------- cohorts
def cohort_specs(seed: int = 0, names: Sequence[str] = DEFAULT_COHORTS) -> tuple[CohortSpec, ...]:
    """The cohorts of benchmark draw ``seed`` (0, 1, ...), in the order of ``names``."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    bad = [n for n in names if n not in COHORTS]
    if bad or not names:
        raise ValueError(f"cohorts must be some of {', '.join(COHORTS)}, not {list(names)}")
    return tuple(CohortSpec(n, TEST_SEED_BASE + 10 * seed + COHORTS.index(n) + 1, heldout=n == "external",
                            image_sizes=SHIFTED_SIZES if n == "shifted" else (), physical=n == "scanner")
                 for n in names)


def _write_cases(out: Path, kind: str, n: int, seed: int, make: Callable[[int, int], SynthCase],
                 jpeg_fraction: float = 0.3) -> Path:
    """``write_dataset`` with case i made by ``make(i, case_seed)`` (same stems, seeds, compression draw, truth.csv)."""
    from echoseg.synth.dataset import truth_rows
    from echoseg.synth.dicom_writer import write_case

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for i, s in enumerate(range(seed * 1000, seed * 1000 + n)):
        case = make(i, s)
        compression = "jpeg" if rng.random() < jpeg_fraction and not case.monochrome else "none"
        stem = f"{kind}{s:06d}"
        write_case(case, out, stem, compression=compression)
        rows.extend(truth_rows(stem, case, None))
    return _write_rows(out / "truth.csv", rows)


def _write_sized(out: Path, kind: str, n: int, seed: int, sizes: Sequence[tuple[int, int]]) -> Path:
    """Case i drawn on screen size ``sizes[i % len(sizes)]`` (rows, cols)."""
    from echoseg.synth.a4c import generate_a4c
    from echoseg.synth.doppler import generate_doppler

    def make(i: int, s: int) -> SynthCase:
        h, w = sizes[i % len(sizes)]
        size = (int(h), int(w))
        return generate_a4c(s, image_size=size) if kind == "a4c" else generate_doppler(s, image_size=size)

    return _write_cases(out, kind, n, seed, make)


def _write_physical(out: Path, kind: str, n: int, seed: int) -> Path:
    """Scanner-formed A4C cines and signal-level Doppler screens (the five sites)."""
    from echoseg.synth.a4c import generate_a4c
    from echoseg.synth.doppler_signal import generate_doppler_signal

    def make(i: int, s: int) -> SynthCase:
        return generate_a4c(s, family="scanner") if kind == "a4c" else generate_doppler_signal(s)

    return _write_cases(out, kind, n, seed, make)


def _write_rows(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    from echoseg.report.tables import write_csv

    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    return write_csv(path, rows, cols)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_cohort(spec: CohortSpec, out: Path, n_a4c: int, n_doppler: int) -> list[dict[str, str]]:
    """Write the cohort's DICOMs under ``out/<kind>/``; return its truth rows (absolute file paths, cohort,
    image_size and, for A4C, mm_per_px columns added)."""
    import json

    import pydicom

    from echoseg.synth.dataset import write_dataset

    for kind, n in (("a4c", n_a4c), ("doppler", n_doppler)):
        if n < 0 or n > MAX_CASES:
            raise ValueError(f"n_{kind} must be between 0 and {MAX_CASES}, not {n}")
    rows: list[dict[str, str]] = []
    for kind, n in (("a4c", n_a4c), ("doppler", n_doppler)):
        if n == 0:
            continue
        d = (out / kind).resolve()
        if spec.physical:
            truth = _write_physical(d, kind, n, spec.seed)
        elif spec.image_sizes:
            truth = _write_sized(d, kind, n, spec.seed, spec.image_sizes)
        else:
            truth = write_dataset(d, kind, n, spec.seed, heldout=spec.heldout)
        for r in _read_rows(truth):
            f = d / r["file"]
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            extra = {"file": str(f), "cohort": spec.name, "image_size": f"{ds.Rows}x{ds.Columns}", "mm_per_px": ""}
            if kind == "a4c":
                t = json.loads(f.with_suffix(".truth.json").read_text())
                extra["mm_per_px"] = f"{10.0 * float(t['cm_per_px']):.6g}"
            rows.append({**r, **extra})
    return rows


def size_tertiles(values: Sequence[float]) -> list[str]:
    """Tertile label (:data:`TERTILES`) of each value: at or below the 1/3 quantile, the 2/3 quantile, above."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return []
    if not np.all(np.isfinite(v)):
        raise ValueError(f"size_tertiles needs finite values, got {v[~np.isfinite(v)][:3].tolist()}")
    q1, q2 = np.quantile(v, [1 / 3, 2 / 3])
    return [TERTILES[0] if x <= q1 else TERTILES[1] if x <= q2 else TERTILES[2] for x in v]


def add_size_tertiles(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Copies of truth rows with ``size_tertile``: the tertile of ``value`` among the rows of the same task."""
    out = [dict(r, size_tertile="") for r in rows]
    for task in dict.fromkeys(r["task"] for r in rows):
        values = {i: v for i, r in enumerate(rows) if r["task"] == task and (v := _num(r.get("value"))) is not None}
        for i, label in zip(values, size_tertiles(list(values.values()))):
            out[i]["size_tertile"] = label
    return out


def _num(text: object) -> float | None:
    try:
        v = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# --------------------------------------------------------------------------- measuring
def _write_truth_masks(results: Sequence[FileResult], out: Path) -> None:
    """Truth masks of the frame echoseg measured, as ``out/<stem>.<task>.png`` (for evaluate's Dice)."""
    from echoseg.report.overlay import mask_png

    out.mkdir(parents=True, exist_ok=True)  # a Doppler-only cohort has no masks, and evaluate wants the folder
    for r in results:
        if r.kind != "a4c":
            continue
        masks = np.load(Path(r.file).with_suffix(".masks.npz"))["masks"]
        for task, frame in r.frames_for_task.items():
            mask_png(out / f"{Path(r.file).stem}.{task}.png", masks[frame] == ATRIUM_LABEL[task])


def routing(results: Sequence[FileResult], truth: Sequence[dict[str, str]]) -> tuple[int, int, int, int, int]:
    """Doppler files measured as their truth site: (right, all, right among unlabelled, unlabelled,
    right among unlabelled by the waveform alone).

    Unlabelled files are those whose DICOM labels did not name the site (the route does not say
    "named"): the pipeline routes them by the screen text it reads and the waveform. "By the
    waveform alone" is the arg-max of the pipeline's posterior without the screen text
    (``waveform_site_probabilities``).
    """
    by_file = {str(Path(r.file).resolve()): r for r in results}
    right = n = right_u = n_u = right_w = 0
    for t in truth:
        if t["task"] not in TASKS_DOPPLER:
            continue
        r = by_file.get(t["file"])
        ok = r is not None and any(m.task == t["task"] for m in r.measurements)
        right, n = right + ok, n + 1
        if r is None or "named" not in r.route:
            right_u, n_u = right_u + ok, n_u + 1
            details = r.measurements[0].details if r and r.measurements else None
            probs = details.waveform_site_probabilities if isinstance(details, DopplerDetails) else {}
            right_w += bool(probs) and max(probs, key=lambda s: probs[s]) == site_of(t["task"])
    return right, n, right_u, n_u, right_w


def measure_cohort(spec: CohortSpec, folder: Path, truth: list[dict[str, str]], models: Models, *,
                   n_a4c: int, n_doppler: int, n_boot: int, seed: int, progress: bool = False
                   ) -> tuple[CohortResult, list[FileResult]]:
    """Measure the cohort's DICOMs with the pipeline, write measurements.csv and evaluate it."""
    from echoseg.pipeline import measure
    from echoseg.report.write import write_all

    dicom = [(folder / k).resolve() for k in ("a4c", "doppler") if (folder / k).is_dir()]
    results = measure(dicom, models=models, progress=progress)
    paths = write_all(results, folder / "measure", save_masks=True, overlays=False, html_page=False)
    _write_truth_masks(results, folder / "truth_masks")
    truth_csv = _write_rows(folder / "truth.csv", truth)
    ev = evaluate(paths["measurements"], truth_csv, pred_masks=folder / "measure", truth_masks=folder / "truth_masks",
                  n_boot=n_boot, seed=seed)
    return CohortResult(spec, n_a4c, n_doppler, truth_csv, paths["measurements"], ev, routing(results, truth)), results


def baseline_cases(cohort: str, results: Sequence[FileResult]) -> list[BaselineCase]:
    """Score echoseg and the classical baselines on the frames echoseg measured (A4C files only).

    Prompts come from the truth mask of that frame: its bounding box (``classical-box``) and its
    innermost point (``classical-point``). Baseline area = mask pixels x cm² per pixel of the file's
    calibration; echoseg's area is its value before QC, so every method is scored on the same images.
    """
    import json

    from echoseg.evaluation.baseline import segment
    from echoseg.evaluation.prompts import box_from_mask, point_from_mask
    from echoseg.io.calibration import mask_area_cm2, tissue_calibration
    from echoseg.io.read import read

    out = []
    for r in results:
        if r.kind != "a4c" or not r.frames_for_task:
            continue
        img = read(r.file)
        cal = tissue_calibration(img.regions, img.shape, r.file)
        masks = np.load(Path(r.file).with_suffix(".masks.npz"))["masks"]
        truth = json.loads(Path(r.file).with_suffix(".truth.json").read_text())
        rows = {m.task: m for m in r.measurements}
        for task, frame in r.frames_for_task.items():
            ref = masks[frame] == ATRIUM_LABEL[task]
            m = rows[task]
            raw = m.raw_value
            area = {"echoseg": float(raw if raw is not None else math.nan)}
            dc = {"echoseg": dice(r.masks[task], ref)}
            for method in BASELINE_METHODS[1:]:
                prompt = {"box": box_from_mask(ref)} if method.endswith("box") else {"point": point_from_mask(ref)}
                seg = segment(img.frames[frame], method=method, **prompt)
                area[method], dc[method] = mask_area_cm2(seg, cal), dice(seg, ref)
            out.append(BaselineCase(cohort, r.file, task, int(frame), float(truth[f"{task[:2]}_area_cm2"][frame]),
                                    area, dc, m.qc))
    return out


def run_benchmark(out_dir: str | Path, *, n_a4c: int, n_doppler: int, models: Models, seed: int = 0,
                  baselines: bool = True, cohorts: Sequence[str] = DEFAULT_COHORTS, n_boot: int = 1000,
                  progress: bool = False, log: Callable[[str], None] | None = None) -> BenchmarkResult:
    """Generate, measure and evaluate the benchmark cohorts under ``out_dir`` (one folder per cohort).

    Size tertiles are cut per task over all cohorts together; the pooled evaluation splits by
    :data:`SUBGROUPS`. ``baselines`` adds the classical prompted baselines on the A4C cases.
    """
    t0 = time.time()
    say = log or (lambda _msg: None)
    out = Path(out_dir)
    specs = cohort_specs(seed, cohorts)
    if n_a4c + n_doppler <= 0:
        raise ValueError(f"n_a4c + n_doppler must be > 0, not {n_a4c} + {n_doppler}")
    truth: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        say(f"{spec.name}: writing {n_a4c} A4C + {n_doppler} Doppler DICOMs (seed {spec.seed})")
        truth[spec.name] = write_cohort(spec, out / spec.name, n_a4c, n_doppler)
    pooled_truth = add_size_tertiles([r for s in specs for r in truth[s.name]])
    done, base, pred_rows = [], [], []
    for spec in specs:
        say(f"{spec.name}: measuring")
        rows = [r for r in pooled_truth if r["cohort"] == spec.name]
        res, results = measure_cohort(spec, out / spec.name, rows, models, n_a4c=n_a4c, n_doppler=n_doppler,
                                      n_boot=n_boot, seed=seed, progress=progress)
        done.append(res)
        pred_rows += _read_rows(res.measurements_csv)
        if baselines:
            say(f"{spec.name}: classical baselines")
            base += baseline_cases(spec.name, results)
    pooled = evaluate(_write_rows(out / "pooled_measurements.csv", pred_rows),
                      _write_rows(out / "pooled_truth.csv", pooled_truth), by=SUBGROUPS, n_boot=n_boot, seed=seed)
    return BenchmarkResult(tuple(done), pooled, tuple(base) if baselines else None, n_a4c, n_doppler, seed,
                           describe_models(models), time.time() - t0)


def _shown(path: str) -> str:
    """A model folder as docs may print it: relative to the working directory, else its name only
    (never a machine's absolute path)."""
    p = Path(path)
    if not p.is_absolute():
        return path
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return p.name


def describe_models(models: Models) -> str:
    """"atria: <folder> (N steps), doppler: ..." for the networks a run loaded (paths as given otherwise)."""
    parts = []
    for name, given in (("atria", models.atria_path), ("doppler", models.doppler_path)):
        loaded = getattr(models, "_cache", {}).get(name)
        cfg = getattr(loaded, "config", {}) or {}
        steps = f" ({cfg['steps']} training steps)" if "steps" in cfg else ""
        parts.append(f"{name}: {_shown(getattr(loaded, 'path', '') or given)}{steps}")
    return ", ".join(parts)



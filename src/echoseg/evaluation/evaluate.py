"""Agreement statistics between predicted and reference measurements, overall and per subgroup.

Reads the ``measurements.csv`` that ``echoseg measure`` writes (docs/output-format.md: file, task, value,
unit, n, frame, qc, reason) and a reference ``truth.csv`` (file, task, value, plus any subgroup
columns and an optional ``mm_per_px``), matches rows by file and task, and reports per task and
per subgroup: how many rows matched, how many the tool refused (qc=fail), and the agreement
statistics of :func:`agreement`. Optionally compares saved masks (Dice, Hausdorff distance).

Pure numpy/scipy; plotting and file writing live in :mod:`echoseg.evaluation.report`.

Example::

    >>> import numpy as np
    >>> a = agreement(np.array([10.0, 12.0, 15.0, 20.0]), np.array([10.5, 11.5, 15.5, 19.0]), n_boot=200)
    >>> round(a.bias, 3)
    0.125
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from echoseg.errors import EchosegError
from echoseg.evaluation.stats import NAN, Agreement, agreement, dice, hausdorff_mm
from echoseg.vocab import unit_of


# --------------------------------------------------------------------------- reading and matching
@dataclass(frozen=True)
class MaskStats:
    """Mask agreement of one group: Dice and Hausdorff per case summarised."""

    n: int
    dice_mean: float
    dice_median: float
    dice_sd: float
    hd_mean: float  # over finite values
    hd_median: float
    hd_unit: str  # "mm" | "px"


@dataclass(frozen=True)
class GroupStats:
    """Agreement of one task in one subgroup (``by="all", group="all"`` for the whole set).

    ``n_truth``: reference rows with a value; ``n_matched``: of those, rows the tool measured
    (qc=pass with a value); ``n_refused``: rows the tool refused (qc=fail or no value);
    ``n_missing``: reference rows with no prediction row at all. Statistics use matched rows only.
    """

    task: str
    by: str
    group: str
    n_truth: int
    n_matched: int
    n_refused: int
    n_missing: int
    stats: Agreement
    masks: MaskStats | None = None

    @property
    def refusal_rate(self) -> float:
        seen = self.n_matched + self.n_refused
        return self.n_refused / seen if seen else NAN


@dataclass(frozen=True)
class Pair:
    """One reference row and the prediction matched to it (pred None when missing or refused)."""

    key: str
    task: str
    truth: float
    pred: float | None
    status: str  # "matched" | "refused" | "missing"
    reason: str = ""
    groups: tuple[tuple[str, str], ...] = ()
    dice: float | None = None
    hausdorff: float | None = None


@dataclass(frozen=True)
class EvalResult:
    """Everything :func:`evaluate` found: per-group statistics, the pairs behind them, notes."""

    groups: tuple[GroupStats, ...]
    pairs: tuple[Pair, ...]
    by: tuple[str, ...]
    n_unmatched_pred: int
    notes: tuple[str, ...] = field(default=())

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.task for g in self.groups))

    def overall(self, task: str) -> GroupStats:
        """The whole-set statistics of ``task``."""
        for g in self.groups:
            if g.task == task and g.by == "all":
                return g
        raise KeyError(f"no task {task!r} in this evaluation; tasks are {', '.join(self.tasks)}")


def _read_csv(path: Path, required: Sequence[str], what: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise EchosegError(f"{what} {path} does not exist; pass the path of a CSV file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in required if c not in cols]
        if missing:
            raise EchosegError(
                f"{what} {path} lacks column(s) {', '.join(missing)} (found: {', '.join(cols) or 'none'}); "
                f"it needs at least {', '.join(required)}")
        # cells beyond the header (key None) are ignored
        return [{k.strip(): (v or "").strip() for k, v in row.items() if isinstance(k, str)} for row in reader]


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _basename(name: str) -> str:
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _stem(name: str) -> str:
    base = _basename(name)
    return base.rsplit(".", 1)[0] if "." in base[1:] else base


_PredIndex = dict[str, dict[tuple[str, str], dict[str, str] | None]]  # ambiguous keys map to None


def _index_pred(rows: list[dict[str, str]], path: Path) -> _PredIndex:
    """Index prediction rows by (full path | basename | stem, task); ambiguous keys map to None."""
    levels: _PredIndex = {"path": {}, "base": {}, "stem": {}}
    for row in rows:
        f, task = row.get("file", ""), row.get("task", "")
        for level, key in (("path", f), ("base", _basename(f)), ("stem", _stem(f))):
            k = (key, task)
            if k in levels[level] and levels[level][k] is not row:
                if level == "path":
                    raise EchosegError(f"{path}: file {f!r} appears twice for task {task!r}; "
                                       "keep one row per (file, task)")
                levels[level][k] = None  # ambiguous at this level
            else:
                levels[level][k] = row
    return levels


def _find_pred(levels: _PredIndex, truth_file: str, task: str) -> dict[str, str] | None:
    for level, key in (("path", truth_file), ("base", _basename(truth_file)), ("stem", _basename(truth_file)),
                       ("stem", _stem(truth_file))):
        row = levels[level].get((key, task))
        if row is not None:
            return row
    return None


def _mask_dir(d: str | Path) -> Path:
    d = Path(d)
    if not d.is_dir():
        raise EchosegError(f"mask folder {d} does not exist; pass the measure --out folder or its masks/ folder")
    return d / "masks" if (d / "masks").is_dir() else d


def _load_mask(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("L"))
    return arr > 127


def _compare_masks(pmask_dir: Path | None, tmask_dir: Path | None, prow: dict[str, str],
                   trow: dict[str, str]) -> tuple[float | None, float | None, float | None]:
    """(Dice, Hausdorff in px, mm per px or NaN when truth.csv lacks it) of one matched row's saved masks.

    All None when mask folders were not given or either ``<stem>.<task>.png`` is absent.
    """
    if pmask_dir is None or tmask_dir is None:
        return None, None, None
    task, tfile = trow["task"], trow["file"]
    pm = _load_mask(pmask_dir / f"{_stem(prow['file'])}.{task}.png")
    tm = _load_mask(tmask_dir / f"{_stem(tfile)}.{task}.png")
    if pm is None or tm is None:
        return None, None, None
    if pm.shape != tm.shape:
        raise EchosegError(f"mask shapes differ for {tfile} {task}: prediction {pm.shape}, "
                           f"reference {tm.shape}; masks must be at the full input image size")
    d, h = dice(pm, tm), hausdorff_mm(pm, tm, 1.0)  # pixels; scaled by the caller
    return d, h, _float(trow.get("mm_per_px", "")) or math.nan


def _make_pair(trow: dict[str, str], tval: float, prow: dict[str, str] | None, by: tuple[str, ...],
               pmask_dir: Path | None, tmask_dir: Path | None) -> tuple[Pair, float | None]:
    """The pair of one reference row (missing, refused or matched) and its mm-per-px entry
    (a float exactly when masks were compared)."""
    task, tfile = trow["task"], trow["file"]
    pair_groups = tuple((c, trow.get(c, "")) for c in by)
    if prow is None:
        return Pair(tfile, task, tval, None, "missing", "no prediction row", pair_groups), None
    pval = _float(prow.get("value", ""))
    if prow.get("qc", "").lower() != "pass" or pval is None:
        reason = prow.get("reason", "") or ("qc=fail" if pval is not None else "no value")
        return Pair(tfile, task, tval, None, "refused", reason, pair_groups), None
    d, h, mm = _compare_masks(pmask_dir, tmask_dir, prow, trow)
    return Pair(tfile, task, tval, pval, "matched", "", pair_groups, d, h), mm


def _match_rows(truth_rows: list[dict[str, str]], levels: _PredIndex, by: tuple[str, ...],
                pmask_dir: Path | None, tmask_dir: Path | None
                ) -> tuple[list[Pair], list[float | None], set[int]]:
    """Pairs of the reference rows with a value, their mm-per-px entries and the ids of the prediction rows used."""
    pairs: list[Pair] = []
    mm_scale: list[float | None] = []  # per pair: mm per pixel when masks were compared
    used: set[int] = set()
    for trow in truth_rows:
        tval = _float(trow["value"])
        if tval is None:
            continue
        prow = _find_pred(levels, trow["file"], trow["task"])
        if prow is not None:
            used.add(id(prow))
        pair, mm = _make_pair(trow, tval, prow, by, pmask_dir, tmask_dir)
        pairs.append(pair)
        mm_scale.append(mm)
    return pairs, mm_scale, used


def _hausdorff_to_mm(pairs: list[Pair], mm_scale: list[float | None]) -> tuple[list[Pair], bool]:
    """Hausdorff in mm only when every compared pair has mm_per_px; otherwise all stay in pixels.

    Returns the pairs and whether they stay in pixels (some compared pair lacks mm_per_px).
    A pair has a Dice exactly when its masks were compared, and then its mm_scale entry is a float.
    """
    compared = [m for m, p in zip(mm_scale, pairs) if p.dice is not None and m is not None]
    hd_px_only = any(math.isnan(m) for m in compared)
    if compared and not hd_px_only:
        pairs = [replace(p, hausdorff=p.hausdorff * m) if p.hausdorff is not None and m is not None else p
                 for p, m in zip(pairs, mm_scale)]
    return pairs, hd_px_only


def _prediction_notes(pred_rows: list[dict[str, str]], used: set[int]) -> tuple[int, list[str]]:
    """How many prediction rows matched no reference row, and notes on those and on unexpected units."""
    notes: list[str] = []
    n_unmatched = sum(1 for r in pred_rows if id(r) not in used)
    if n_unmatched:
        notes.append(f"{n_unmatched} prediction row(s) had no reference row and were ignored")
    odd_units = sorted({f"{r['task']}: {r['unit']}" for r in pred_rows if id(r) in used and r.get("unit")
                        and r["unit"] != unit_of(r["task"])})
    if odd_units:
        notes.append(f"unexpected prediction units ({', '.join(odd_units)}); areas should be cm2 and VTI cm, "
                     "and truth.csv values must be in the same units")
    return n_unmatched, notes


def _all_groups(pairs: list[Pair], by: tuple[str, ...], px: bool, n_boot: int, seed: int) -> list[GroupStats]:
    """Per task (in order of appearance): the whole set, then each value of each ``by`` column (sorted)."""
    groups: list[GroupStats] = []
    for task in dict.fromkeys(p.task for p in pairs):
        tp = [p for p in pairs if p.task == task]
        groups.append(_group(task, "all", "all", tp, px, n_boot, seed))
        for i, col in enumerate(by):
            for val in sorted({p.groups[i][1] for p in tp}):
                sub = [p for p in tp if p.groups[i][1] == val]
                groups.append(_group(task, col, val, sub, px, n_boot, seed))
    return groups


def evaluate(pred_csv: str | Path, truth_csv: str | Path, *, by: Iterable[str] = (),
             pred_masks: str | Path | None = None, truth_masks: str | Path | None = None,
             n_boot: int = 1000, seed: int = 0) -> EvalResult:
    """Compare ``echoseg measure``'s measurements.csv with a reference table.

    Rows are matched on task and file: the full path first, then the basename, then the name
    without its last extension (so ``a/case01.dcm`` matches ``case01`` or ``case01.dcm``).
    Prediction rows with ``qc=fail`` (or no value) count as refused, not as errors. ``by`` names
    truth.csv columns to split on (e.g. vendor, view quality). With ``pred_masks`` and
    ``truth_masks`` (folders holding ``<stem>.<task>.png``, or the ``--out`` folder with a
    ``masks/`` inside) Dice and Hausdorff are added; Hausdorff is in mm when every compared row of
    truth.csv has ``mm_per_px``, otherwise in pixels (and a note says so).
    """
    pred_path, truth_path = Path(pred_csv), Path(truth_csv)
    by = tuple(by)
    pred_rows = _read_csv(pred_path, ("file", "task", "value", "qc"), "prediction CSV")
    truth_rows = _read_csv(truth_path, ("file", "task", "value") + by, "reference CSV")
    levels = _index_pred(pred_rows, pred_path)
    pmask_dir = _mask_dir(pred_masks) if pred_masks is not None else None
    tmask_dir = _mask_dir(truth_masks) if truth_masks is not None else None
    pairs, mm_scale, used = _match_rows(truth_rows, levels, by, pmask_dir, tmask_dir)
    pairs, hd_px_only = _hausdorff_to_mm(pairs, mm_scale)
    notes: list[str] = []
    if hd_px_only:
        notes.append("Hausdorff distances are in pixels: truth.csv lacks mm_per_px for some compared rows")
    n_unmatched, pred_notes = _prediction_notes(pred_rows, used)
    notes += pred_notes
    groups = _all_groups(pairs, by, hd_px_only, n_boot, seed)
    return EvalResult(tuple(groups), tuple(pairs), by, n_unmatched, tuple(notes))


def _group(task: str, by: str, group: str, pairs: list[Pair], px: bool, n_boot: int, seed: int) -> GroupStats:
    m = [p for p in pairs if p.status == "matched"]
    stats = agreement(np.array([p.pred for p in m], float), np.array([p.truth for p in m], float),
                      n_boot=n_boot, seed=seed)
    masks = None
    dl = np.array([p.dice for p in m if p.dice is not None], float)
    if dl.size:
        hl = np.array([p.hausdorff for p in m if p.dice is not None], float)
        fin = hl[np.isfinite(hl)]
        masks = MaskStats(int(dl.size), float(dl.mean()), float(np.median(dl)),
                          float(dl.std(ddof=1)) if dl.size > 1 else NAN,
                          float(fin.mean()) if fin.size else NAN, float(np.median(hl)), "px" if px else "mm")
    return GroupStats(task, by, group, n_truth=len(pairs), n_matched=len(m),
                      n_refused=sum(p.status == "refused" for p in pairs),
                      n_missing=sum(p.status == "missing" for p in pairs), stats=stats, masks=masks)

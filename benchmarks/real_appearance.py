"""The real Doppler screens in display looks they were not recorded with (writes docs/real_appearance.md).

Every labelled screen of ``<real>/doppler`` (the five echonet VTI panels with the sonographer's
values, and the two screens that are not one of the five sites) is read once and measured once per
display transform of :data:`appearance.TRANSFORMS`, applied in memory to the pixels of its
calibrated spectral region (the calibration and the rest of the screen unchanged): a VTI panel with
its site given (``<site>_vti``), a non-target screen with ``--task auto``. A transform should not
turn a refusal into a passing value more than 10 % off the sonographer, nor a non-target screen
into a passing site. The 40 unlabelled real CW aortic screens (MIT) whose velocity scale is read off
their tick labels (as docs/real_world.md does) are measured the same way as AV VTI: without truth,
each transform's passing value is compared with the same screen's untransformed one. Skipped
cleanly when the real folder is absent; the images are never written.

Run: .venv/bin/python benchmarks/real_appearance.py [--real ../shared/real] [--out docs/real_appearance.md]
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appearance import TRANSFORMS, Transform, model_label  # noqa: E402
from real_world import Case, read_cases  # noqa: E402

from echoseg.doppler import task as doppler_task  # noqa: E402
from echoseg.io.calibration import spectral_calibration  # noqa: E402
from echoseg.io.read import read  # noqa: E402
from echoseg.options import Models, Options  # noqa: E402
from echoseg.types import EchoImage  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Outcome:
    """One (screen, transform) measurement: the value before QC, QC, and the site it was measured as."""

    case: Case
    transform: str
    raw: float | None
    passed: bool
    task: str

    @property
    def error_pct(self) -> float | None:
        if self.raw is None or not self.case.value:
            return None
        return 100.0 * (self.raw / self.case.value - 1.0)


def transformed(img: EchoImage, t: Transform, rng: np.random.Generator) -> EchoImage:
    """``img`` with ``t`` applied to its spectral region in every frame."""
    cal = spectral_calibration(img.regions, img.shape, img.path)
    r = cal.region
    frames = img.frames.copy()
    for f in frames:
        f[r.y0:r.y1 + 1, r.x0:r.x1 + 1] = t.fn(np.ascontiguousarray(f[r.y0:r.y1 + 1, r.x0:r.x1 + 1]), rng,
                                              int(round(cal.baseline_row)) - r.y0)
    return dataclasses.replace(img, frames=frames)


def measure_all(real: Path, case: Case, models: Models, k0: int) -> list[Outcome]:
    """``case`` under every transform."""
    img = read(real / case.file)
    task = case.quantity if case.quantity.endswith("_vti") else "auto"
    out = []
    for k, t in enumerate(TRANSFORMS):
        res = doppler_task.measure(transformed(img, t, np.random.default_rng([k0, k])), task, models, Options())
        m = res.measurements[0]
        beats = [b.vti_cm for b in res.beats.get(m.task, ()) if b.complete]
        out.append(Outcome(case, t.name, float(np.mean(beats)) if beats else None, m.qc == "pass", m.task))
    return out


@dataclass(frozen=True)
class Move:
    """One unlabelled screen under one transform: passed, and its value against the control's (%)."""

    screen: str
    transform: str
    passed: bool
    change_pct: float | None


def unlabelled_moves(folder: Path, models: Models) -> list[Move]:
    """Every scale-read unlabelled CW screen under every transform, measured as AV VTI (the time scale
    a placeholder where unread: the changes are ratios, so it cancels)."""
    from PIL import Image

    from echoseg.errors import EchosegError
    from real_world import screen_calibration, unlabelled_files

    moves = []
    for f in unlabelled_files(folder):
        try:
            cal = screen_calibration(np.asarray(Image.open(f).convert("RGB")), folder, f.name)
        except EchosegError:
            continue
        img = read(f, spectral=cal)
        control = None
        for k, t in enumerate(TRANSFORMS):
            m = doppler_task.measure(transformed(img, t, np.random.default_rng([int(f.stem), k])), "av_vti", models,
                                     Options()).measurements[0]
            if k == 0:
                control = m.value
            change = None if m.value is None or not control else 100.0 * (m.value / control - 1.0)
            moves.append(Move(f.stem, t.name, m.qc == "pass", change))
    return moves


def moves_lines(moves: list[Move]) -> list[str]:
    """The unlabelled screens' table: per transform, passing, and passing values moved > 10 % / > 20 %."""
    n = len({m.screen for m in moves})
    lines = [f"## {n} unlabelled real CW aortic screens (MIT, shared/real/unlabelled_cw_av)", "",
             "Velocity scale read off each screen's tick labels; measured as AV VTI. No truth: *moved* compares a "
             "passing value with the same screen's untransformed value, when that one passed.", "",
             "| transform | passed | passing, control passed too | moved > 10 % | moved > 20 % |", "|---|---|---|---|---|"]
    for t in TRANSFORMS:
        row = [m for m in moves if m.transform == t.name]
        both = [m for m in row if m.passed and m.change_pct is not None]
        lines.append(f"| {t.name} | {sum(m.passed for m in row)} of {len(row)} | {len(both)} | "
                     f"{sum(abs(m.change_pct or 0) > 10 for m in both)} | {sum(abs(m.change_pct or 0) > 20 for m in both)} |")
    return lines + [""]


def _cell(o: Outcome) -> str:
    if o.case.quantity == "not_a_target":
        return f"**passed as {o.task}**" if o.passed else "refused"
    e = o.error_pct
    err = "–" if e is None else f"{e:+.0f} %"
    return f"**{err} pass**" if o.passed and e is not None and abs(e) > 10 else f"{err} {'pass' if o.passed else 'refused'}"


def markdown(outs: list[Outcome], cases: list[Case], cmd: str, wall_s: float, model: str) -> str:
    names = [Path(c.file).stem for c in cases]
    lines = ["# The real Doppler screens in display looks they were not recorded with", "",
             f"Command: `{cmd}` ({wall_s:.0f} s on 2 CPU cores, {platform.machine()}); Doppler network {model}.", "",
             "The labelled real screens of shared/real (not in this repository: not licensed for redistribution; "
             "docs/real_world.md has them as recorded) under the display transforms of docs/appearance.md, applied to "
             "the calibrated spectral region only. Each cell: the VTI before QC against the sonographer's value, and "
             "QC's verdict with the site given; for the two screens that are not one of the five sites, what "
             "`--task auto` did. **Bold**: a passing value more than 10 % off, or a non-target passed as a site. "
             "Research software: nothing here is a clinical validation.", "",
             "| transform | " + " | ".join(names) + " | passing > 10 % off | non-targets passed |",
             "|---|" + "---|" * (len(names) + 2)]
    for t in TRANSFORMS:
        row = [next(o for o in outs if o.transform == t.name and o.case == c) for c in cases]
        off = sum(o.passed and o.error_pct is not None and abs(o.error_pct) > 10 for o in row)
        nt = sum(o.passed for o in row if o.case.quantity == "not_a_target")
        lines.append(f"| {t.name} | " + " | ".join(_cell(o) for o in row) + f" | {off} | {nt} |")
    vti = [o for o in outs if o.case.quantity.endswith("_vti")]
    passed = [o for o in vti if o.passed and o.error_pct is not None]
    lines += ["", f"Over all transforms: {len(passed)} of {len(vti)} VTI values passed, "
              f"{sum(abs(o.error_pct or 0) > 10 for o in passed)} of them more than 10 % off "
              f"({sum(abs(o.error_pct or 0) > 20 for o in passed)} more than 20 %); "
              f"non-target screens passed as a site: {sum(o.passed for o in outs if o.case.quantity == 'not_a_target')} "
              f"of {sum(o.case.quantity == 'not_a_target' for o in outs)}.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real")
    ap.add_argument("--doppler-model", default="doppler", help="model folder (default: the shipped weights)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "real_appearance.md")
    args = ap.parse_args()
    if not (args.real / "truth.csv").exists():
        print(f"no real references at {args.real} (truth.csv missing): nothing measured, nothing written")
        return 0
    t0 = time.perf_counter()
    models = Models(doppler_path=args.doppler_model)
    cases = [c for c in read_cases(args.real) if c.file.startswith("doppler/")
             and (c.quantity.endswith("_vti") or c.quantity == "not_a_target")]
    outs = [o for k, c in enumerate(cases) for o in measure_all(args.real, c, models, k)]
    unlabelled = args.real / "unlabelled_cw_av"
    moves = unlabelled_moves(unlabelled, models) if (unlabelled / "ocr_results.csv").exists() else []
    cmd = ".venv/bin/python benchmarks/real_appearance.py" + (" " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "")
    text = markdown(outs, cases, cmd, time.perf_counter() - t0, model_label("doppler", args.doppler_model))
    text += "\n" + "\n".join(moves_lines(moves)) if moves else ""
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

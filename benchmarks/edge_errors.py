"""Where the Doppler network's error on signal-level screens comes from (writes docs/edge_errors.md).

The held-out signal-level screens of :mod:`benchmarks.appearance` (seeds 9 900 000 on, site given,
as displayed) are measured as a user's file; every complete beat echoseg reports is matched to the
truth beat it overlaps most, and its error is split in two:

* *span*: the truth envelope integrated over echoseg's beat span against the truth beat's VTI
  (what beat timing alone costs);
* *envelope*: echoseg's beat VTI against the truth envelope over that same span (what the traced
  height costs).

Then, for the passing screens, candidate QC signals are compared with the error: the *edge
softness* (the model-free tracer's VTI over each beat at threshold fraction 0.2 over that at 0.8:
a soft, faded or broadened edge gives a large ratio) and the network's envelope confidence. A
signal worth a QC rule would refuse the screens more than 10 % off and keep the others.
Synthetic screens only.

Run: .venv/bin/python benchmarks/edge_errors.py [--n 90] [--doppler-model DIR] [--out docs/edge_errors.md]
"""
from __future__ import annotations

import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appearance import SITES, bench_command, bench_parser, model_label, target_cases  # noqa: E402

from echoseg.doppler.prepare import strip_luminance  # noqa: E402
from echoseg.doppler.tracer import trace_envelope, tracer_vtis  # noqa: E402
from echoseg.io.calibration import spectral_calibration  # noqa: E402
from echoseg.io.read import read  # noqa: E402
from echoseg.options import Models, Options  # noqa: E402
from echoseg.pipeline import measure_file  # noqa: E402
from echoseg.synth.case import SynthCase  # noqa: E402
from echoseg.synth.dicom_writer import write_case  # noqa: E402
from echoseg.types import Beat, DopplerDetails  # noqa: E402

SOFT_FRACS = (0.2, 0.8)  # tracer threshold fractions whose VTI ratio is the edge softness


@dataclass(frozen=True)
class BeatError:
    """One matched complete beat: span and envelope errors (%, 100 (a / b - 1))."""

    span_pct: float
    envelope_pct: float


@dataclass(frozen=True)
class ScreenResult:
    """One screen: site, QC, value error (%), its matched beats and the candidate QC signals."""

    seed: int
    site: str
    passed: bool
    error_pct: float | None
    beats: tuple[BeatError, ...]
    softness: float | None
    envelope_confidence: float | None

    @property
    def envelope_sd(self) -> float | None:
        """SD of the envelope errors of this screen's beats (None with fewer than 2)."""
        e = [b.envelope_pct for b in self.beats]
        return float(np.std(e, ddof=1)) if len(e) >= 2 else None


def _softness(path: Path, side: int | None, beats: list[Beat]) -> float | None:
    """Median over beats of the tracer's VTI at SOFT_FRACS[0] over that at SOFT_FRACS[1]."""
    if side is None or not beats:
        return None
    img = read(path)
    cal = spectral_calibration(img.regions, img.shape, str(path))
    lum = strip_luminance(img.frames[0], cal)
    lo, hi = (np.array(tracer_vtis(beats, trace_envelope(lum, cal, side, frac=f))) for f in SOFT_FRACS)
    ok = hi > 0
    return float(np.median(lo[ok] / hi[ok])) if ok.any() else None


def measure_screen(case: SynthCase, folder: Path, models: Models) -> ScreenResult:
    """Measure ``case`` with its site given and split each matched beat's error."""
    t = case.truth
    site = str(t["site"])
    paths = write_case(case, folder, str(case.seed), save_masks=False)
    try:
        res = measure_file(paths["dicom"], models, Options(task=f"{site}_vti"))
        m = res.measurements[0]
        beats = [b for b in res.beats.get(f"{site}_vti", ()) if b.complete]
        env = np.abs(np.asarray(t["envelope_cm_s"], dtype=np.float64))
        spp = float(t["s_per_px"])
        truth_beats = [b for b in t["beats"] if b["complete"]]
        matched = []
        for b in beats:
            overlap = [max(0.0, min(b.end_s, q["end_s"]) - max(b.start_s, q["start_s"])) for q in truth_beats]
            if not overlap or max(overlap) <= 0:
                continue
            q = truth_beats[int(np.argmax(overlap))]
            span = float(env[int(round(b.start_s / spp)):int(round(b.end_s / spp)) + 1].sum() * spp)
            if span > 0:
                matched.append(BeatError(100 * (span / q["vti_cm"] - 1), 100 * (b.vti_cm / span - 1)))
        details = m.details if isinstance(m.details, DopplerDetails) else None
        side = None if details is None else details.side
        conf = None if details is None else details.envelope_confidence
        value = m.value if m.value is not None else (float(np.mean([b.vti_cm for b in beats])) if beats else None)
        err = None if value is None else 100 * (value / float(t["value"]) - 1)
        return ScreenResult(case.seed, site, m.qc == "pass", err, tuple(matched),
                            _softness(paths["dicom"], side, beats), conf)
    finally:
        paths["dicom"].unlink(missing_ok=True)
        paths["truth"].unlink(missing_ok=True)


def _pct(v: np.ndarray, q: float) -> str:
    return f"{np.percentile(v, q):+.1f}" if v.size else "–"


def site_rows(results: list[ScreenResult]) -> list[str]:
    """Per site: beats, span and envelope error percentiles, share of beats > 10 % off by envelope."""
    lines = ["| site | beats | span error p10 / median / p90 | envelope error p10 / median / p90 | "
             "beats > 10 % off by envelope | SD of envelope error within a screen (median) |",
             "|---|---|---|---|---|---|"]
    for s in SITES + ("all",):
        rs = [r for r in results if s in ("all", r.site)]
        span = np.array([b.span_pct for r in rs for b in r.beats])
        env = np.array([b.envelope_pct for r in rs for b in r.beats])
        sds = [sd for r in rs if (sd := r.envelope_sd) is not None]
        if not env.size:
            continue
        lines.append(f"| {s} | {env.size} | {_pct(span, 10)} / {_pct(span, 50)} / {_pct(span, 90)} % | "
                     f"{_pct(env, 10)} / {_pct(env, 50)} / {_pct(env, 90)} % | {np.mean(np.abs(env) > 10):.0%} | "
                     f"{np.median(sds) if sds else float('nan'):.1f} % |")
    return lines


def signal_rows(results: list[ScreenResult]) -> list[str]:
    """For each candidate QC signal and limit: passing screens kept, of them > 10 % off, refused > 10 % off."""
    passing = [r for r in results if r.passed and r.error_pct is not None]
    lines = ["| signal | refuse when | passing screens kept | kept > 10 % off | kept > 20 % off | "
             "refused that were > 10 % off | refused that were within 10 % |", "|---|---|---|---|---|---|---|"]
    tests = [("edge softness", f"> {v:g}", lambda r, v=v: r.softness is not None and r.softness > v) for v in (1.2, 1.3, 1.4)]
    tests += [("envelope confidence", f"< {v:g}", lambda r, v=v: r.envelope_confidence is not None
               and r.envelope_confidence < v) for v in (0.3, 0.4, 0.5)]
    for name, rule, refuse in tests:
        kept = [r for r in passing if not refuse(r)]
        gone = [r for r in passing if refuse(r)]
        off = [abs(r.error_pct or 0) for r in kept]
        lines.append(f"| {name} | {rule} | {len(kept)} of {len(passing)} | {sum(e > 10 for e in off)} | "
                     f"{sum(e > 20 for e in off)} | {sum(abs(r.error_pct or 0) > 10 for r in gone)} | "
                     f"{sum(abs(r.error_pct or 0) <= 10 for r in gone)} |")
    return lines


def correlations(results: list[ScreenResult]) -> str:
    """Pearson r of |error| with each signal over the passing screens."""
    rs = [r for r in results if r.passed and r.error_pct is not None]
    parts = []
    for name, get in (("edge softness", lambda r: r.softness), ("envelope confidence", lambda r: r.envelope_confidence)):
        pairs = np.array([(abs(r.error_pct or 0), v) for r in rs if (v := get(r)) is not None])
        if len(pairs) > 2 and pairs[:, 1].std() > 0:
            parts.append(f"{name} r = {np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]:+.2f}")
    return ", ".join(parts)


def markdown(results: list[ScreenResult], cmd: str, wall_s: float, model: str) -> str:
    passing = [r for r in results if r.passed and r.error_pct is not None]
    off = [r for r in passing if abs(r.error_pct or 0) > 10]
    lines = ["# Where the Doppler error on signal-level screens comes from", "",
             f"Command: `{cmd}` ({wall_s:.0f} s on 2 CPU cores, {platform.machine()}); Doppler network {model}.", "",
             f"{len(results)} held-out signal-level screens of the five sites (the control screens of "
             "docs/appearance.md: seeds from 9,900,000, site given, as displayed). Each complete beat echoseg "
             "reports is matched to the truth beat it overlaps most. *Span error*: the truth envelope integrated "
             "over echoseg's beat span against the truth beat's VTI (what beat timing costs). *Envelope error*: "
             "echoseg's beat VTI against the truth envelope over the same span (what the traced height costs). "
             "Synthetic data only.", "",
             f"QC passed {len(passing)} of {len(results)}; {len(off)} passing values are more than 10 % off "
             f"({sum(abs(r.error_pct or 0) > 20 for r in passing)} more than 20 %).", ""]
    means = [float(np.mean([b.envelope_pct for b in r.beats])) for r in results if len(r.beats) >= 2]
    sds = [sd for r in results if (sd := r.envelope_sd) is not None]
    lines += site_rows(results)
    lines += ["", f"Between screens, the SD of a screen's mean envelope error is {np.std(means, ddof=1):.1f} % "
              f"({len(means)} screens with 2 or more matched beats); within a screen, the median SD over its beats "
              f"is {np.median(sds):.1f} %: a screen's beats are traced too high or too low together."]
    lines += ["", "## Candidate QC signals (passing screens)", "",
              "*Edge softness*: the model-free tracer's VTI over each beat at threshold fraction "
              f"{SOFT_FRACS[0]} over that at {SOFT_FRACS[1]} (median over beats): a faded or broadened edge gives "
              "a large ratio. *Envelope confidence*: the network's, as QC uses it (refusal below 0.2). "
              f"Correlation with the absolute error: {correlations(results) or '–'}.", ""]
    lines += signal_rows(results)
    return "\n".join(lines) + "\n"


def main() -> int:
    args = bench_parser(__doc__ or "", 90, "held-out target screens", "doppler", "docs/edge_errors.md").parse_args()
    t0 = time.time()
    models = Models(doppler_path=args.doppler_model)
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure_screen(c, Path(tmp), models) for c in target_cases(args.n)]
    cmd = bench_command("edge_errors.py", [("--n", args.n, 90), ("--doppler-model", args.doppler_model, "doppler")])
    model = model_label("doppler", args.doppler_model)
    text = markdown(results, cmd, time.time() - t0, model)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

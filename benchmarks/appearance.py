"""Doppler screens in display looks training never saw: how often echoseg is confidently wrong (writes docs/appearance.md).

``--n`` signal-level synthetic screens of the five VTI sites in the held-out display style (seeds
9 900 000 + i, which training never uses; non-target flows and screens without a complete beat are
skipped) are each written once per display transform of :data:`TRANSFORMS` and measured exactly as a
user's file with the site given (``--task <site>_vti``, :func:`echoseg.pipeline.measure_file`). A
transform changes only the RGB pixels of the spectral strip (the calibrated region, truth["strip"]);
the calibration, the rest of the screen and the truth are unchanged. Every passing value should be
within 10 % of truth and none more than 20 % off; a refusal is the honest alternative.
Synthetic screens only: real ones are in docs/real_world.md.

Run: .venv/bin/python benchmarks/appearance.py [--n 30] [--doppler-model DIR] [--out docs/appearance.md]
"""
from __future__ import annotations

import argparse
import io
import platform
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.synth.case import SynthCase
from echoseg.synth.dicom_writer import write_case
from echoseg.synth.doppler_signal import generate_doppler_signal

SEED0 = 9_900_000
SITES = ("mv", "av", "lvot", "rvot", "pv")

# A transform maps the strip's RGB pixels (h, w, 3) uint8, a generator and the baseline's row inside
# the strip to new pixels of the same shape.
StripFn = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Luminance in [0, 1] as float (h, w): the channel mean, as the screens are grey."""
    return rgb.astype(np.float64).mean(axis=2) / 255.0


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def identity(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """The control: the strip unchanged."""
    return rgb.copy()


def low_contrast(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """Grey levels compressed to 40-60 % of the range, lifted by 15-35 % of full scale."""
    k, offset = rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.35) * 255.0
    return _to_u8(offset + k * rgb.astype(np.float64))


def _gamma(g: float) -> StripFn:
    def fn(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
        return _to_u8(255.0 * (rgb.astype(np.float64) / 255.0) ** g)
    fn.__doc__ = f"out = 255 (in / 255) ^ {g:g}."
    return fn


def blur(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """Gaussian blur, sigma 1.5 px in both directions (channels apart)."""
    return _to_u8(gaussian_filter(rgb.astype(np.float64), sigma=(1.5, 1.5, 0.0)))


def jpeg15(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """The strip encoded and decoded as JPEG at quality 15 (Pillow, 4:2:0)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), mode="RGB").save(buf, format="JPEG", quality=15)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.uint8).copy()


def noise(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """Additive grey Gaussian noise, sigma 20 grey levels (the same in the three channels)."""
    return _to_u8(rgb.astype(np.float64) + rng.normal(0.0, 20.0, size=(*rgb.shape[:2], 1)))


def squash(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """Resized (bilinear) to 60 % of its height and back: vertical resolution lost, geometry kept."""
    h, w = rgb.shape[:2]
    img = Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")
    small = img.resize((w, max(1, round(0.6 * h))), Image.Resampling.BILINEAR)
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8).copy()


# blue-to-yellow map: (luminance, R, G, B) anchors, dark navy -> blue -> yellow-white
_MAP = np.array([[0.0, 0, 0, 40], [0.5, 60, 90, 200], [1.0, 255, 240, 120]], dtype=np.float64)


def colour_map(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """Grey mapped to a blue-to-yellow colour map (black -> navy (0,0,40), mid -> (60,90,200), white -> (255,240,120))."""
    lum = _grey(rgb)
    return _to_u8(np.stack([np.interp(lum, _MAP[:, 0], _MAP[:, c]) for c in (1, 2, 3)], axis=2))


def baseline_band(rgb: np.ndarray, rng: np.random.Generator, baseline: int) -> np.ndarray:
    """A 6-px white band across the strip, centred on the baseline row."""
    out = rgb.copy()
    out[max(0, baseline - 3):max(0, baseline + 3)] = 255
    return out


@dataclass(frozen=True)
class Transform:
    """One display look: a name for the table and the strip function."""

    name: str
    fn: StripFn


TRANSFORMS: tuple[Transform, ...] = (
    Transform("identity (control)", identity), Transform("low contrast", low_contrast),
    Transform("gamma 0.5", _gamma(0.5)), Transform("gamma 2.0", _gamma(2.0)), Transform("blur sigma 1.5", blur),
    Transform("JPEG q15", jpeg15), Transform("noise sigma 20", noise), Transform("vertical squash 60 %", squash),
    Transform("blue-yellow map", colour_map), Transform("baseline band 6 px", baseline_band),
)


def apply(case: SynthCase, t: Transform, rng: np.random.Generator) -> SynthCase:
    """``case`` with transform ``t`` applied to the strip of every frame (calibration and truth unchanged).

    The colour map makes the screen colour, so the case is then written as RGB, not MONOCHROME2.
    """
    x0, y0, x1, y1 = (int(v) for v in case.truth["strip"])
    frames = case.frames.copy()
    for f in frames:
        f[y0:y1 + 1, x0:x1 + 1] = t.fn(f[y0:y1 + 1, x0:x1 + 1], rng, int(case.truth["baseline_row"]) - y0)
    mono = case.monochrome and t.fn is not colour_map
    return replace(case, frames=frames, monochrome=mono)


@dataclass(frozen=True)
class Outcome:
    """One (case, transform) measurement."""

    seed: int
    site: str
    transform: str
    passed: bool
    value: float | None
    truth: float
    reason: str

    @property
    def error_pct(self) -> float | None:
        return None if self.value is None else 100.0 * (self.value / self.truth - 1.0)


# the first words of each QC reason, the way the table groups them
_REASONS = (("no complete beat", "no complete beat"), ("no beat found", "no beat found"),
            ("strip clipped", "strip clipped"), ("envelope uncertain", "envelope uncertain"),
            ("site uncertain", "site uncertain"), ("implausible VTI", "implausible VTI"),
            ("implausible Vmax", "implausible Vmax"), ("too fast for", "Vmax too fast"),
            ("too slow for", "Vmax too slow"), ("tracer disagree", "tracer disagrees"),
            ("flow timing", "flow timing"), ("flow direction", "flow direction"),
            ("beats inconsistent", "beats inconsistent"), ("not one of the five", "non-target"))


def first_reason(reason: str) -> str:
    """A short label of the first QC reason (its first words, numbers removed, when not in the table)."""
    first = reason.split(";")[0]
    for key, label in _REASONS:
        if key in first:
            return label
    words = re.sub(r"[-+]?\d[\d.]*", "#", first.split(":")[0]).split()
    return " ".join(words[:4]) or "other"


def model_label(name: str, folder: str) -> str:
    """How a benchmark page names the network it ran: the shipped ``name`` weights or ``folder``."""
    return f"shipped (src/echoseg/weights/{name})" if folder == name else folder


def bench_parser(doc: str, n: int, n_help: str, family: str, out: str) -> argparse.ArgumentParser:
    """The options every synthetic benchmark takes: ``--n`` cases, ``--<family>-model`` and ``--out``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--n", type=int, default=n, help=n_help)
    ap.add_argument(f"--{family}-model", default=family, help="model folder (default: the shipped weights)")
    ap.add_argument("--out", type=Path, default=Path(out))
    return ap


def bench_command(script: str, options: list[tuple[str, object, object]]) -> str:
    """The command line a benchmark page quotes: ``script`` and each (flag, value, default) that was changed."""
    return f".venv/bin/python benchmarks/{script}" + "".join(f" {flag} {v}" for flag, v, d in options if v != d)


def target_cases(n: int) -> list[SynthCase]:
    """The first ``n`` held-out screens from SEED0 on with a target site and a true VTI."""
    cases: list[SynthCase] = []
    seed = SEED0
    while len(cases) < n:
        case = generate_doppler_signal(seed, heldout=True)
        if case.truth.get("site") in SITES and case.truth.get("value"):
            cases.append(case)
        seed += 1
    return cases


def measure(case: SynthCase, k: int, t: Transform, folder: Path, models: Models) -> Outcome:
    """Write ``case`` with transform ``t`` (the ``k``-th) as a DICOM and measure it with the site given."""
    site = str(case.truth["site"])
    moved = apply(case, t, np.random.default_rng([case.seed, k]))
    paths = write_case(moved, folder, f"{case.seed}_{k}", save_masks=False)
    m = measure_file(paths["dicom"], models, Options(task=f"{site}_vti")).measurements[0]
    paths["dicom"].unlink()
    paths["truth"].unlink()
    return Outcome(case.seed, site, t.name, m.qc == "pass", m.value, float(case.truth["value"]), m.reason)


@dataclass(frozen=True)
class Row:
    """The table row of one transform."""

    transform: str
    cases: int
    passed: int
    within10: int
    off10_20: int
    off20: int
    median_abs_err: float | None
    median_err: float | None
    new_off10: int
    reasons: tuple[tuple[str, int], ...]


def _off10(o: Outcome) -> bool:
    """A passing value more than 10 % off."""
    e = o.error_pct
    return o.passed and e is not None and abs(e) > 10


def summarise(name: str, outs: list[Outcome], control: list[Outcome]) -> Row:
    """The row of one transform; ``control``: the same cases untransformed (same order)."""
    signed = [e for o in outs if o.passed and (e := o.error_pct) is not None]
    errs = [abs(e) for e in signed]
    reasons = Counter(first_reason(o.reason) for o in outs if not o.passed)
    new = sum(_off10(o) and not _off10(c) for o, c in zip(outs, control))
    return Row(name, len(outs), len(errs), sum(e <= 10 for e in errs), sum(10 < e <= 20 for e in errs),
               sum(e > 20 for e in errs), float(np.median(errs)) if errs else None,
               float(np.median(signed)) if signed else None, new, tuple(reasons.most_common(3)))


def by_site(outs: list[list[Outcome]]) -> list[str]:
    """Markdown lines: per site, over all transforms, the passing values and how many are off by > 10 / 20 %."""
    flat = [o for per in outs for o in per]
    lines = ["| site | screens x transforms | passed | passing > 10 % off | passing > 20 % off | "
             "control: passed / > 10 % off |", "|---|---|---|---|---|---|"]
    for site in SITES:
        mine = [o for o in flat if o.site == site]
        if not mine:
            continue
        ctrl = [o for o in outs[0] if o.site == site]
        big = [abs(e) for o in mine if o.passed and (e := o.error_pct) is not None]
        lines.append(f"| {site} | {len(mine)} | {len(big)} | {sum(e > 10 for e in big)} | {sum(e > 20 for e in big)} "
                     f"| {sum(o.passed for o in ctrl)} / {sum(_off10(o) for o in ctrl)} |")
    return lines


def markdown(rows: list[Row], bad: list[Outcome], sites: list[str], cmd: str, wall_s: float, n_cases: int,
             model: str = "shipped (src/echoseg/weights/doppler)") -> str:
    lines = ["# Doppler display looks never trained on", "",
             f"Command: `{cmd}` ({wall_s:.0f} s on 2 CPU cores, {platform.machine()}); Doppler network {model}.", "",
             f"Synthetic data only: {n_cases} signal-level screens of the five VTI sites in the held-out display "
             f"style (seeds from {SEED0:,} on, which training never uses; non-target flows skipped), each written "
             "once per transform and measured as a user's file with the site given (`--task <site>_vti`). "
             "A transform changes only the RGB pixels of the spectral strip; calibration, the rest of the screen "
             "and the truth are unchanged. Error: 100 (value / truth - 1). The aim: every passing value within "
             "10 % of truth, none more than 20 % off, otherwise a refusal.", "",
             "Transforms: *low contrast*: out = offset + k in, k 0.4-0.6, offset 15-35 % of full scale; "
             "*gamma g*: out = 255 (in/255)^g; *blur*: Gaussian, sigma 1.5 px; *JPEG q15*: the strip "
             "JPEG-encoded at quality 15 and decoded; *noise*: additive grey Gaussian, sigma 20 grey levels; "
             "*vertical squash*: bilinear resize to 60 % of the height and back; *blue-yellow map*: grey mapped "
             "through navy (0,0,40) - blue (60,90,200) - yellow (255,240,120) and written as RGB; "
             "*baseline band*: a 6-px white band centred on the baseline row. Whatever the generator drew inside "
             "the strip (an ECG trace running through it, a measurement trace) is transformed with it.", "",
             "*Median error*: signed (bias) and absolute, over the passing values. *New > 10 % off*: passing values "
             "more than 10 % off on screens whose control (identity) row was refused or within 10 %, i.e. confident "
             "errors the transform itself made. *Refusal reasons*: the first reason of each refusal.", "",
             "| transform | cases | passed | refused | passing within 10 % | passing 10-20 % off | "
             "passing > 20 % off | median error of passing (signed / abs.) | new > 10 % off vs control | "
             "most common refusal reasons |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        med = "–" if r.median_abs_err is None or r.median_err is None else \
            f"{r.median_err:+.1f} % / {r.median_abs_err:.1f} %"
        why = ", ".join(f"{label} {n}" for label, n in r.reasons) or "–"
        lines.append(f"| {r.transform} | {r.cases} | {r.passed} | {r.cases - r.passed} | {r.within10} | "
                     f"{r.off10_20} | {r.off20} | {med} | {r.new_off10} | {why} |")
    ctrl = rows[0]
    lines += ["", f"The control (identity) row is the held-out display style as generated: {ctrl.off10_20 + ctrl.off20} "
              f"of its {ctrl.passed} passing values are already more than 10 % off, so a transform's harm is its "
              "row minus the control's (the *new* column).", "", "## By site (all transforms together)", "", *sites,
              "", "## Passing values more than 20 % off", ""]
    if bad:
        lines += ["| seed | site | transform | value (cm) | truth (cm) | error |", "|---|---|---|---|---|---|"]
        lines += [f"| {o.seed} | {o.site} | {o.transform} | {o.value:.2f} | {o.truth:.2f} | {o.error_pct:+.1f} % |"
                  for o in bad if o.value is not None and o.error_pct is not None]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = bench_parser(__doc__ or "", 30, "target screens (each measured once per transform)", "doppler",
                        "docs/appearance.md").parse_args()
    t0 = time.time()
    models = Models(doppler_path=args.doppler_model)
    cases = target_cases(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        outs = [[measure(c, k, t, Path(tmp), models) for c in cases] for k, t in enumerate(TRANSFORMS)]
    rows = [summarise(t.name, o, outs[0]) for t, o in zip(TRANSFORMS, outs)]
    bad = [o for per in outs for o in per if o.passed and o.error_pct is not None and abs(o.error_pct) > 20]
    cmd = bench_command("appearance.py", [("--n", args.n, 30), ("--doppler-model", args.doppler_model, "doppler")])
    model = model_label("doppler", args.doppler_model)
    text = markdown(rows, bad, by_site(outs), cmd, time.time() - t0, len(cases), model)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

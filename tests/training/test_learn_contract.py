"""The training contract every measurement family's Learner (echoseg.<family>.learn) satisfies.

Each test runs over every registered family, so a new family is checked by registering it.
"""
from __future__ import annotations

import dataclasses
import io
import tokenize
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from echoseg.learner import Learner, Sample
from echoseg.models.registry import create
from echoseg.training import families
from echoseg.training.data import StepData, SynthSource, collate
from echoseg.training.families import LEARNERS, learner
from echoseg.training.train import LOG_COLUMNS, TASK_DEFAULTS, compute_loss, validate
from echoseg.vocab import FAMILIES

SEEDS = (11, 12)
TINY = {"base": 4, "depth": 2}


def _small(size):
    """A quarter of the family's default input size (still divisible by 4 for a depth-2 U-Net)."""
    return size // 4 if isinstance(size, int) else (size[0] // 4, size[1] // 4)


def _shape(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@pytest.fixture(scope="module", params=FAMILIES)
def family(request) -> tuple[str, Learner, list[Sample]]:
    """(name, learner, base samples of two synthetic cases at a small input size)."""
    hooks = LEARNERS[request.param]
    size = _small(hooks.input_size)
    samples = [s for seed in SEEDS for s in hooks.synth_samples(seed, size)]
    return request.param, hooks, samples


def _net(hooks: Learner):
    torch.manual_seed(0)
    return create("unet", **{**hooks.arch_config, **TINY})


def test_every_family_is_registered_once_with_the_same_interface():
    assert tuple(LEARNERS) == FAMILIES
    assert set(TASK_DEFAULTS) == set(FAMILIES)
    for name, hooks in LEARNERS.items():
        assert isinstance(hooks, Learner) and hooks.family == name and learner(name) is hooks
        assert hooks.metrics and set(hooks.metrics) <= set(LOG_COLUMNS)
        assert {"in_ch", "n_classes", "n_cls"} <= set(hooks.arch_config) and hooks.frames_per_case >= 1
        for f in dataclasses.fields(Learner):
            assert getattr(hooks, f.name) is not None, (name, f.name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            hooks.frames_per_case = 2
        with pytest.raises(TypeError):
            hooks.arch_config["base"] = 99
    with pytest.raises(ValueError, match="task must be"):
        learner("lv")


def test_synthetic_samples_have_the_shapes_the_network_expects(family):
    name, hooks, samples = family
    size = _small(hooks.input_size)
    rows, cols = _shape(size)
    n_cls = int(hooks.arch_config["n_cls"])
    assert len(samples) == len(SEEDS) * hooks.frames_per_case
    for x, y, site in samples:
        assert x.shape == (hooks.arch_config["in_ch"], rows, cols) and x.dtype == np.float32
        assert y.shape == (rows, cols) and y.dtype == hooks.label_dtype
        assert np.isfinite(x).all() and y.min() >= 0
        assert site == -1 or 0 <= site < n_cls
    src = SynthSource(name, range(SEEDS[0], SEEDS[0] + 1), size, None)
    assert len(src) == hooks.frames_per_case
    x, y, site = collate(samples)
    out = _net(hooks)(x)
    seg = out["seg"] if isinstance(out, dict) else out
    assert seg.shape == (len(samples), hooks.arch_config["n_classes"], rows, cols)
    if n_cls:
        assert out["cls"].shape == (len(samples), n_cls)


def test_synthetic_samples_take_the_scanner_share_and_share_zero_is_the_default(family):
    name, hooks, samples = family
    size = _small(hooks.input_size)
    explicit = hooks.synth_samples(SEEDS[0], size, 0.0)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
               for a, b in zip(explicit, samples[:hooks.frames_per_case], strict=True))
    if name == "doppler":  # Doppler has no scanner-formed cases: its hook ignores the share
        again = hooks.synth_samples(SEEDS[0], size, 1.0)
        assert all(np.array_equal(a[0], b[0]) and a[2] == b[2] for a, b in zip(explicit, again, strict=True))


def test_loss_is_finite_and_decreases_on_a_fixed_batch(family):
    name, hooks, samples = family
    x, y, site = collate(samples)
    net = _net(hooks)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = compute_loss(net(x), y, site, name)
        assert loss.ndim == 0 and torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.9 * losses[0], losses


def _foreground(y: np.ndarray) -> np.ndarray:
    return y > 0.5


def test_augment_keeps_image_and_labels_aligned(family):
    name, hooks, samples = family
    x, y, _ = samples[0]
    fg = _foreground(y)
    assert fg.any()
    x = x.copy()
    x[0] = np.where(fg, 1.0, 0.1)  # the image is the label: augmented labels must follow it
    x0, y0 = x.copy(), y.copy()
    for seed in range(5):
        xa, ya = hooks.augment(x, y, np.random.default_rng(seed))
        assert np.array_equal(x, x0) and np.array_equal(y, y0)  # inputs untouched
        assert xa.shape == x.shape and xa.dtype == np.float32 and ya.shape == y.shape and ya.dtype == y.dtype
        assert ya.min() >= y.min() and ya.max() <= y.max()
        fa = _foreground(ya)
        assert 0.5 < fa.sum() / fg.sum() < 2.0
        assert xa[0][fa].mean() > xa[0][~fa].mean() + 0.3
        xb, yb = hooks.augment(x, y, np.random.default_rng(seed))
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)  # a pure function of the generator
    first, again = StepData(samples, 0, True, name)[3], StepData(samples, 0, True, name)[3]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # StepData augments through the hook


def test_validation_reports_the_declared_metrics(family):
    name, hooks, samples = family
    res = validate(_net(hooks), samples, name, batch=2, precision="fp32")
    assert tuple(res) == ("val_loss", *hooks.metrics)
    assert np.isfinite(res["val_loss"]) and all(isinstance(v, float) for v in res.values())
    tally = hooks.tally()
    assert tally.result().keys() == set(hooks.metrics)  # an empty tally still names every metric


def test_training_code_names_no_family():
    """train.py, data.py ... dispatch through LEARNERS; no string literal there names a family."""
    root = Path(families.__file__).parent
    for path in sorted(root.glob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        literals = [t.string.strip("\"'") for t in tokens if t.type == tokenize.STRING]
        assert not set(literals) & set(FAMILIES), path.name

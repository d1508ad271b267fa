"""Training loop: overfitting a fixed set, exact resume, fine-tuning, configs, augmentation geometry."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from echoseg.errors import EchosegError, ModelError
from echoseg.models import infer, load
from echoseg.models.registry import use_bf16
from echoseg.training.data import StepData, SynthSource, augment
from echoseg.training.train import RESUME_KEYS, VAL_SEED_BASE, TrainConfig, load_config, save_config, train
from echoseg.vocab import SITE_CLASSES

TINY = {"base": 4, "depth": 2}


def _cfg(tmp_path, name: str, **kw) -> TrainConfig:
    base = {"task": "atria", "out_dir": str(tmp_path / name), "steps": 6, "batch_size": 3, "input_size": 48,
            "arch_config": TINY, "synth_cases": 2, "val_cases": 1, "val_every": 100, "checkpoint_every": 100,
            "warmup_steps": 1, "lr": 3e-3, "precision": "fp32", "cache_dir": str(tmp_path / "cache")}
    return TrainConfig(**{**base, **kw})


def _log(path) -> list[dict[str, str]]:
    with open(path / "train_log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _weights(d) -> dict[str, torch.Tensor]:
    return load(d).model.state_dict()


def test_overfits_a_fixed_set_and_writes_a_loadable_model(tmp_path):
    cfg = _cfg(tmp_path, "fit", steps=25, synth_cases=1, augment=False, val_every=25, lr=3e-2,
               arch_config={"base": 8, "depth": 2})
    d = train(cfg, progress=False)
    log = _log(d)
    assert len(log) == 25
    first = np.mean([float(r["loss"]) for r in log[:3]])
    last = np.mean([float(r["loss"]) for r in log[-3:]])
    assert last < 0.6 * first
    card = json.loads((d / "model.json").read_text())
    assert card["task"] == "atria" and card["input_size"] == 48
    assert card["data"]["train_seeds"] == [0, 0] and card["data"]["val_seeds"][0] == VAL_SEED_BASE
    assert "val_dice_la" in card["metrics"] and log[-1]["val_loss"] != ""
    assert load_config(d / "train_config.json") == cfg  # reproducible from the saved config
    x = np.zeros((2, 1, 48, 48), np.float32)
    assert infer(load(d).model, x).shape == (2, 5, 48, 48)


@pytest.mark.parametrize(("task", "size"), [("atria", 48), ("doppler", [32, 64])])
def test_resume_continues_exactly(tmp_path, task, size):
    straight = train(_cfg(tmp_path, "straight", task=task, input_size=size, checkpoint_every=2), progress=False)
    cfg = _cfg(tmp_path, "resumed", task=task, input_size=size, checkpoint_every=2)
    train(cfg, progress=False, stop_at=4)
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["step"] == 4
    resumed = train(cfg, resume=True, progress=False)
    a, b = _weights(straight), _weights(resumed)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert [r["step"] for r in _log(resumed)] == [str(i) for i in range(1, 7)]
    assert [r["loss"] for r in _log(resumed)] == [r["loss"] for r in _log(straight)]


def test_fine_tune_starts_from_the_init_model(tmp_path):
    init = train(_cfg(tmp_path, "init", steps=2), progress=False)
    ft = train(_cfg(tmp_path, "ft", steps=1, lr=1e-9, warmup_steps=0, input_size=None, arch_config={},
                    init_from=str(init)), progress=False)
    a, b = _weights(init), _weights(ft)
    conv = next(k for k in a if k.endswith("weight") and a[k].ndim == 4)
    torch.testing.assert_close(a[conv], b[conv], atol=1e-6, rtol=0)
    card = json.loads((ft / "model.json").read_text())
    assert card["arch_config"]["base"] == 4 and card["input_size"] == 48
    assert card["train_config"]["init_from"] == str(init)
    with pytest.raises(ModelError, match="divisible by 4"):
        train(_cfg(tmp_path, "ft2", input_size=50, init_from=str(init)), progress=False)
    larger = train(_cfg(tmp_path, "ft4", steps=1, input_size=64, init_from=str(init)), progress=False)
    assert json.loads((larger / "model.json").read_text())["input_size"] == 64  # the U-Net reads a new size
    with pytest.raises(ModelError, match="not 'doppler'"):
        train(_cfg(tmp_path, "ft3", task="doppler", input_size=None, init_from=str(init)), progress=False)


def test_doppler_training_gives_a_site_head(tmp_path):
    cfg = _cfg(tmp_path, "dop", task="doppler", input_size=[32, 64], steps=2, batch_size=2, val_every=2)
    d = train(cfg, progress=False)
    card = json.loads((d / "model.json").read_text())
    assert card["sites"] == list(SITE_CLASSES) and card["sites"][:5] == ["mv", "av", "lvot", "rvot", "pv"]
    assert card["input_size"] == [32, 64]
    assert {"val_dice_flow", "val_site_acc"} <= set(card["metrics"])
    out = infer(load(d).model, np.zeros((1, 2, 32, 64), np.float32))
    assert out["cls"].shape == (1, len(SITE_CLASSES))


def test_config_round_trip_and_errors(tmp_path):
    cfg = TrainConfig(task="doppler", input_size=(64, 128), arch_config={"base": 8})
    p = save_config(cfg, tmp_path / "c.json")
    assert load_config(p) == cfg
    raw = json.loads(p.read_text())
    raw["stepz"] = 3
    p.write_text(json.dumps(raw))
    with pytest.raises(EchosegError, match="stepz"):
        load_config(p)
    with pytest.raises(ValueError, match="below"):
        TrainConfig(synth_seed=VAL_SEED_BASE - 5, synth_cases=10)
    with pytest.raises(ValueError, match="task"):
        TrainConfig(task="lv")
    with pytest.raises(ValueError, match="num_workers"):
        replace(cfg, num_workers=4)


def test_synth_scanner_round_trips_is_checked_and_must_not_change_on_resume(tmp_path):
    cfg = TrainConfig(synth_scanner=0.4)
    assert load_config(save_config(cfg, tmp_path / "s.json")).synth_scanner == 0.4
    assert TrainConfig().synth_scanner == 0.0 and "synth_scanner" in RESUME_KEYS
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError, match=rf"synth_scanner .*not {bad}; use 0"):
            TrainConfig(synth_scanner=bad)
    for ok in (0.0, 1.0):
        assert TrainConfig(synth_scanner=ok).synth_scanner == ok


def test_synth_cache_is_kept_apart_per_scanner_share(tmp_path):
    files = {share: SynthSource("atria", range(5, 6), 48, str(tmp_path), scanner=share)._file(5)
             for share in (0.0, 0.4, 1.0)}
    assert files[0.0] == tmp_path / "atria_48" / "5.npz"  # share 0 keeps the folder it always had
    assert len(set(files.values())) == 3
    classic = SynthSource("atria", range(5, 6), 48, str(tmp_path))[0]  # writes the share-0 cache file
    assert files[0.0].exists()
    scanner = SynthSource("atria", range(5, 6), 48, str(tmp_path), scanner=1.0)[0]
    assert not np.array_equal(classic[0], scanner[0]) and files[1.0].exists()


def test_training_and_validation_use_the_scanner_share(tmp_path):
    d = train(_cfg(tmp_path, "sc", steps=1, synth_cases=1, synth_scanner=1.0), progress=False)
    cached = {p.name for p in (tmp_path / "cache" / "atria_48_scanner1").iterdir()}
    assert cached == {"0.npz", f"{VAL_SEED_BASE}.npz"}  # the training case and the validation case
    assert not (tmp_path / "cache" / "atria_48").exists()
    assert json.loads((d / "model.json").read_text())["data"]["synth_scanner"] == 1.0


class _Items:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return np.full((1, 4, 4), i, np.float32), np.zeros((4, 4), np.int64), -1


def test_step_data_is_a_pure_function_of_position():
    ds = StepData(_Items(7), seed=3, do_augment=False, task="atria")
    epoch0 = [int(ds[p][0][0, 0, 0]) for p in range(7)]
    assert sorted(epoch0) == list(range(7))  # every item once per epoch
    epoch1 = [int(ds[p][0][0, 0, 0]) for p in range(7, 14)]
    assert sorted(epoch1) == list(range(7)) and epoch1 != epoch0
    again = StepData(_Items(7), seed=3, do_augment=False, task="atria")
    assert [int(again[p][0][0, 0, 0]) for p in (12, 2, 9)] == [epoch1[5], epoch0[2], epoch1[2]]


def test_augment_keeps_image_and_labels_aligned():
    size = 64
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - 30) ** 2 + (xx - 36) ** 2 <= 12 ** 2)
    x = np.where(disc, 1.0, 0.1)[None].astype(np.float32)
    y = disc.astype(np.int64)
    for s in range(5):
        xa, ya = augment(x, y, np.random.default_rng(s), "atria")
        assert xa.shape == x.shape and ya.dtype == np.int64
        inside, outside = xa[0][ya == 1], xa[0][(ya == 0) & (xa[0] > 0)]
        assert inside.mean() > outside.mean() + 0.3
        assert 0.6 < ya.sum() / y.sum() < 1.5
    # Doppler: the baseline channel is recomputed, zero at the baseline, and the flow still touches it
    rows, cols = 32, 64
    vb = 20.0
    chan = np.repeat(((vb - np.arange(rows)) / rows)[:, None], cols, axis=1)
    flow = ((np.arange(rows)[:, None] <= vb) & (np.arange(rows)[:, None] >= 10)).astype(np.float32) * np.ones(cols)
    xd = np.stack([flow, chan]).astype(np.float32)
    for s in range(5):
        xa, ya = augment(xd, flow, np.random.default_rng(s), "doppler")
        col = xa[1, :, 0]
        zero = np.interp(0.0, col[::-1], np.arange(rows)[::-1])
        assert zero == pytest.approx(vb, abs=1e-3)  # zoom is about the baseline
        centre = ya[:, cols // 2]
        assert centre[int(vb) - 1] > 0.5 and centre[: int(vb) - 14].max() < 0.5


def test_loader_worker_gives_the_same_batches(tmp_path):
    a = train(_cfg(tmp_path, "w0", steps=2), progress=False)
    b = train(_cfg(tmp_path, "w1", steps=2, num_workers=1), progress=False)
    assert [r["loss"] for r in _log(a)] == [r["loss"] for r in _log(b)]


def test_trains_from_a_folder_of_png_masks(tmp_path):
    from PIL import Image

    root = tmp_path / "data"
    root.mkdir()
    yy, xx = np.mgrid[:80, :100]
    for i in range(4):
        la = (yy - 50) ** 2 + (xx - 30 - 3 * i) ** 2 <= 15 ** 2
        ra = (yy - 50) ** 2 + (xx - 70) ** 2 <= 12 ** 2
        labels = np.where(la, 1, np.where(ra, 2, 0)).astype(np.uint8)
        img = np.repeat(np.where(labels > 0, 40, 160).astype(np.uint8)[..., None], 3, axis=2)
        Image.fromarray(img).save(root / f"p{i}.png")
        Image.fromarray(labels).save(root / f"p{i}_mask.png")
    cfg = _cfg(tmp_path, "folder", data=str(root), data_format="pngmask", cm_per_px=0.05, steps=2,
               batch_size=2, val_fraction=0.25, val_every=2)
    d = train(cfg, progress=False)
    card = json.loads((d / "model.json").read_text())
    assert card["data"]["n_train"] == 3 and card["data"]["n_val"] == 1
    assert 0.0 <= card["metrics"]["val_dice_la"] <= 1.0


def test_sample_from_labelled_uses_calibration_and_site():
    from echoseg.datasets.dataset import LabelledSample
    from echoseg.io.calibration import manual_spectral_calibration
    from echoseg.training.data import sample_from_labelled

    img = np.zeros((60, 90, 3), np.uint8)
    labels = np.zeros((60, 90), np.uint8)
    labels[10:30, 20:50] = 1
    x, y, site = sample_from_labelled(LabelledSample(img, labels, None, "a.png", 0, "a"), "atria", 30)
    assert x.shape == (1, 30, 30) and y.dtype == np.int64 and site == -1
    assert (y == 1).sum() * 9 == pytest.approx(600, rel=0.1)  # 90-px side / 30 = 3 px per model px
    cal = manual_spectral_calibration(0.01, -2.0, 30.0, (0, 0, 89, 59), "PW")
    s = LabelledSample(img, labels, cal, "d.dcm", 0, "d", meta={"site": "lvot"})
    x, y, site = sample_from_labelled(s, "doppler", (32, 64))
    assert x.shape == (2, 32, 64) and y.dtype == np.float32 and site == 2
    with pytest.raises(EchosegError, match="spectral calibration"):
        sample_from_labelled(LabelledSample(img, labels, None, "d.png", 0, "d"), "doppler", (32, 64))


def test_resume_refuses_a_changed_config_and_finishing_twice_keeps_metrics(tmp_path):
    cfg = _cfg(tmp_path, "r", steps=2, val_every=2)
    train(cfg, progress=False)
    with pytest.raises(EchosegError, match="batch_size"):
        train(replace(cfg, batch_size=2), resume=True, progress=False)
    with pytest.raises(EchosegError, match="synth_scanner"):
        train(replace(cfg, synth_scanner=0.4), resume=True, progress=False)
    d = train(cfg, resume=True, progress=False)  # nothing left to do: same model, metrics kept
    assert "val_dice_la" in json.loads((d / "model.json").read_text())["metrics"]


def test_bf16_is_one_decision(monkeypatch):
    from echoseg.models import registry

    for supported in (True, False):
        monkeypatch.setattr(registry, "bf16_supported", lambda s=supported: s)
        assert use_bf16("bf16") and not use_bf16("fp32")
        assert use_bf16("auto") is supported

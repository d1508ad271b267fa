"""Stand-in networks whose answers are the synthetic truth of the DICOMs of a folder, and the
module fixtures that build them (shared by the web and family-interface tests)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from echoseg.atria.prepare import atria_input
from echoseg.doppler.prepare import brightened, doppler_input, strip_luminance
from echoseg.imaging.resample import mask_input
from echoseg.io.calibration import spectral_calibration, tissue_calibration
from echoseg.io.read import read
from echoseg.models.registry import LoadedModel
from echoseg.options import Models
from echoseg.synth.dataset import write_dataset
from echoseg.vocab import SITES

ATRIA_SIZE, DOPPLER_SIZE = 96, (384, 1024)
SEED = 7


# ----------------------------------------------------------------------------- stand-in models
def _key(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


class _Lookup(nn.Module):
    """Returns the stored logits of each input sample (KeyError for an input it was not built for)."""

    def __init__(self, table: dict[str, dict[str, np.ndarray]]) -> None:
        super().__init__()
        self.table = table

    def forward(self, x: torch.Tensor):
        rows = [self.table[_key(s.contiguous().float().numpy())] for s in x]
        out = {k: torch.from_numpy(np.stack([r[k] for r in rows])) for k in rows[0]}
        return out if "cls" in out else out["seg"]


class OracleModels(Models):
    """Models whose answers are the synthetic truth of the DICOMs in ``folder`` (written by write_dataset)."""

    def __init__(self, folder: Path, smooth: bool = False) -> None:
        """``smooth``: soft atrial edges from area-weighted resampling (slower; nicer overlays)."""
        super().__init__(atria_path=str(folder), doppler_path=str(folder))
        atria: dict[str, dict[str, np.ndarray]] = {}
        doppler: dict[str, dict[str, np.ndarray]] = {}
        for dcm in sorted(Path(folder).glob("*.dcm")):
            img, truth = read(dcm), json.loads(dcm.with_suffix(".truth.json").read_text())
            masks = np.load(dcm.with_suffix(".masks.npz"))["masks"]
            if truth["kind"] == "a4c":
                x, geom = atria_input(img.frames, tissue_calibration(img.regions, img.shape), ATRIA_SIZE)
                xs, ys = geom.model_to_image(np.arange(ATRIA_SIZE), np.arange(ATRIA_SIZE))  # nearest sample
                rows = np.clip(np.round(ys).astype(int), 0, masks.shape[1] - 1)
                cols = np.clip(np.round(xs).astype(int), 0, masks.shape[2] - 1)
                onehot = np.eye(5, dtype=np.float32)[masks[:, rows][:, :, cols]].transpose(0, 3, 1, 2)
                if smooth:
                    for k in (1, 2):
                        onehot[:, k] = mask_input(masks == k, geom)
                    onehot[:, 0] = 1 - onehot[:, 1] - onehot[:, 2]
                    onehot[:, 3:] = 0
                for xt, lt in zip(x, onehot, strict=True):
                    atria[_key(xt)] = {"seg": 12.0 * lt}
            else:
                cal = spectral_calibration(img.regions, img.shape)
                x, geom = doppler_input(img.frames[0], cal, DOPPLER_SIZE)
                soft = np.clip(mask_input(masks[0], geom), 1e-4, 1 - 1e-4)
                cls = np.where(np.array(SITES) == truth["site"], 4.0, 0.0).astype(np.float32)
                answer = {"seg": (40.0 * (soft - 0.5))[None].astype(np.float32), "cls": cls}
                # the pipeline also reads the strip brightened: the truth again
                xb, _ = doppler_input(img.frames[0], cal, DOPPLER_SIZE,
                                      lum=brightened(strip_luminance(img.frames[0], cal)))
                doppler[_key(x)] = doppler[_key(xb)] = answer
        self._cache["atria"] = LoadedModel(_Lookup(atria), {"input_size": ATRIA_SIZE}, "oracle")
        self._cache["doppler"] = LoadedModel(_Lookup(doppler), {"input_size": list(DOPPLER_SIZE)}, "oracle")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("study")
    write_dataset(out, "study", 1, SEED, jpeg_fraction=0.0)
    return out


@pytest.fixture(scope="module")
def oracle(study) -> OracleModels:
    return OracleModels(study)

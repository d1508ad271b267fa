"""Small untrained networks of the shipped architectures, for tests that run the real pipeline
without the shipped weights (values are refused by QC)."""
from __future__ import annotations

import torch

from echoseg.models.registry import LoadedModel, create
from echoseg.options import Models
from echoseg.vocab import SITES


class TinyModels(Models):
    def get(self, name: str) -> LoadedModel:
        if name not in self._cache:
            torch.manual_seed(0)
            if name == "atria":
                net, size = create("unet", in_ch=1, n_classes=5, base=4, depth=2), 64
            else:
                net, size = create("unet", in_ch=2, n_classes=1, base=4, depth=2, n_cls=len(SITES)), [64, 128]
            self._cache[name] = LoadedModel(net.eval(), {"input_size": size}, "tiny")
        return self._cache[name]

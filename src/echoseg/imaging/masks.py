"""Masks: connected components (shared by the atria post-processing and QC)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


# ============================================================================= masks and atria
def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, sizes) of the 8-connected components of a boolean mask; sizes[i] is label i+1's."""
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels, sizes

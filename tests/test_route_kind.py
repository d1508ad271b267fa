"""echoseg.pipeline.route_kind: which family a file's ultrasound regions call for, and the refusals."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.errors import CalibrationError
from echoseg.pipeline import route_kind
from echoseg.types import EchoImage, Region

TISSUE = Region(0, 0, 9, 9, 1, 1, 3, 3, 0.1, 0.1)


SPECTRAL = Region(0, 10, 9, 19, 3, 3, 4, 7, 0.01, -2.0, 0, 5)


ECG = Region(0, 0, 9, 3, 4, 10, 0, 0, 0.0, 0.0)


def _img(*regions: Region) -> EchoImage:
    return EchoImage(path="x.dcm", frames=np.zeros((1, 20, 10, 3), np.uint8), regions=regions)


def test_kind_from_regions():
    assert route_kind(_img(TISSUE))[0] == "a4c"
    assert route_kind(_img(TISSUE, SPECTRAL))[0] == "doppler"  # 2D thumbnail above a strip
    assert route_kind(_img(TISSUE), "la_area")[0] == "a4c"


@pytest.mark.parametrize("regions,task", [((ECG,), "auto"), ((), "auto"), ((TISSUE,), "lvot_vti"),
                                          ((SPECTRAL,), "ra_area")])
def test_kind_refusals_name_the_file(regions, task):
    with pytest.raises(CalibrationError, match="x.dcm"):
        route_kind(_img(*regions), task)

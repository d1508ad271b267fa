"""labelme reading and prompt derivation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from echoseg.errors import EchosegError
from echoseg.evaluation.prompts import (
    box_from_mask,
    point_from_mask,
    read_labelme,
    rescale_box,
    rescale_point,
)
from echoseg.imaging.polygons import shoelace_area

LA_POLY = [[100.0, 120.0], [220.0, 110.0], [260.0, 200.0], [200.0, 300.0], [120.0, 280.0], [90.0, 200.0]]
RA_POLY = [[350.0, 130.0], [450.0, 140.0], [470.0, 260.0], [360.0, 270.0]]


def _write(tmp_path, data, name="a.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def _base(**extra):
    data = {"version": "5.0.1", "imageHeight": 480, "imageWidth": 640, "imagePath": "a.png",
            "shapes": [{"label": "LA", "points": LA_POLY, "shape_type": "polygon"},
                       {"label": "ra", "points": RA_POLY, "shape_type": "polygon"}]}
    data.update(extra)
    return data


def test_labelme_round_trip_area_matches_shoelace(tmp_path):
    ann = read_labelme(_write(tmp_path, _base()))
    assert set(ann.masks) == {"LA", "RA"}
    assert ann.masks["LA"].shape == (480, 640) and ann.masks["LA"].dtype == bool
    for label, poly in (("LA", LA_POLY), ("RA", RA_POLY)):
        assert ann.masks[label].sum() == pytest.approx(shoelace_area(poly), rel=0.02)
    assert not (ann.masks["LA"] & ann.masks["RA"]).any()
    assert ann.prompt_image_size == (640, 480)  # default when absent
    assert ann.image_path == "a.png"


@pytest.mark.parametrize("size", [[1024, 768], {"width": 1024, "height": 768}])
def test_prompts_and_both_size_layouts(tmp_path, size):
    data = _base(bbox_prompt={"LA": [140, 170, 420, 485], "RA": [540, 200, 750, 420]},
                 point_prompt={"la": [280, 320]}, image_size_for_box_and_point_prompt=size)
    ann = read_labelme(_write(tmp_path, data))
    assert ann.prompt_image_size == (1024, 768)
    assert ann.bbox_prompts["LA"] == ((140.0, 170.0, 420.0, 485.0),)
    assert ann.point_prompts == {"LA": ((280.0, 320.0),)}
    # the box drawn at 1024x768 maps back around the LA polygon at 640x480
    x0, y0, x1, y1 = rescale_box(ann.bbox_prompts["LA"][0], ann.prompt_image_size, (ann.width, ann.height))
    bx0, by0, bx1, by1 = box_from_mask(ann.masks["LA"])
    assert x0 <= bx0 and y0 <= by0 and x1 >= bx1 and y1 >= by1


def test_unlabelled_prompt_goes_to_single_label_and_list_of_points(tmp_path):
    data = {"imageHeight": 480, "imageWidth": 640, "shapes": [{"label": "LA", "points": LA_POLY}],
            "bbox_prompt": [90, 110, 260, 300], "point_prompt": [[150, 200], [170, 210]]}
    ann = read_labelme(_write(tmp_path, data))
    assert ann.bbox_prompts == {"LA": ((90.0, 110.0, 260.0, 300.0),)}
    assert ann.point_prompts == {"LA": ((150.0, 200.0), (170.0, 210.0))}


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(EchosegError, match="no such labelme"):
        read_labelme(tmp_path / "missing.json")
    broken = tmp_path / "x.json"
    broken.write_text("{")
    with pytest.raises(EchosegError, match="not valid JSON"):
        read_labelme(broken)
    with pytest.raises(EchosegError, match="imageHeight"):
        read_labelme(_write(tmp_path, {"shapes": []}, "y.json"))
    with pytest.raises(EchosegError, match="image_size_for_box_and_point_prompt"):
        read_labelme(_write(tmp_path, _base(image_size_for_box_and_point_prompt=[0, 5]), "z.json"))
    with pytest.raises(EchosegError, match="bbox_prompt must be"):
        read_labelme(_write(tmp_path, _base(bbox_prompt=[1, 2, 3]), "w.json"))


def test_box_from_rectangle_mask_is_exact():
    m = np.zeros((50, 60), bool)
    m[10:21, 5:31] = True  # rows 10..20, cols 5..30
    assert box_from_mask(m) == (5.0, 10.0, 30.0, 20.0)
    assert box_from_mask(m, margin_px=3) == (2.0, 7.0, 33.0, 23.0)
    assert box_from_mask(m, margin_px=40) == (0.0, 0.0, 59.0, 49.0)  # clipped to the image
    with pytest.raises(EchosegError, match="non-empty"):
        box_from_mask(np.zeros((4, 4), bool))


def test_point_is_inside_c_shaped_mask_whose_centroid_is_outside():
    m = np.zeros((100, 100), bool)
    m[10:90, 10:30] = True  # spine of the C
    m[10:30, 10:90] = True  # top arm
    m[70:90, 10:90] = True  # bottom arm
    cy, cx = np.argwhere(m).mean(axis=0)
    assert not m[int(round(cy)), int(round(cx))]
    x, y = point_from_mask(m)
    assert m[int(y), int(x)]
    from scipy import ndimage
    dist = ndimage.distance_transform_edt(m)
    assert dist[int(y), int(x)] == pytest.approx(dist.max())


def test_point_of_disk_is_its_centre():
    yy, xx = np.mgrid[:64, :64]
    m = (xx - 40) ** 2 + (yy - 25) ** 2 <= 10 ** 2
    assert point_from_mask(m) == (40.0, 25.0)


def test_rescale_round_trip_640x480_to_1024x768():
    box, pt = (64.0, 48.0, 320.0, 240.0), (100.0, 300.0)
    big = rescale_box(box, (640, 480), (1024, 768))
    assert big == pytest.approx((102.4, 76.8, 512.0, 384.0))
    assert rescale_box(big, (1024, 768), (640, 480)) == pytest.approx(box)
    assert rescale_point(pt, (640, 480), (1024, 768)) == pytest.approx((160.0, 480.0))
    assert rescale_point(rescale_point(pt, (640, 480), (1024, 768)), (1024, 768), (640, 480)) == pytest.approx(pt)
    with pytest.raises(EchosegError, match="positive"):
        rescale_point(pt, (0, 480), (1024, 768))

"""Prompted segmentation baselines for the atria: a classical one that always works, and SAM-family models.

``classical-box``: inside a box prompt, the smoothed grey image is split into dark blood pool and
bright tissue (Otsu's threshold, moved 30 % of the way towards the pool's median level so that
dim walls count as wall); the dark component containing the box centre (else the nearest) is
kept, holes filled, the outline smoothed by a morphological open/close, and the result clipped
to the star-shaped region seen from its innermost point (:func:`star_region`), which closes
narrow gaps to neighbouring chambers.

``classical-point``: from a point prompt, rays are cast to the first pixel brighter than a
threshold set from the local statistics (35 % of the way from the seed level to the Otsu
threshold of a window around the point, inside the imaged fan); the ray lengths are
median-filtered over neighbouring angles (no leaks through narrow gaps), bounded to a plausible
size, and the outline filled.

Neither needs weights; they are a floor for learned models. :class:`SamBackend` wraps SAM 2 /
MedSAM2 (``sam2``) or SAM (``segment_anything``) when the optional packages and a checkpoint are
present; nothing of them is imported otherwise.

Example::

    mask = segment(grey, box=(40, 60, 90, 120))           # classical-box
    mask = segment(grey, point=(65, 90))                  # classical-point
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import EchosegError, ModelError
from echoseg.evaluation.prompts import box_from_mask, point_from_mask, rescale_box, rescale_point
from echoseg.evaluation.stats import dice
from echoseg.imaging.polygons import polygon_mask

Box = tuple[float, float, float, float]
Point = tuple[float, float]
METHODS = ("classical", "classical-box", "classical-point", "sam")


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample: the cut maximising the between-class variance."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("otsu_threshold needs at least one finite value")
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2.0
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centers)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = (w0 * w1 * (m0 - m1) ** 2)[:-1]
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))  # a plateau when the modes are apart
    return float(edges[int(best[(best.size - 1) // 2]) + 1])


def _disk(radius: int) -> np.ndarray:
    r = max(0, int(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy) <= r * r + 0.5


def _as_grey(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        img = img[..., :3].mean(axis=-1)
    if img.ndim != 2:
        raise EchosegError(f"image must be (H, W) grey or (H, W, 3) RGB, not shape {np.shape(image)}")
    return img


def _smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    # a small median first removes the speckle outliers, then a Gaussian evens the pool
    return ndimage.gaussian_filter(ndimage.median_filter(img, size=3), sigma=max(0.5, sigma))


def _clean(mask: np.ndarray, radius: int) -> np.ndarray:
    from scipy import ndimage

    m = ndimage.binary_fill_holes(mask)
    if radius > 0 and m.any():
        st = _disk(radius)
        opened = ndimage.binary_opening(m, structure=st)
        if opened.any():
            m = opened
        m = ndimage.binary_closing(np.pad(m, radius), structure=st)[radius:-radius, radius:-radius]
        m = ndimage.binary_fill_holes(m)
    return m


def _component_at(mask: np.ndarray, x: float, y: float) -> np.ndarray:
    """The 8-connected component of ``mask`` containing pixel (x, y), else the one nearest to it."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return mask.copy()
    r, c = int(round(y)), int(round(x))
    h, w = mask.shape
    if 0 <= r < h and 0 <= c < w and lab[r, c] > 0:
        return lab == lab[r, c]
    # nearest component to the point, ties to the larger one
    _, (ir, ic) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
    rr, cc = min(max(r, 0), h - 1), min(max(c, 0), w - 1)
    return lab == lab[ir[rr, cc], ic[rr, cc]]


def _check_box(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = shape
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    ix1, iy1 = min(w - 1, int(np.ceil(x1))), min(h - 1, int(np.ceil(y1)))
    if ix1 - ix0 < 2 or iy1 - iy0 < 2:
        raise EchosegError(f"box {tuple(box)} covers less than 3x3 pixels of the {w}x{h} image; "
                           "give (x0, y0, x1, y1) in this image's pixel coordinates")
    return ix0, iy0, ix1, iy1


def _check_point(point: Point, shape: tuple[int, int]) -> tuple[float, float]:
    h, w = shape
    x, y = float(point[0]), float(point[1])
    if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
        raise EchosegError(f"point {tuple(point)} lies outside the {w}x{h} image; give (x, y) in its pixel coordinates")
    return x, y


def star_region(wall: np.ndarray, x: float, y: float, r_max: float, *, n_rays: int = 90,
                smooth_rays: int = 9) -> np.ndarray:
    """The star-shaped region seen from (x, y) before ``wall`` pixels, as a filled bool mask.

    ``n_rays`` rays stop at their first wall pixel (or the image edge, or ``r_max``); the ray
    lengths are median-filtered over ``smooth_rays`` neighbouring angles, so a gap in a wall
    narrower than about half that angle (an open valve, dropout) does not let the region leak.
    """
    from scipy import ndimage


    h, w = wall.shape
    steps = np.arange(0.0, max(r_max, 1.0), 0.5)
    ang = np.linspace(0.0, 2 * np.pi, n_rays, endpoint=False)
    rr = y + np.sin(ang)[:, None] * steps[None, :]
    cc = x + np.cos(ang)[:, None] * steps[None, :]
    off = (rr < 0) | (rr > h - 1) | (cc < 0) | (cc > w - 1)
    hit = ndimage.map_coordinates(wall.astype(np.float32), [rr.clip(0, h - 1), cc.clip(0, w - 1)], order=1) >= 0.5
    hit |= off
    hit[:, -1] = True
    radius = steps[np.argmax(hit, axis=1)]
    if smooth_rays > 1:
        radius = ndimage.median_filter(radius, size=smooth_rays, mode="wrap")
    return polygon_mask(np.column_stack([x + radius * np.cos(ang), y + radius * np.sin(ang)]), (h, w))


def segment_box(image: np.ndarray, box: Box, point: Point | None = None, *, level: float = 0.7,
                star: bool = True) -> np.ndarray:
    """``classical-box``: the dark blood pool inside ``box`` (x0, y0, x1, y1), as a bool (H, W) mask.

    With ``point`` too, the component containing the point is kept instead of the box centre's.
    ``level`` places the threshold between the pool's median (0) and Otsu's threshold (1);
    ``star`` clips the result to the star-shaped region seen from its innermost point.
    """
    img = _as_grey(image)
    x0, y0, x1, y1 = _check_box(box, img.shape)
    bw, bh = x1 - x0 + 1, y1 - y0 + 1
    scale = min(bw, bh)
    pad = int(max(2, scale // 8))
    ys, xs = slice(max(0, y0 - pad), y1 + pad + 1), slice(max(0, x0 - pad), x1 + pad + 1)
    crop = _smooth(img[ys, xs], sigma=scale / 40.0)
    inner = np.zeros(crop.shape, bool)
    inner[y0 - ys.start:y1 - ys.start + 1, x0 - xs.start:x1 - xs.start + 1] = True
    t = otsu_threshold(crop[inner])
    if level != 1.0:
        dark_level = float(np.median(crop[inner][crop[inner] <= t]))
        t = dark_level + level * (t - dark_level)
    dark = (crop <= t) & inner & imaged_area(img)[ys, xs]
    cx, cy = ((x0 + x1) / 2.0, (y0 + y1) / 2.0) if point is None else _check_point(point, img.shape)
    comp = _component_at(dark, cx - xs.start, cy - ys.start)
    comp = _clean(comp, radius=int(max(1, scale // 25))) & inner
    comp = _component_at(comp, cx - xs.start, cy - ys.start) if comp.any() else comp
    if star and comp.sum() > 16:

        sx, sy = point_from_mask(comp) if point is None else (cx - xs.start, cy - ys.start)
        comp = star_region(~comp, sx, sy, float(np.hypot(bw, bh))) & inner
        comp = _component_at(comp, sx, sy) if comp.any() else comp
    out = np.zeros(img.shape, bool)
    out[ys, xs] = comp
    return out


def imaged_area(image: np.ndarray) -> np.ndarray:
    """Bool mask of the pixels inside the ultrasound fan: above the black background, holes filled.

    Dark blood pools enclosed by tissue are inside; the black screen around the fan is not, so
    region growing cannot leak into it.
    """
    from scipy import ndimage

    img = _as_grey(image)
    lo, hi = float(img.min()), float(np.percentile(img, 99))
    lit = ndimage.median_filter(img, size=3) > lo + 0.04 * (hi - lo)
    lit = ndimage.binary_closing(lit, structure=_disk(2))
    return ndimage.binary_fill_holes(lit)


def segment_point(image: np.ndarray, point: Point, *, max_area_frac: float = 0.15,
                  window_frac: float = 0.3, n_rays: int = 90, smooth_rays: int = 9,
                  level: float = 0.35) -> np.ndarray:
    """``classical-point``: the dark region around ``point`` (x, y), as a bool (H, W) mask.

    Otsu's threshold of a window of ``window_frac`` of the image size around the point (inside
    the imaged fan, :func:`imaged_area`) separates blood from tissue; when the point is not in
    the darker class, the seed level + 0.5 SD of the window is used instead. The wall threshold
    lies ``level`` of the way from the seed level to that threshold. :func:`star_region` with
    ``n_rays``/``smooth_rays`` then gives the region, its radius bounded so that its area stays
    below ``max_area_frac`` of the image. Star-shaped regions suit an atrium seen from its
    innermost point (:func:`echoseg.evaluation.prompts.point_from_mask`).
    """
    img = _as_grey(image)
    h, w = img.shape
    x, y = _check_point(point, img.shape)
    half_w, half_h = max(8, int(w * window_frac)), max(8, int(h * window_frac))
    ys = slice(max(0, int(y) - half_h), min(h, int(y) + half_h + 1))
    xs = slice(max(0, int(x) - half_w), min(w, int(x) + half_w + 1))
    inside = imaged_area(img)[ys, xs]
    crop = _smooth(img[ys, xs], sigma=min(h, w) / 120.0)
    px, py = x - xs.start, y - ys.start
    r0, c0 = int(round(py)), int(round(px))
    seed_level = float(np.median(crop[max(0, r0 - 2):r0 + 3, max(0, c0 - 2):c0 + 3]))
    t = otsu_threshold(crop[inside]) if inside.sum() > 16 else otsu_threshold(crop)
    if seed_level > t:  # the point is not in the darker class: grow around the seed level instead
        t = seed_level + 0.5 * float(crop.std())
    t = seed_level + level * (t - seed_level)
    wall = np.where(inside, crop, np.inf) > t
    r_max = float(np.sqrt(max_area_frac * h * w / np.pi)) - 1.0  # the filled outline adds about a pixel
    comp = star_region(wall, px, py, r_max, n_rays=n_rays, smooth_rays=smooth_rays)
    comp = _clean(comp, int(max(1, min(h, w) // 120)))
    out = np.zeros(img.shape, bool)
    out[ys, xs] = _component_at(comp, px, py) if comp.any() else comp
    return out


def segment(image_grey: np.ndarray, box: Box | None = None, point: Point | None = None,
            method: str = "classical", *, backend: SamBackend | None = None) -> np.ndarray:
    """Prompted segmentation of one atrium in one frame; returns a bool (H, W) mask.

    ``method``: "classical" (box when given, else point), "classical-box", "classical-point",
    or "sam" (needs ``backend``, a :class:`SamBackend`). Coordinates are image pixels,
    box (x0, y0, x1, y1), point (x, y).
    """
    if method not in METHODS:
        raise EchosegError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "sam":
        if backend is None:
            raise EchosegError("method='sam' needs backend=SamBackend(checkpoint); or use method='classical'")
        return backend.predict(image_grey, box=box, point=point)
    if method == "classical-point" or (method == "classical" and box is None):
        if point is None:
            raise EchosegError(f"method={method!r} needs a point prompt (x, y)")
        return segment_point(image_grey, point)
    if box is None:
        raise EchosegError("method='classical-box' needs a box prompt (x0, y0, x1, y1)")
    return segment_box(image_grey, box, point)


_INSTALL_HINT = (
    "SAM-family prompting is optional: install the extra with `pip install echoseg[sam]` (it adds the "
    "`sam2` package and never changes the default install), then pass a checkpoint you downloaded "
    "yourself. MedSAM2 weights are CC-BY-SA and SAM 2 weights are Apache-2.0; echoseg bundles neither. "
    "Without them use method='classical'.")


class SamBackend:
    """SAM 2 / MedSAM2 (package ``sam2``) or SAM (package ``segment_anything``) behind one ``predict``.

    The package is imported only here, when a checkpoint is given. ``config`` is the sam2 model
    config (e.g. "configs/sam2.1/sam2.1_hiera_t.yaml"); for segment_anything it is the registry
    key ("vit_b", "vit_l", "vit_h"), guessed from the checkpoint name when omitted.
    """

    def __init__(self, checkpoint_path: str | Path, config: str | None = None, device: str = "cpu",
                 package: str | None = None) -> None:
        ckpt = Path(checkpoint_path)
        if not ckpt.is_file():
            raise ModelError(f"SAM checkpoint {ckpt} does not exist; download it and pass its path. {_INSTALL_HINT}")
        self.checkpoint_path, self.config, self.device = ckpt, config, device
        self.package = package or self._available_package()
        self._predictor: Any = self._build()

    @staticmethod
    def _available_package() -> str:
        import importlib.util

        for name in ("sam2", "segment_anything"):
            if importlib.util.find_spec(name) is not None:
                return name
        raise EchosegError(f"neither `sam2` nor `segment_anything` is installed. {_INSTALL_HINT}")

    def _build(self) -> Any:
        name = self.checkpoint_path.name.lower()
        if self.package == "sam2":
            from sam2.build_sam import build_sam2
            from sam2.sam2_image_predictor import SAM2ImagePredictor

            if self.config is None:
                raise EchosegError(f"sam2 needs config= the model config matching {self.checkpoint_path.name} "
                                   "(e.g. 'configs/sam2.1/sam2.1_hiera_t.yaml')")
            return SAM2ImagePredictor(build_sam2(self.config, str(self.checkpoint_path), device=self.device))
        if self.package == "segment_anything":
            from segment_anything import SamPredictor, sam_model_registry

            key = self.config or next((k for k in ("vit_h", "vit_l", "vit_b") if k in name), None)
            if key is None:
                raise EchosegError(f"cannot tell the SAM model type from {self.checkpoint_path.name}; "
                                   "pass config='vit_b', 'vit_l' or 'vit_h'")
            model = sam_model_registry[key](checkpoint=str(self.checkpoint_path)).to(self.device)
            return SamPredictor(model)
        raise EchosegError(f"package must be 'sam2' or 'segment_anything', not {self.package!r}")

    def predict(self, image: np.ndarray, box: Box | None = None, point: Point | None = None) -> np.ndarray:
        """Bool (H, W) mask for a box and/or a positive point prompt (image pixel coordinates)."""
        if box is None and point is None:
            raise EchosegError("SamBackend.predict needs a box or a point prompt")
        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.dtype != np.uint8:
            lo, hi = float(img.min()), float(img.max())
            img = ((img - lo) / (hi - lo or 1.0) * 255.0).round().astype(np.uint8)
        self._predictor.set_image(img)
        kwargs: dict[str, Any] = {"multimask_output": False}
        if box is not None:
            kwargs["box"] = np.asarray(box, dtype=np.float32)
        if point is not None:
            kwargs["point_coords"] = np.asarray([point], dtype=np.float32)
            kwargs["point_labels"] = np.ones(1, dtype=np.int32)
        masks, _, _ = self._predictor.predict(**kwargs)
        return np.asarray(masks[0]).astype(bool)


def prompts_for(ann: Any, label: str, *, margin_px: float = 0) -> tuple[Box, Point]:
    """The box and point prompts of ``label`` in a :class:`~echoseg.evaluation.prompts.LabelmeAnnotation`, in image pixels.

    The file's own prompts are used when present (rescaled from its ``prompt_image_size``);
    otherwise they are derived from the label's mask (tight box grown by ``margin_px``; the
    interior point farthest from the boundary).
    """

    size = (ann.width, ann.height)
    if label not in ann.masks and label not in ann.bbox_prompts and label not in ann.point_prompts:
        raise EchosegError(f"{ann.path}: no label {label!r}; labels found: {', '.join(ann.masks) or 'none'}")
    boxes, points = ann.bbox_prompts.get(label, ()), ann.point_prompts.get(label, ())
    box = (rescale_box(boxes[0], ann.prompt_image_size, size) if boxes
           else box_from_mask(ann.masks[label], margin_px))
    point = (rescale_point(points[0], ann.prompt_image_size, size) if points
             else point_from_mask(ann.masks[label]))
    return box, point


def score_annotation(image: np.ndarray, ann: Any, method: str = "classical-box", *,
                     backend: SamBackend | None = None, margin_px: float = 0) -> dict[str, float]:
    """Dice of the prompted segmentation of every masked label of ``ann`` against its mask.

    ``method`` "classical-box"/"classical-point" (or "sam" with "box"/"point" chosen by passing
    method "sam-box"/"sam-point") uses the box or point prompt from :func:`prompts_for`.
    """

    kind = method.rsplit("-", 1)[-1]
    if kind not in ("box", "point"):
        raise EchosegError(f"method must end in -box or -point, not {method!r}")
    base = "sam" if method.startswith("sam") else method
    img = _as_grey(image)
    if img.shape != (ann.height, ann.width):
        raise EchosegError(f"image is {img.shape[1]}x{img.shape[0]} but {ann.path} is drawn on "
                           f"{ann.width}x{ann.height}; pass the frame the annotation belongs to")
    out = {}
    for label, mask in ann.masks.items():
        box, point = prompts_for(ann, label, margin_px=margin_px)
        pred = segment(img, box=box if kind == "box" else None, point=point if kind == "point" else None,
                       method=base, backend=backend)
        out[label] = dice(pred, mask)
    return out

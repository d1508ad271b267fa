"""B-mode image formation in the beam (polar) domain: the steps a scanner takes, as pure functions.

The model is the classic convolution model of ultrasound speckle (Bamber & Dickinson 1980; Gao et
al., IEEE TUFFC 2009, "A fast convolution-based methodology to simulate 2-D/3-D cardiac
ultrasound images"), in complex baseband (IQ), on a grid of samples along ``n_t`` scan lines:

1. scatterers: a complex Gaussian amplitude per sample whose variance is the local backscatter
   (tissue strong, blood weak but not zero);
2. the point-spread function, separable along the beam (a Gaussian pulse envelope with a short
   ring-down tail, :func:`axial_transfer`) and across it (a beam whose width in cm is set by the
   aperture and focus and grows with depth, :func:`lateral_sigma_cm`), applied line by line
   (:func:`beamform`);
3. attenuation along each line (:func:`attenuation_db`, two-way, so strong reflectors and ribs
   shadow what lies behind them), electronic noise, time-gain compensation (:func:`tgc_db`);
4. envelope detection (the IQ magnitude), log compression with a dynamic range, gain and reject
   (:func:`log_compress`);
5. scan conversion of the lines to the screen's sector (:class:`ScanConverter`, bilinear between
   samples and lines, as scanners do), so the speckle follows the scan lines.

Example::

    >>> import numpy as np
    >>> g = BeamGrid(depth_cm=10.0, half_angle=0.6, n_r=200, n_t=64)
    >>> rng = np.random.default_rng(0)
    >>> z = complex_gaussian(rng, (g.n_r, g.n_t))
    >>> lines = lateral_sigma_cm(g.r, 1.8, 0.055, 7.0) / (g.r * g.dtheta)  # beam width in lines
    >>> iq = beamform(z, axial_transfer(g.n_r, g.dr, 0.04), lines)
    >>> top = float(np.percentile(20 * np.log10(np.abs(iq)), 99))
    >>> img = log_compress(np.abs(iq), dynamic_range_db=60.0, top_db=top)
    >>> img.shape, bool(0.0 <= img.min() and img.max() <= 1.0)
    ((200, 64), True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy import ndimage as ndi

__all__ = ["BeamGrid", "ScanConverter", "attenuation_db", "axial_transfer", "beamform", "complex_gaussian",
           "lateral_sigma_cm", "log_compress", "tgc_db"]


@dataclass(frozen=True)
class BeamGrid:
    """Samples along ``n_t`` scan lines fanned over ``[-half_angle, half_angle]`` (radians), ``n_r``
    samples each from the transducer (r = 0) to ``depth_cm``. Sample ``(i, j)`` lies at depth
    ``r[i]`` on line ``theta[j]`` (0 = straight down, positive = image right)."""

    depth_cm: float
    half_angle: float
    n_r: int
    n_t: int

    @property
    def dr(self) -> float:
        """Sample spacing along a line (cm)."""
        return self.depth_cm / self.n_r

    @property
    def dtheta(self) -> float:
        """Angle between neighbouring lines (radians)."""
        return 2 * self.half_angle / max(self.n_t - 1, 1)

    @property
    def r(self) -> np.ndarray:
        """(n_r,) depth of each sample (cm), the centre of its range cell."""
        return ((np.arange(self.n_r) + 0.5) * self.dr).astype(np.float32)

    @property
    def theta(self) -> np.ndarray:
        """(n_t,) angle of each line (radians)."""
        return np.linspace(-self.half_angle, self.half_angle, self.n_t).astype(np.float32)

    def cartesian(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in cm of every sample, each (n_r, n_t): x lateral, y depth below the transducer."""
        r, th = self.r[:, None], self.theta[None, :]
        return r * np.sin(th), r * np.cos(th)


def complex_gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-power circular complex Gaussian samples (complex64): the amplitude of random scatterers."""
    z = rng.standard_normal((2, *shape), dtype=np.float32)
    return ((z[0] + 1j * z[1]) * np.float32(np.sqrt(0.5))).astype(np.complex64)


def axial_transfer(n_r: int, dr: float, sigma_cm: float, tail: float = 0.0, tail_cm: float = 0.05) -> np.ndarray:
    """(n_r,) FFT transfer function of the baseband pulse along the line.

    The pulse envelope is a Gaussian of standard deviation ``sigma_cm`` (a two-cycle pulse at
    2-3.5 MHz gives 0.2-0.45 mm) plus, with weight ``tail``, a one-sided exponential ring-down of
    length ``tail_cm``; the kernel is normalised to unit energy (the speckle keeps its power).
    """
    if sigma_cm <= 0 or dr <= 0:
        raise ValueError(f"sigma_cm and dr must be positive, not {sigma_cm} and {dr}")
    half = int(np.ceil(4 * sigma_cm / dr + 6 * tail_cm / dr * (tail > 0))) + 1
    z = np.arange(-half, half + 1) * dr
    k = np.exp(-0.5 * (z / sigma_cm) ** 2)
    if tail > 0:
        k = k + tail * np.where(z > 0, np.exp(-z / tail_cm), 0.0) * (1 - np.exp(-0.5 * (z / sigma_cm) ** 2))
    k = k / np.sqrt(np.sum(k ** 2))
    kern = np.zeros(n_r, np.complex128)
    kern[np.arange(-half, half + 1) % n_r] = k
    return sfft.fft(kern).astype(np.complex64)


def lateral_sigma_cm(r: np.ndarray, aperture_cm: float, wavelength_cm: float, focus_cm: float,
                     geometric: float = 0.3) -> np.ndarray:
    """Beam width (Gaussian standard deviation, cm) across the line at depth ``r`` (cm).

    Diffraction gives about 0.42 λ r / D (the main lobe of a focused aperture D, FWHM ≈ λ F#); away
    from the focus the geometric width of the converging / diverging beam, ``geometric`` D |1 - r/f|,
    adds in quadrature. The width is smallest near the focus and grows beyond it with depth.
    """
    r = np.asarray(r, dtype=np.float32)
    diff = 0.42 * wavelength_cm * np.maximum(r, 0.05) / aperture_cm
    geo = geometric * aperture_cm * np.abs(1 - r / focus_cm)
    return np.sqrt(diff ** 2 + geo ** 2).astype(np.float32)


def beamform(scatterers: np.ndarray, h_axial: np.ndarray, sigma_lines: np.ndarray) -> np.ndarray:
    """Convolve the complex scatterer field (n_r, n_t) with the point-spread function.

    Along each line: the FFT transfer ``h_axial`` (n_r,) of :func:`axial_transfer` (circular; keep
    a few pulse lengths of empty samples at the far end). Across lines: at each depth a Gaussian of
    ``sigma_lines[i]`` lines (depth-dependent, so the beam widens with depth), through a zero-padded
    FFT along the lines with a unit-energy kernel.
    """
    s = np.asarray(scatterers, dtype=np.complex64)
    n_r, n_t = s.shape
    if h_axial.shape != (n_r,) or np.shape(sigma_lines) != (n_r,):
        raise ValueError(f"h_axial and sigma_lines must have shape ({n_r},), not {h_axial.shape} and "
                         f"{np.shape(sigma_lines)}")
    a = sfft.ifft(sfft.fft(s, axis=0) * h_axial[:, None], axis=0)
    sig = np.clip(np.asarray(sigma_lines, dtype=np.float32), 0.05, n_t / 2)
    n_fft = sfft.next_fast_len(int(n_t + 2 * min(np.ceil(3 * sig.max()), n_t)))
    f = sfft.fftfreq(n_fft).astype(np.float32)
    gauss = np.exp(-2 * (np.pi * f[None, :] * sig[:, None]) ** 2)
    gauss *= np.sqrt(2 * np.sqrt(np.pi) * sig[:, None])  # unit-energy kernel (speckle keeps its power)
    out = sfft.ifft(sfft.fft(a, n=n_fft, axis=1) * gauss, axis=1)[:, :n_t]
    return out.astype(np.complex64)


def attenuation_db(alpha_db_cm: np.ndarray, dr: float) -> np.ndarray:
    """Two-way loss (dB) at each sample of (n_r, n_t) one-way attenuation ``alpha_db_cm`` (dB/cm).

    The pulse travels to a sample and its echo back through everything shallower on the same line,
    so the loss is twice the cumulative sum along the line (to the centre of the sample). A strong
    attenuator (a rib, calcium, lung) therefore shadows every sample behind it.
    """
    a = np.asarray(alpha_db_cm, dtype=np.float32)
    if np.any(a < 0):
        raise ValueError("alpha_db_cm must be non-negative (dB/cm), not negative")
    return (2.0 * dr * (np.cumsum(a, axis=0) - 0.5 * a)).astype(np.float32)


def tgc_db(r: np.ndarray, depth_cm: float, alpha_db_cm: float, compensation: float = 1.0,
           sliders_db: np.ndarray | None = None) -> np.ndarray:
    """Time-gain compensation (dB) at depths ``r``: ``compensation`` x the two-way loss of tissue of
    mean attenuation ``alpha_db_cm`` (1 = exact), plus the operator's slider offsets ``sliders_db``
    (equally spaced from the top to ``depth_cm``, interpolated)."""
    r = np.asarray(r, dtype=np.float32)
    g = compensation * 2.0 * alpha_db_cm * r
    if sliders_db is not None and len(sliders_db):
        knots = np.linspace(0.0, depth_cm, len(sliders_db))
        g = g + np.interp(r, knots, np.asarray(sliders_db, dtype=np.float64))
    return g.astype(np.float32)


def log_compress(envelope: np.ndarray, dynamic_range_db: float, top_db: float, reject: float = 0.0) -> np.ndarray:
    """Envelope -> display level in [0, 1]: ``top_db`` maps to 1, ``top_db - dynamic_range_db`` to 0,
    logarithmic in between; levels under ``reject`` (a fraction of the range) are set to black."""
    if dynamic_range_db <= 0:
        raise ValueError(f"dynamic_range_db must be positive, not {dynamic_range_db}")
    db = 20.0 * np.log10(np.maximum(np.asarray(envelope, dtype=np.float32), np.float32(1e-12)))
    x = (db - np.float32(top_db - dynamic_range_db)) / np.float32(dynamic_range_db)
    if reject > 0:
        x = (x - np.float32(reject)) / np.float32(1 - reject)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


class ScanConverter:
    """Scan conversion of beam-domain images (n_r, n_t) to screen pixels.

    ``x_cm``, ``y_cm``: the screen pixels' positions relative to the transducer (cm), any shape.
    Pixels outside the sector get 0. The sample and line indices are computed once per cine.
    """

    def __init__(self, grid: BeamGrid, x_cm: np.ndarray, y_cm: np.ndarray) -> None:
        self.shape = np.shape(x_cm)
        r = np.hypot(x_cm, y_cm)
        th = np.arctan2(x_cm, y_cm)
        ri = r / grid.dr - 0.5
        ti = (th + grid.half_angle) / max(grid.dtheta, 1e-9)
        self.inside = (ri >= -0.5) & (ri <= grid.n_r - 0.5) & (ti >= 0) & (ti <= grid.n_t - 1)
        self.coords = np.stack([np.clip(ri[self.inside], 0, grid.n_r - 1),
                                np.clip(ti[self.inside], 0, grid.n_t - 1)]).astype(np.float32)

    def __call__(self, polar: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape, np.float32)
        out[self.inside] = ndi.map_coordinates(np.asarray(polar, dtype=np.float32), self.coords, order=1,
                                               mode="nearest", prefilter=False)
        return out

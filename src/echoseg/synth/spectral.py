"""Signal-level spectral Doppler: velocity distribution -> IQ signal -> scanner processing -> image.

Model (pure numpy/scipy functions; every appearance parameter is a field of :class:`Scanner`):

1. **Velocity distribution** ``D(v, t)`` of each :class:`Flow` around its analytic signed envelope
   ``e(t)`` (speed ``E = |e|``, ``s`` = velocity along the flow direction): ``plug`` (laminar PW
   outflow, LVOT/RVOT/PV): a band ``[E(1 - w), E]`` just inside the envelope over a hollow window
   ``floor_db`` below it, ``w = band + fill (1 - E/v_ref)`` (the band fills in at low speed);
   ``inflow`` (PW E/A inflow, venous flow): the same with a wider, fuller band; ``tissue`` (tissue
   Doppler): a narrow very bright band; ``filled`` (CW jets: AV, MV stenosis, regurgitation): every
   speed 0..E, ``floor + u**k`` plus a low-velocity term ``low_boost (1-u)**2`` (``u = s/E``).
   Any kind may fade towards its envelope (``edge_fade_db`` over the outer ``edge_fade_w`` of the
   speeds): on real screens the fastest scatterers are often fewer, and the dense signal's outer band
   is dimmer than its core while still well above the noise. The envelope stays ``E``.
   Broadening (transit time, geometric/aperture) is a Gaussian convolution with
   ``sigma = beta |v| + sigma0`` evaluated at each edge, closed form for these box shapes (a band is
   never narrower than 2.5 sigma): the half-power edge of the dense signal stays within a few % of
   ``E`` (tests: median within 3 %); only a faint tail reaches ``E + 2-3 sigma``.
2. **Doppler signal** (Mo & Cobbold, IEEE TUFFC 36(5) 1989): scatterers with velocities drawn from
   ``D`` give ``f = 2 v f0 cos(theta) / c``; ``x(t) = sum_k a_k exp(i (2 pi f_k t + phi_k))`` with
   Rayleigh ``a_k`` and uniform ``phi_k``. With many scatterers ``x`` is a circular complex Gaussian
   process whose power spectrum is ``D`` mapped to frequency, so we synthesise the equivalent:
   complex white Gaussian noise shaped by ``sqrt(D)`` in short blocks (about 10 ms: inverse FFT per
   block, Hann windows, 75 % overlap-add, so the local spectrum is D(., t_block)).
   Tissue clutter is synthesised directly in time (see :func:`clutter_signal`).
   :func:`random_phase_signal` is the literal sum of sinusoids (stationary), used by the tests to
   check that both give the same spectrum and exponential periodogram statistics (speckle).
   Sampling rate = the displayed velocity span (PW: the PRF), so PW velocities beyond the Nyquist
   limits wrap (aliasing); CW is anti-alias filtered (clipped to the displayed band).
3. **Scanner**: tissue clutter (strong narrowband signal at the slowly moving tissue velocity) and
   valve clicks (short broadband bursts) added before a Butterworth high-pass wall filter, thermal
   noise, optional CW cross-talk mirror (``mirror_db``), slow gain drift (respiration, contact).
4. **Display**: STFT with a vendor window (Hann/Hamming/Gaussian/Blackman; 6-22 ms = 32-256
   samples, zero-padded 64-512-point FFT, overlapping, 0.35-1.3 lines per strip column), optional
   line averaging and vertical smoothing, resampling to the strip rows (velocity) and columns
   (time, nearest line or linear), log compression re the flow band's power with gain (band shown
   at 50-90 % of the range), dynamic range (30-60 dB), reject level (0-20 %) and a compression
   curve (power 0.7-1.5), to intensities in [0, 1].
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d
from scipy.signal import butter, get_window, sosfilt
from scipy.special import ndtr

C_TISSUE_M_S = 1540.0
KINDS = ("plug", "inflow", "tissue", "filled")
WINDOWS = ("hann", "hamming", "gaussian", "blackman")


@dataclass(frozen=True)
class Flow:
    """One flow component: its signed envelope (cm/s at times in s) and its spectral shape."""

    velocity: Callable[[np.ndarray], np.ndarray]
    kind: str = "plug"
    gain_db: float = 0.0
    band: float = 0.15       # plug/inflow/tissue: band width as a fraction of E at v_ref
    fill: float = 0.3        # extra band width fraction as the speed falls to 0
    floor_db: float = -18.0  # level of the hollow window (plug) or of the low part (filled)
    shape_k: float = 0.8     # filled: brightness grows like u**k towards the envelope
    low_boost: float = 0.3   # filled: brightness near the baseline (1 - u)**2
    v_ref: float = 100.0     # peak speed of the flow (cm/s), scales the band fill-in
    onset_cm_s: float = 4.0  # speeds below this fade out (no flow between beats)
    edge_fade_db: float = 0.0  # the density falls by this much towards the envelope ...
    edge_fade_w: float = 0.25  # ... over this outer fraction of the speeds 0..E


@dataclass(frozen=True)
class Scanner:
    """Acquisition and display settings of one screen (see :func:`sample_scanner` for the ranges)."""

    mode: str                  # "PW" | "CW"
    span_cm_s: float           # displayed velocity span = sampled band (PW: 2 x Nyquist velocity)
    v_lo_cm_s: float           # lowest displayed velocity (signed)
    f0_hz: float = 2.5e6
    angle_deg: float = 0.0
    beta: float = 0.05         # broadening: sigma = beta |v| + sigma0
    sigma0_cm_s: float = 1.5
    wall_hz: float = 100.0
    wall_order: int = 2
    clutter_db: float = 25.0   # tissue clutter power re the flow band (before the wall filter)
    clutter_cm_s: float = 1.5  # clutter spectral width
    tissue_cm_s: float = 4.0   # amplitude of the tissue motion
    clutter_mod_db: float = 6.0  # slow waxing/waning of the clutter power
    mirror_db: float | None = None
    noise_db: float = -30.0    # thermal noise PSD re the flow band
    click_db: float = 12.0
    click_ms: float = 3.0
    drift_db: float = 1.5
    window: str = "hann"
    win_len: int = 128
    nfft: int = 128
    hop: int = 40
    smooth_t: int = 1
    smooth_v: float = 0.0
    nearest_t: bool = False
    gain_db: float = 0.0
    dyn_range_db: float = 45.0
    reject: float = 0.03
    compress: float = 1.0

    @property
    def fs_hz(self) -> float:
        """Sampling rate of the IQ signal: the Doppler shift of the displayed span."""
        return float(doppler_shift_hz(self.span_cm_s, self.f0_hz, self.angle_deg))

    @property
    def block_len(self) -> int:
        """Synthesis block (samples, power of 2, about 10 ms) = number of velocity bins of D."""
        return int(np.clip(2 ** round(np.log2(max(0.01 * self.fs_hz, 1.0))), 32, 256))


def doppler_shift_hz(v_cm_s: np.ndarray | float, f0_hz: float, angle_deg: float = 0.0,
                     c_m_s: float = C_TISSUE_M_S) -> np.ndarray:
    """Doppler equation ``f = 2 v f0 cos(theta) / c``."""
    return 2.0 * np.asarray(v_cm_s, dtype=np.float64) / 100.0 * f0_hz * np.cos(np.radians(angle_deg)) / c_m_s


def alias_velocity(v: np.ndarray | float, v_lo: float, span: float) -> np.ndarray:
    """Where a PW scanner shows velocity ``v``: wrapped into the displayed band [v_lo, v_lo + span)."""
    return v_lo + np.mod(np.asarray(v, dtype=np.float64) - v_lo, span)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def flow_density(s: np.ndarray, e_abs: np.ndarray, flow: Flow, beta: float, sigma0: float) -> np.ndarray:
    """Broadened density of ``flow`` at velocities ``s`` (nv, nt) along the flow, envelope speed (nt,)."""
    e = e_abs[None, :]
    top = ndtr((e - s) / (beta * e + sigma0))
    bottom = ndtr(s / sigma0)
    floor = 10.0 ** (flow.floor_db / 10.0)
    u = np.clip(s / np.maximum(e, 1e-6), 0.0, 1.0)  # speed as a fraction of the envelope's
    if flow.kind == "filled":
        core = (floor + (1 - floor) * u ** flow.shape_k + flow.low_boost * (1 - u) ** 2) / (1 + flow.low_boost)
    elif flow.kind in ("plug", "inflow", "tissue"):
        w = np.clip(flow.band + flow.fill * (1 - e / max(flow.v_ref, 1e-6)), 0.03, 1.0)
        w = np.maximum(w, 2.5 * (beta + sigma0 / np.maximum(e, 1e-6)))  # a band is never narrower than its blur
        lo = e * (1 - np.minimum(w, 1.0))
        core = floor + (1 - floor) * ndtr((s - lo) / (beta * lo + sigma0 + 0.04 * e))
    else:
        raise ValueError(f"flow kind must be one of {', '.join(KINDS)}, not {flow.kind!r}")
    if flow.edge_fade_db > 0:
        fw = max(flow.edge_fade_w, 1e-3)
        core = core * 10.0 ** (-0.1 * flow.edge_fade_db * _smoothstep((u - (1.0 - fw)) / fw))
    gate = _smoothstep(e / max(flow.onset_cm_s, 1e-6))
    return (10.0 ** (flow.gain_db / 10.0)) * gate * core * top * bottom


def bin_velocities(sc: Scanner, n: int) -> np.ndarray:
    """Velocity of each of ``n`` FFT bins in centred order (bin n/2 = 0), as displayed (in the band)."""
    u = (np.arange(n) - n // 2) * sc.span_cm_s / n
    return np.asarray(alias_velocity(u, sc.v_lo_cm_s, sc.span_cm_s))


def spectral_density(sc: Scanner, flows: Sequence[Flow], t: np.ndarray, n: int) -> np.ndarray:
    """Flow power spectrum (n centred bins, len(t)) with PW aliasing, CW clipping and the CW mirror."""
    v = bin_velocities(sc, n)[:, None]
    out = np.zeros((n, t.size))
    for f in flows:
        e = np.asarray(f.velocity(t), dtype=np.float64)
        sign, e_abs = np.where(e < 0, -1.0, 1.0)[None, :], np.abs(e)
        reach = float(e_abs.max(initial=0.0)) * (1 + 4 * sc.beta) + 4 * sc.sigma0_cm_s
        m_max = int(np.ceil(reach / sc.span_cm_s)) if sc.mode == "PW" else 0
        mirror = 0.0 if sc.mirror_db is None else 10.0 ** (sc.mirror_db / 10.0)
        for m in range(-m_max, m_max + 1):
            vm = v + m * sc.span_cm_s
            out += flow_density(vm * sign, e_abs, f, sc.beta, sc.sigma0_cm_s)
            if mirror > 0:
                out += mirror * flow_density(-vm * sign, e_abs, f, sc.beta, sc.sigma0_cm_s)
    return out


def clutter_signal(rng: np.random.Generator, sc: Scanner, n: int) -> np.ndarray:
    """Tissue clutter: a strong narrowband signal (width ``clutter_cm_s``) at the tissue velocity.

    Synthesised directly in time (complex noise with a Gaussian spectrum, phase-modulated by a smooth random tissue
    motion), so its spectrum is compact: a block-wise synthesis would leak it across all velocities.
    """
    fs = sc.fs_hz
    t = np.arange(n) / fs
    vt = np.zeros(n)
    for k in range(6):  # smooth random tissue motion, most power at the heart-rate harmonics' scale
        vt += rng.normal(0, 1) / (k + 1) * np.sin(2 * np.pi * rng.uniform(0.7, 8.0) * t + rng.uniform(0, 2 * np.pi))
    f_t = doppler_shift_hz(vt * sc.tissue_cm_s / 1.2, sc.f0_hz, sc.angle_deg)
    shape = np.exp(-0.5 * (np.fft.fftfreq(n, 1.0 / fs) / doppler_shift_hz(sc.clutter_cm_s, sc.f0_hz, sc.angle_deg)) ** 2)
    w = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2.0)
    narrow = np.fft.ifft(np.fft.fft(w) * np.sqrt(shape / shape.mean()))  # Gaussian spectrum, unit power
    g = gaussian_filter1d(rng.standard_normal(n // 64 + 2), max(0.08 * fs / 64, 1.0), mode="wrap")
    g = np.interp(np.arange(n) / 64, np.arange(g.size), g / max(float(g.std()), 1e-9))
    amp = 10.0 ** ((sc.clutter_db + sc.clutter_mod_db * np.tanh(g)) / 20.0)  # blobs: the tissue echo waxes/wanes
    return amp * narrow * np.exp(2j * np.pi * np.cumsum(f_t) / fs)


def shaped_noise_signal(rng: np.random.Generator, density: np.ndarray) -> np.ndarray:
    """IQ signal whose spectrum in block j is ``density[:, j]`` (centred bins; block len = n, hop n/4).

    Equivalent in distribution to Mo & Cobbold's random-phase sum of sinusoids (see the module
    docstring). Blocks are Hann-windowed (sum of squares over the 4 overlaps = 1.5, normalised), so
    the leakage of a strong band stays below -31 dB. Returns ``hop * (nblocks + 3)`` samples; block j
    is centred on sample ``j * hop + n / 2``; ``E|x|^2`` = mean of the density over bins.
    """
    n, nb = density.shape
    hop = n // 4
    gauss = (rng.standard_normal((n, nb)) + 1j * rng.standard_normal((n, nb))) / np.sqrt(2.0)
    spec = np.fft.ifftshift(np.sqrt(np.maximum(density, 0.0)), axes=0) * gauss
    blocks = np.fft.ifft(spec, axis=0) * np.sqrt(n)
    blocks *= (get_window("hann", n, fftbins=True) / np.sqrt(1.5))[:, None]
    out = np.zeros((nb + 3, hop), dtype=np.complex128)
    for k in range(4):
        out[k:k + nb] += blocks[k * hop:(k + 1) * hop].T
    return out.ravel()


def random_phase_signal(rng: np.random.Generator, velocities: np.ndarray, weights: np.ndarray, n: int,
                        fs_hz: float, f0_hz: float, angle_deg: float = 0.0, n_scatterers: int = 400) -> np.ndarray:
    """Mo & Cobbold's model, literally, for a stationary distribution (``weights`` over ``velocities``).

    Scatterer velocities are drawn from the distribution, amplitudes are Rayleigh, phases uniform:
    ``x[i] = sum_k a_k exp(i (2 pi f_k i / fs + phi_k))``, ``f_k = 2 v_k f0 cos(theta) / c``.
    """
    p = np.asarray(weights, dtype=np.float64)
    dv = float(np.median(np.diff(velocities))) if velocities.size > 1 else 0.0
    vk = rng.choice(velocities, size=n_scatterers, p=p / p.sum()) + rng.uniform(-0.5, 0.5, n_scatterers) * dv
    fk = doppler_shift_hz(vk, f0_hz, angle_deg)
    ak = rng.rayleigh(1.0 / np.sqrt(2.0), n_scatterers)
    phik = rng.uniform(0, 2 * np.pi, n_scatterers)
    ph = 2 * np.pi * fk[:, None] * (np.arange(n) / fs_hz)[None, :] + phik[:, None]
    return (ak[:, None] * np.exp(1j * ph)).sum(axis=0) / np.sqrt(n_scatterers)


def valve_clicks(rng: np.random.Generator, n: int, fs_hz: float, samples: Sequence[int], amp_db: float,
                 dur_ms: float) -> np.ndarray:
    """Short broadband bursts (valve opening/closing) at the given sample indices.

    Each burst's power spectrum falls exponentially with |f| (a random 0.5-8 % of the band per
    e-fold), so a click is bright at the baseline and fades towards the edges of the strip.
    """
    out = np.zeros(n, dtype=np.complex128)
    sd = max(dur_ms * 1e-3 * fs_hz / 2.5, 1.0)
    half = int(3 * sd) + 1
    f = np.abs(np.fft.fftfreq(2 * half))
    for i in samples:
        lo, hi = max(i - half, 0), min(i + half, n)
        if hi <= lo:
            continue
        shape = np.exp(-f / rng.uniform(0.005, 0.08))
        w = (rng.standard_normal(2 * half) + 1j * rng.standard_normal(2 * half)) / np.sqrt(2.0)
        burst = np.fft.ifft(np.sqrt(shape / shape.mean()) * w) * np.sqrt(2 * half)
        burst *= np.exp(-0.5 * (np.arange(-half, half) / sd) ** 2)
        amp = 10.0 ** ((amp_db + rng.normal(0, 3)) / 20.0)
        out[lo:hi] += amp * burst[lo - (i - half):hi - (i - half)]
    return out


def wall_filter(x: np.ndarray, fs_hz: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Causal Butterworth high-pass on the complex IQ signal (removes clutter near the baseline)."""
    wn = float(np.clip(cutoff_hz / (fs_hz / 2.0), 1e-4, 0.5))
    return sosfilt(butter(order, wn, "highpass", output="sos"), x)


def stft_power(x: np.ndarray, window: str, win_len: int, nfft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Periodograms (frames, nfft centred bins) of windowed frames and each frame's centre sample."""
    w = get_window(("gaussian", win_len / 6.0) if window == "gaussian" else window, win_len, fftbins=True)
    n_fr = max((x.size - win_len) // hop + 1, 1)
    idx = np.arange(win_len)[None, :] + hop * np.arange(n_fr)[:, None]
    spec = np.fft.fft(x[np.minimum(idx, x.size - 1)] * w[None, :], n=nfft, axis=1)
    p = np.fft.fftshift(np.abs(spec) ** 2, axes=1) / float(np.sum(w ** 2))
    return p, hop * np.arange(n_fr) + win_len / 2.0


def to_display(p: np.ndarray, t_frames: np.ndarray, sc: Scanner, v_rows: np.ndarray, t_cols: np.ndarray) -> np.ndarray:
    """Resample periodograms to strip rows (velocities ``v_rows``) x columns (times ``t_cols``)."""
    nfft = p.shape[1]
    if sc.smooth_t > 1:
        p = uniform_filter1d(p, sc.smooth_t, axis=0, mode="nearest")
    if sc.smooth_v > 0:
        p = gaussian_filter1d(p, sc.smooth_v, axis=1, mode="wrap")
    b = np.mod(np.asarray(v_rows) / sc.span_cm_s * nfft + nfft // 2, nfft)
    b0 = np.floor(b).astype(np.int64)
    fb = b - b0
    pv = p[:, b0 % nfft] * (1 - fb) + p[:, (b0 + 1) % nfft] * fb
    ft = np.interp(t_cols, t_frames, np.arange(t_frames.size, dtype=np.float64))
    if sc.nearest_t:
        return pv[np.round(ft).astype(np.int64)].T
    i0 = np.minimum(np.floor(ft).astype(np.int64), t_frames.size - 2) if t_frames.size > 1 else np.zeros_like(ft, int)
    f = np.clip(ft - i0, 0, 1)[:, None]
    i1 = np.minimum(i0 + 1, t_frames.size - 1)
    return (pv[i0] * (1 - f) + pv[i1] * f).T


def log_compress(power: np.ndarray, sc: Scanner, ref: float = 1.0) -> np.ndarray:
    """Display intensity in [0, 1]: dB re ``ref`` (1 = the flow band's mean power) + gain, over the range."""
    db = 10.0 * np.log10(np.maximum(power, 1e-30) / ref) + sc.gain_db
    x = np.clip((db + sc.dyn_range_db) / sc.dyn_range_db, 0.0, 1.0)
    x = np.clip((x - sc.reject) / (1 - sc.reject), 0.0, 1.0) ** sc.compress
    return x.astype(np.float32)


def render_power(rng: np.random.Generator, sc: Scanner, flows: Sequence[Flow], v_rows: np.ndarray,
                 t_cols: np.ndarray, click_times: Sequence[float] = (), clutter: bool = True) -> np.ndarray:
    """Linear spectral power on the strip grid (rows = ``v_rows`` cm/s, cols = ``t_cols`` s)."""
    fs, n = sc.fs_hz, sc.block_len
    hop = n // 4
    pad = (sc.win_len + 2 * n) / fs + 0.08  # wall-filter transient and the first/last windows
    t0 = float(t_cols[0]) - pad
    n_blocks = int(np.ceil((float(t_cols[-1]) + pad - t0) * fs / hop))
    t_blocks = t0 + (np.arange(n_blocks) * hop + n / 2) / fs
    dens = spectral_density(sc, flows, t_blocks, n)
    drift = np.cumsum(rng.normal(0, 1, n_blocks // 64 + 2))
    drift = sc.drift_db * np.tanh((drift - drift.mean()) / max(float(drift.std()), 1e-6))
    dens *= 10.0 ** (np.interp(np.arange(n_blocks) / 64, np.arange(drift.size), drift) / 10.0)[None, :]
    x = shaped_noise_signal(rng, dens)
    if clutter:
        x += clutter_signal(rng, sc, x.size)
    x += np.sqrt(10.0 ** (sc.noise_db / 10.0) / 2.0) * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
    if click_times:
        x += valve_clicks(rng, x.size, fs, [round((tc - t0) * fs) for tc in click_times], sc.click_db, sc.click_ms)
    x = wall_filter(x, fs, sc.wall_hz, sc.wall_order)
    p, centres = stft_power(x, sc.window, sc.win_len, sc.nfft, sc.hop)
    return to_display(p, t0 + centres / fs, sc, v_rows, t_cols)


def render_strip(rng: np.random.Generator, sc: Scanner, flows: Sequence[Flow], v_rows: np.ndarray,
                 t_cols: np.ndarray, click_times: Sequence[float] = ()) -> np.ndarray:
    """The strip image (rows = velocity bins, cols = time) in [0, 1], float32."""
    return log_compress(render_power(rng, sc, flows, v_rows, t_cols, click_times), sc)


def sample_scanner(rng: np.random.Generator, mode: str, span_cm_s: float, v_lo_cm_s: float,
                   col_rate_hz: float) -> Scanner:
    """Draw acquisition/display settings widely, so that no two screens look alike."""
    cw = mode == "CW"
    f0 = rng.uniform(1.6, 2.5) * 1e6 if cw else rng.uniform(1.6, 3.5) * 1e6
    ang = rng.uniform(0, 25) if rng.random() < 0.4 else 0.0
    fs = float(doppler_shift_hz(span_cm_s, f0, ang))
    win = int(np.clip(round(rng.uniform(0.006, 0.022) * fs / 8) * 8, 32, 256))
    nfft = max(64, int(2 ** np.ceil(np.log2(win)))) * (2 if rng.random() < 0.3 else 1)
    hop = int(np.clip(round(fs / (col_rate_hz * rng.uniform(0.35, 1.3))), 1, win))
    wall_hz = float(doppler_shift_hz(min(rng.uniform(1.5, 15.0), rng.uniform(0.01, 0.05) * span_cm_s), f0, ang))
    dr = float(rng.uniform(30, 60))
    gain = float((rng.uniform(0.5, 0.9) - 1) * dr)  # the flow band displayed at 50-90 % of the range
    noise_db = (rng.uniform(-0.15, 0.4) - 1) * dr - gain  # noise floor displayed at -15..40 % of the range
    return Scanner(
        mode=mode, span_cm_s=float(span_cm_s), v_lo_cm_s=float(v_lo_cm_s), f0_hz=float(f0), angle_deg=float(ang),
        beta=float(rng.uniform(0.04, 0.12) if cw else rng.uniform(0.02, 0.08)),
        sigma0_cm_s=float(rng.uniform(0.004, 0.015) * span_cm_s + 0.5),
        wall_hz=wall_hz, wall_order=int(rng.integers(2, 5)),
        clutter_db=float(rng.uniform(-15, 15) if rng.random() < 0.85 else -25.0),
        clutter_cm_s=float(rng.uniform(0.3, 1.5)), tissue_cm_s=float(rng.uniform(0.3, 4)),
        clutter_mod_db=float(rng.uniform(0, 12)),
        mirror_db=float(rng.uniform(-45, -22) if cw else rng.uniform(-45, -28)) if cw or rng.random() < 0.35 else None,
        noise_db=float(noise_db), click_db=float(rng.uniform(-10, 15)),
        click_ms=float(rng.uniform(1.5, 7.0)), drift_db=float(rng.uniform(0, 4)),
        window=str(rng.choice(WINDOWS, p=[0.4, 0.15, 0.3, 0.15])), win_len=win, nfft=nfft, hop=hop,
        smooth_t=int(rng.choice([1, 1, 2, 3])), smooth_v=float(rng.uniform(0, 1.5) if rng.random() < 0.5 else 0.0),
        nearest_t=bool(rng.random() < 0.45), gain_db=gain, dyn_range_db=dr, reject=float(rng.uniform(0, 0.2)),
        compress=float(rng.uniform(0.7, 1.5)),
    )


__all__ = ["C_TISSUE_M_S", "KINDS", "WINDOWS", "Flow", "Scanner", "alias_velocity", "bin_velocities",
           "clutter_signal", "doppler_shift_hz", "flow_density", "log_compress", "random_phase_signal",
           "render_power", "render_strip", "sample_scanner", "shaped_noise_signal", "spectral_density",
           "stft_power", "to_display", "valve_clicks", "wall_filter"]

"""Which decoder turns each compressed transfer syntax into pixels, chosen once, in one table.

pydicom 3 decodes through plugins and, left alone, takes the first one installed. echoseg fixes the
order per transfer syntax (0002,0010) instead, so that the same file always decodes the same way and
the fastest decoder wins:

- JPEG Baseline / Extended: Pillow first (6x faster than GDCM on a 120-frame cine here), GDCM next.
- JPEG Lossless (process 14, the Philips and GE archives' codec): GDCM (python-gdcm, Apache-2.0
  bindings around BSD GDCM). pylibjpeg-libjpeg also decodes it but is GPL and never used.
- JPEG-LS: pyjpegls (MIT, CharLS), GDCM next.
- JPEG 2000 and HTJ2K: pylibjpeg-openjpeg (MIT), GDCM and Pillow next.
- RLE: pylibjpeg-rle, pydicom's own decoder next.

All of these packages are in the default install (pyproject ``dependencies``).

Example::

    >>> from echoseg.io.codecs import codec_for
    >>> codec_for("1.2.840.10008.1.2.4.70").name
    'JPEG Lossless'
    >>> codec_for("1.2.840.10008.1.2.1") is None   # uncompressed: no codec needed
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Codec:
    """One compression family: its transfer syntax UIDs, the pydicom decoding plugins to try in order,
    and the pip packages that supply them (for the refusal message when none is installed)."""

    name: str
    transfer_syntaxes: tuple[str, ...]
    plugins: tuple[str, ...]
    packages: tuple[str, ...]
    lossy: bool = False


CODECS: tuple[Codec, ...] = (
    Codec("JPEG Baseline", ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"),
          ("pillow", "gdcm"), ("pillow", "python-gdcm"), lossy=True),
    Codec("JPEG Lossless", ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"),
          ("gdcm",), ("python-gdcm",)),
    Codec("JPEG-LS", ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),
          ("pyjpegls", "gdcm"), ("pyjpegls", "python-gdcm")),
    Codec("JPEG 2000", ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"),
          ("pylibjpeg", "gdcm", "pillow"), ("pylibjpeg", "pylibjpeg-openjpeg", "python-gdcm")),
    Codec("HTJ2K", ("1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"),
          ("pylibjpeg",), ("pylibjpeg", "pylibjpeg-openjpeg")),
    Codec("RLE", ("1.2.840.10008.1.2.5",), ("pylibjpeg", "pydicom"), ("pylibjpeg-rle",)),
)
"""Every compressed transfer syntax echoseg decodes; the first installed plugin of each is used. pydicom's
"pylibjpeg" plugin is listed only where pylibjpeg-openjpeg or -rle serves it: for JPEG, JPEG Lossless and
JPEG-LS it would call the GPL pylibjpeg-libjpeg, so it is never used for those even when installed."""


def codec_for(transfer_syntax: str | None) -> Codec | None:
    """The :class:`Codec` of a transfer syntax UID, or None when it is uncompressed or unknown."""
    ts = str(transfer_syntax or "")
    return next((c for c in CODECS if ts in c.transfer_syntaxes), None)


def available_plugins(transfer_syntax: str) -> tuple[str, ...]:
    """The pydicom plugins installed here that decode ``transfer_syntax``, in echoseg's order."""
    codec = codec_for(transfer_syntax)
    if codec is None:
        return ()
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        return ()
    installed = set(decoder.available_plugins)
    return tuple(p for p in codec.plugins if p in installed)


def missing_decoder_hint(transfer_syntax: str | None) -> str:
    """What to install (or how to convert the file) when no decoder handles ``transfer_syntax``."""
    codec = codec_for(transfer_syntax)
    if codec is None:
        return (f"transfer syntax {transfer_syntax or 'absent'} is not one echoseg decodes; convert the file to "
                "uncompressed (e.g. `gdcmconv --raw`)")
    return (f"no installed decoder handles {codec.name}; reinstall echoseg's default dependencies "
            f"(pip install {' '.join(codec.packages)}) or convert the file to uncompressed (`gdcmconv --raw`)")


def can_decode(transfer_syntax: str | None) -> bool:
    """True when the pixels of ``transfer_syntax`` can be decoded here (uncompressed counts as decodable)."""
    codec = codec_for(transfer_syntax)
    return codec is None or bool(available_plugins(str(transfer_syntax)))


def pixel_array(ds: Any, *, index: int | None = None, raw: bool = False) -> np.ndarray:
    """Decode ``ds``'s pixel data (all frames, or frame ``index``) with echoseg's decoder for its transfer syntax.

    A drop-in for :func:`pydicom.pixels.pixel_array` on a dataset: uncompressed data goes straight to
    pydicom; compressed data to the first installed plugin of :data:`CODECS`. Raises RuntimeError
    naming the packages to install when no allowed decoder is installed (pydicom's own wording, so the
    callers' "missing dependencies" handling sees it).
    """
    from pydicom.pixels import pixel_array as _pixel_array

    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
    codec = codec_for(ts)
    if codec is None:
        return _pixel_array(ds, index=index, raw=raw)
    plugins = available_plugins(ts)
    if not plugins:
        raise RuntimeError(f"missing dependencies: {missing_decoder_hint(ts)}")
    return _pixel_array(ds, index=index, raw=raw, decoding_plugin=plugins[0])

"""The web demo's uploads: a multipart body streamed to disk, zips unpacked, every byte counted.

One :class:`Budget` per request counts what the request puts on disk, its plain files and what its
zips expand to together, against :class:`~echoseg.web.limits.WebLimits` (the body itself is
counted as it arrives by :class:`echoseg.web.guard.Guard`). Names sent by the client are never
used as paths: each file is written as ``<folder>/<index>/<safe name>`` (:func:`safe_name`), and a
zip member's path only becomes the name shown to the user, cleaned (:func:`shown_path`).

Example::

    >>> from echoseg.web.uploads import safe_name
    >>> safe_name("../../etc/passwd"), safe_name("C:\\\\scans\\\\a4c.dcm"), safe_name("..")
    ('passwd', 'a4c.dcm', '')
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from echoseg.errors import clean_text
from echoseg.web.limits import MIB, WebLimits

Cancelled = Callable[[], bool]


class UploadTooLarge(ValueError):
    """The request is over a size budget (HTTP 413); the message says which and what to do."""


class UploadCancelled(Exception):
    """The client left or the server is stopping: the upload is abandoned (its files are deleted)."""


def safe_name(raw: object, limit: int = 100) -> str:
    """A file name safe to create and to show: the last component of ``raw`` (``/`` or ``\\``),
    printable, without leading dots, at most ``limit`` characters and 200 bytes (the extension is
    kept); "" when nothing is left ("", ".", "..", only NULs or control characters)."""
    text = str(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if c.isprintable() and c not in '<>:"|?*').strip().lstrip(".").strip()
    if not text:
        return ""
    stem, dot, ext = text.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext) <= 10 else ""
    base = text[: len(text) - len(suffix)]
    while base and (len(base) + len(suffix) > limit or len((base + suffix).encode("utf-8")) > 200):
        base = base[:-1]
    return (base.rstrip() + suffix) if base.strip() else f"file{suffix}"


def shown_path(raw: str, index: int, limit: int = 100) -> str:
    """A zip member's path as the user sees it: cleaned components, no "." or "..", at most 200 characters."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    names = [n for n in (safe_name(p, limit) for p in parts) if n] or [f"member{index}"]
    return clean_text("/".join(names), 200)


@dataclass
class Budget:
    """What one request has put on disk so far (bytes, zip members), against its limits."""

    limits: WebLimits
    written: int = 0
    members: int = 0

    @property
    def left(self) -> int:
        return self.limits.max_expanded_bytes - self.written

    def spend(self, n: int, what: str) -> None:
        """Count ``n`` more bytes written for ``what``; UploadTooLarge past the limit."""
        self.written += n
        if self.written > self.limits.max_expanded_bytes:
            raise UploadTooLarge(f"{what}: this upload expands to more than {self.limits.max_expanded_mb:g} MiB "
                                 "(its files and everything its zips hold, together: the limit per upload); "
                                 "send fewer or smaller files at a time")


@dataclass
class Upload:
    """The files of one request as written (path, name shown) and its small form fields."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


class _Parts:
    """python-multipart callbacks writing file parts straight under ``folder`` (counted by ``budget``)."""

    def __init__(self, folder: Path, budget: Budget) -> None:
        self.folder, self.budget, self.upload = folder, budget, Upload()
        self._name, self._value, self._disposition = b"", b"", b""
        self._field: str | None = None
        self._data = bytearray()
        self._file: IO[bytes] | None = None
        self._shown = ""

    def on_part_begin(self) -> None:
        self._disposition, self._field, self._file = b"", None, None
        self._data.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        if len(self._value) > 16384:
            raise ValueError("the upload's part headers are too long; send the files from the demo's page")

    def on_header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, opts = parse_options_header(self._disposition)
        field_name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in opts:
            self._field = field_name
            return
        i = len(self.upload.files)
        if i >= 4 * self.budget.limits.max_files:
            raise ValueError(f"more than {4 * self.budget.limits.max_files} files in one upload; "
                             f"at most {self.budget.limits.max_files} are measured at a time")
        raw = opts[b"filename"].decode("utf-8", "replace")
        self._shown = safe_name(raw, self.budget.limits.max_name_chars)
        if not self._shown:
            raise ValueError(f"uploaded file {i + 1} has no usable name ({clean_text(raw, 40)!r}); rename it "
                             "(letters, digits and an extension such as .dcm) and upload it again")
        path = self.folder / f"{i:03d}" / self._shown
        path.parent.mkdir(parents=True)
        self._file = open(path, "wb")  # noqa: SIM115 - closed in on_part_end or close()
        self.upload.files.append((path, self._shown))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self.budget.spend(end - start, self._shown)
            self._file.write(data[start:end])
        elif self._field is not None:
            self._data += data[start:end]
            if len(self._data) > 1024:
                raise ValueError(f"form field {clean_text(self._field, 40)!r} is longer than 1024 bytes")

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._field is not None:
            self.upload.fields[self._field] = self._data.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive_upload(content_type: str, stream: AsyncIterator[bytes], folder: Path, budget: Budget,
                         cancelled: Cancelled = lambda: False) -> Upload:
    """Parse a multipart/form-data body chunk by chunk, writing its files under ``folder`` as they arrive.

    Raises:
        ValueError: not multipart, malformed, too many files or an over-long field (HTTP 422).
        UploadTooLarge: the files pass the request's budget (HTTP 413), before the rest is read.
        UploadCancelled: ``cancelled()`` became true.
    """
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise ValueError("send the files as multipart/form-data (the demo's page does)")
    parts = _Parts(folder, budget)
    callbacks = {k: getattr(parts, k) for k in ("on_part_begin", "on_header_field", "on_header_value",
                                                 "on_header_end", "on_headers_finished", "on_part_data",
                                                 "on_part_end")}
    try:
        try:  # room for a long file name in a part's headers (python-multipart >= 0.0.21)
            parser = MultipartParser(params[b"boundary"], callbacks, max_header_size=20000)  # type: ignore[arg-type]
        except TypeError:
            parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
        async for chunk in stream:
            if cancelled():
                raise UploadCancelled()
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise ValueError("the upload is not valid multipart/form-data; send the files from the demo's page") from None
    finally:
        parts.close()
    return parts.upload


def extract_zip(archive: Path, shown: str, dest: Path, budget: Budget,
                cancelled: Cancelled = lambda: False) -> dict[Path, str]:
    """Unpack the regular files of ``archive`` as ``dest/<k>/<safe name>``; {path written: name shown}.

    Sizes are checked against the request's budget before anything is written (the sizes the zip
    declares; Python's reader never returns more than declared) and again as bytes are written.

    Raises:
        ValueError: not a readable zip, too many members, a member that cannot be unpacked (HTTP 422).
        UploadTooLarge: the request's zips expand past its budget (HTTP 413).
        UploadCancelled: ``cancelled()`` became true.
    """
    lim = budget.limits
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise ValueError(f"{shown}: not a readable zip archive; zip the files again") from None
    out: dict[Path, str] = {}
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        budget.members += len(members)
        if budget.members > lim.max_zip_members:
            raise ValueError(f"{shown}: more than {lim.max_zip_members} files in the zips of one upload; "
                             "send fewer at a time")
        declared = sum(i.file_size for i in members)
        if declared > budget.left:
            before = f" and the upload's other files {budget.written / MIB:.0f} MiB" if budget.written >= MIB else ""
            raise UploadTooLarge(f"{shown}: the zip expands to {declared / MIB:.0f} MiB{before}, over the "
                                 f"{lim.max_expanded_mb:g} MiB limit per upload (files and unzipped contents "
                                 "together); send fewer or smaller files at a time")
        for k, info in enumerate(members):
            name = f"{shown}/{shown_path(info.filename, k, lim.max_name_chars)}"
            target = dest / f"{k:04d}" / (safe_name(info.filename, lim.max_name_chars) or f"member{k}")
            target.parent.mkdir(parents=True)
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(MIB):
                        if cancelled():
                            raise UploadCancelled()
                        budget.spend(len(chunk), shown)
                        dst.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError):
                raise ValueError(f"{name}: cannot be unpacked (corrupt, encrypted or compressed in a way Python "
                                 "does not read); zip the files again without a password") from None
            out[target] = name
    return out


def unpack(upload: Upload, budget: Budget, cancelled: Cancelled = lambda: False) -> list[tuple[Path, str]]:
    """The inputs of an upload: its plain files, and the inputs found inside its zips (each zip deleted
    once unpacked); (path, name shown). ValueError when a zip holds no input."""
    from echoseg.io.read import find_inputs

    todo: list[tuple[Path, str]] = []
    for path, shown in upload.files:
        if not zipfile.is_zipfile(path):
            todo.append((path, shown))
            continue
        sub = path.parent / "unzipped"
        names = extract_zip(path, shown, sub, budget, cancelled)
        path.unlink()
        found = [p for p in find_inputs([sub]) if p in names]
        if not found:
            raise ValueError(f"{shown}: no DICOM, AVI or PNG/JPEG file inside the zip")
        todo += [(p, names[p]) for p in found]
    if len(todo) > budget.limits.max_files:
        raise ValueError(f"{len(todo)} files in one upload; at most {budget.limits.max_files} are accepted, "
                         "send fewer at a time")
    return todo

"""echoseg.io.atomic: whole files or none, with the user's usual permissions."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from echoseg.io.atomic import atomic_write


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_file_respects_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        out = atomic_write(tmp_path / "a.csv", lambda p: Path(p).write_text("x\n"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert out.read_text() == "x\n"


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "b.csv"
    target.write_text("old\n")

    def boom(p: str) -> None:
        Path(p).write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, boom)
    assert target.read_text() == "old\n"
    assert [f.name for f in tmp_path.iterdir()] == ["b.csv"]

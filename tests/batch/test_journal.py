"""The journal: complete records only, torn tails cut, newest record per file (batch.journal)."""
from __future__ import annotations

import pytest

from echoseg.batch import journal as jr


def _rec(file: str, key: str = "k", size: int = 1, name: str | None = None) -> dict:
    return {"file": file, "run_key": key, "name": name or file, "sha256": "ab", "size": size, "mtime_ns": 5,
            "outputs": [f"overlays/{file}.png"]}


def test_a_torn_last_line_is_no_record_and_is_cut_before_the_next_append(tmp_path):
    with jr.JournalWriter(tmp_path, "local", fsync=False) as w:
        w.append(_rec("a"))
        w.append(_rec("b"))
    shard = tmp_path / "local.jsonl"
    whole = shard.read_bytes()
    shard.write_bytes(whole + b'{"file": "c", "run_ke')  # a kill in the middle of a write
    assert [r["file"] for r in jr.read_records(tmp_path)] == ["a", "b"]
    with jr.JournalWriter(tmp_path, "local") as w:
        w.append(_rec("d"))
    assert [r["file"] for r in jr.read_records(tmp_path)] == ["a", "b", "d"]
    assert shard.read_bytes().startswith(whole) and shard.read_bytes().count(b"\n") == 3


def test_index_keeps_this_run_keys_records_oldest_first_and_reads_them_back(tmp_path):
    with jr.JournalWriter(tmp_path, "local") as w:
        w.append(_rec("a", size=1))
        w.append(_rec("a", key="other"))
        w.append(_rec("a", size=2))
    with jr.JournalWriter(tmp_path, "ray-1") as w:
        w.append(_rec("b"))
        w.append({"file": "c", "run_key": "k"})  # lacks the indexed fields: ignored
    idx = jr.index(tmp_path, "k")
    assert sorted(idx) == ["a", "b"] and [e.size for e in idx["a"]] == [1, 2]
    assert jr.read_at(tmp_path, idx["a"][-1].pos)["size"] == 2
    assert jr.read_at(tmp_path, idx["b"][0].pos)["file"] == "b"
    assert jr.all_outputs(tmp_path) == {"overlays/a.png", "overlays/b.png"}
    assert jr.index(tmp_path / "missing", "k") == {} and jr.shards(tmp_path / "missing") == []


def test_writer_names_must_be_file_names(tmp_path):
    with pytest.raises(ValueError, match="writer must be"):
        jr.JournalWriter(tmp_path, "../escape")


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    from echoseg.batch.inputs import UsageError

    with jr.exclusive(tmp_path / "journal"):
        with pytest.raises(UsageError, match="another echoseg measure is writing"):
            with jr.exclusive(tmp_path / "journal"):
                pass
    with jr.exclusive(tmp_path / "journal"):  # released: the next run may start
        pass
    assert jr.shards(tmp_path / "journal") == []  # the lock is no shard

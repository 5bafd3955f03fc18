"""Atomic writes, hashing, and strict JSON with infinite percentiles spelled out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from servegate.core.fsutil import atomic_path, atomic_write_json, sha256_file


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    assert list(target.parent.iterdir()) == [target]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "history.csv"
    target.write_text("old,whole\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new,half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old,whole\n"
    assert list(tmp_path.iterdir()) == [target]


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    data = b"x" * 3_000_000
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_json_is_strict_with_infinite_percentiles_spelled_out(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    atomic_write_json(target, {"p95": float("inf"), "low": float("-inf"), "x": float("nan")})
    text = target.read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"p95": "inf", "low": "-inf", "x": None}

"""The evolve archive: whole lines appended, a torn last line left out and repaired, bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from wallet.archive import append, read_archive


def test_lines_append_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "a" / "archive.jsonl"
    for n in (1, 2, 3):
        append(path, {"generation": n, "scoreAfter": 100 - n})
    assert [r["generation"] for r in read_archive(path)] == [1, 2, 3]


def test_a_torn_last_line_is_left_out_and_the_next_append_starts_a_new_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "archive.jsonl"
    append(path, {"generation": 1})
    with path.open("a") as f:
        f.write('{"generation": 2, "sco')  # a crash in the middle of a write
    assert [r["generation"] for r in read_archive(path)] == [1]
    append(path, {"generation": 3})
    with pytest.raises(ValueError, match=r"archive.jsonl:2: not a JSON line"):
        read_archive(path)  # the torn line stays visible, on a line of its own
    assert path.read_text().endswith('\n{"generation": 3}\n')


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[1]\n", "archive.jsonl:1: not an evolve generation"),
        ('{"generation": "1"}\n', "archive.jsonl:1: not an evolve generation"),
        ("nope\n", "archive.jsonl:1: not a JSON line"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "archive.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=said):
        read_archive(path)


def test_what_is_not_a_readable_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read archive"):
        read_archive(tmp_path)  # a directory
    with pytest.raises(ValueError, match="cannot read archive"):
        read_archive(tmp_path / "missing.jsonl")


def test_an_endless_file_is_read_only_to_the_bound() -> None:
    with pytest.raises(ValueError, match="is over 64 MiB"):
        read_archive(Path("/dev/zero"))

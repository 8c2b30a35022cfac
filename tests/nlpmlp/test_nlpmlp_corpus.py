"""Tests of nlpmlp.corpus: the built-in text, files, folders, bad input."""

from __future__ import annotations

from pathlib import Path
from pydoc_data.topics import topics

import pytest

from nlpmlp.corpus import builtin_text, load_corpus, read_text_file, split_text
from nlpmlp.errors import DataError


def test_builtin_text_is_sorted_topics() -> None:
    text = builtin_text()
    first = sorted(topics)[0]
    assert text.startswith(topics[first])
    assert len(text) == sum(map(len, topics.values())) + len(topics) - 1


def test_split_first_ninety_percent() -> None:
    text = "x" * 95 + "y" * 5
    train, validation = split_text(text, 0.1)
    assert train + validation == text
    assert len(train) == int(100 * 0.9)


def test_builtin_split_is_deterministic() -> None:
    first = load_corpus()
    second = load_corpus()
    assert first == second
    assert first.train + first.validation == builtin_text()


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_split_fraction_out_of_range(fraction: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        split_text("abc", fraction)


def test_folder_reads_text_files_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("second", encoding="utf-8")
    (tmp_path / "a.md").write_text("first", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("third", encoding="utf-8")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    corpus = load_corpus([tmp_path], validation_fraction=0.2)
    assert corpus.train + corpus.validation == "first\nsecond\nthird"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"text\x00more", r"binary file \(NUL byte at byte offset 4\)"),
        (b"abc\xffdef", "not valid UTF-8 at byte offset 3"),
        ("café".encode("latin-1"), "not valid UTF-8 at byte offset 3"),
    ],
)
def test_bad_file_rejected(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        read_text_file(path)
    assert str(path) in str(error.value)


def test_missing_path_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_corpus([tmp_path / "missing.txt"])


def test_folder_without_text_files_rejected(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"abc")
    with pytest.raises(DataError, match=r"no \.txt or \.md files"):
        load_corpus([tmp_path])


def test_one_character_corpus_rejected(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("a", encoding="utf-8")
    with pytest.raises(DataError, match="corpus too small"):
        load_corpus([path])

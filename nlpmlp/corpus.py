"""Training text: the built-in corpus or UTF-8 files, checked and split.

The built-in corpus is the English help text that ships with CPython, the
topics of ``pydoc_data.topics`` in sorted order of their keys, joined by
newlines (about 0.46 MB on CPython 3.11). Files given by path must be UTF-8
text; a folder contributes its ``.txt`` and ``.md`` files, recursively, in
sorted order. The split into training and validation text is by character
position, so it is the same on every run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlpmlp.errors import DataError

__all__ = [
    "BUILTIN_SOURCE",
    "TEXT_SUFFIXES",
    "Corpus",
    "builtin_text",
    "load_corpus",
    "read_text_file",
    "split_text",
    "text_files",
]

logger = logging.getLogger(__name__)

BUILTIN_SOURCE = "pydoc_data.topics"
TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Corpus:
    """Training and validation text, with a description of where it came from."""

    train: str
    validation: str
    source: str  # paths joined by ", ", or BUILTIN_SOURCE


def builtin_text() -> str:
    """Return the CPython help topics, sorted by key and joined by newlines."""
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics))


def read_text_file(path: str | Path) -> str:
    """Read one UTF-8 text file, rejecting empty, binary and non-UTF-8 files.

    Raises
    ------
    DataError
        If the file is missing or unreadable, empty, contains a NUL byte
        (taken as binary) or is not valid UTF-8; the message names the path
        and, for the last two, the byte offset of the first bad byte.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise DataError(f"{path}: file not found") from error
    except OSError as error:
        raise DataError(f"{path}: cannot read: {error.strerror}") from error
    if not data:
        raise DataError(f"{path}: empty file, expected UTF-8 text")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"{path}: binary file (NUL byte at byte offset {nul}), expected UTF-8 text"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}: not valid UTF-8 at byte offset {error.start} "
            f"({error.reason}), expected UTF-8 text"
        ) from error


def text_files(path: str | Path) -> list[Path]:
    """List the files that ``path`` stands for: itself, or a folder's text files.

    Raises
    ------
    DataError
        If ``path`` does not exist, or is a folder without ``.txt`` or ``.md``
        files.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(
            child
            for child in path.rglob("*")
            if child.is_file() and child.suffix.lower() in TEXT_SUFFIXES
        )
        if not files:
            raise DataError(f"{path}: folder contains no .txt or .md files")
        return files
    if not path.exists():
        raise DataError(f"{path}: file not found")
    return [path]


def split_text(text: str, validation_fraction: float = 0.1) -> tuple[str, str]:
    """Split ``text`` into its first and last parts by character position.

    The validation part is the last ``validation_fraction`` of the characters,
    rounded so that the training part has ``int(len(text) * (1 - f))``.

    Raises
    ------
    ValueError
        If ``validation_fraction`` is not strictly between 0 and 1.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            "validation_fraction must be strictly between 0 and 1, "
            f"got {validation_fraction!r}"
        )
    n_train = int(len(text) * (1.0 - validation_fraction))
    return text[:n_train], text[n_train:]


def load_corpus(
    paths: Sequence[str | Path] = (), validation_fraction: float = 0.1
) -> Corpus:
    """Read the built-in corpus (no ``paths``) or the given files, and split it.

    Files are joined by newlines in the order given, each folder's files in
    sorted order.

    Raises
    ------
    DataError
        If a path is unusable (see ``read_text_file``) or the text is too
        short to give both splits at least one character.
    """
    if not paths:
        text, source = builtin_text(), BUILTIN_SOURCE
    else:
        files = [file for path in paths for file in text_files(path)]
        text = "\n".join(read_text_file(file) for file in files)
        source = ", ".join(str(path) for path in paths)
    train, validation = split_text(text, validation_fraction)
    if not train or not validation:
        raise DataError(
            f"{source}: corpus too small ({len(text)} characters) to split into "
            "training and validation text"
        )
    logger.debug(
        "corpus %s: %d training and %d validation characters",
        source,
        len(train),
        len(validation),
    )
    return Corpus(train, validation, source)

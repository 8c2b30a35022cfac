"""Exceptions of ``nlpmlp``, one per kind of problem a user can fix.

Library code raises these with the original exception attached
(``raise DataError(...) from error``); the command line turns each into one
line, ``nlpmlp: error: ...``, and exit status 2. ``DataError`` and
``ConfigError`` are also ``ValueError``s, the usual type of invalid input.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "DataError", "NlpmlpError"]


class NlpmlpError(Exception):
    """Base class of the errors the command line reports without a traceback."""


class DataError(NlpmlpError, ValueError):
    """Input text that cannot be used: missing, empty, binary or too small."""


class ConfigError(NlpmlpError, ValueError):
    """Invalid or inconsistent settings, or a command that does not fit a run."""


class CheckpointError(NlpmlpError):
    """A run directory that is missing, incomplete or inconsistent."""

"""The one JSONL reader: rows with their line numbers, and errors that name the file and line.

    for lineno, row in rows(path, error=PublishedDataError): ...

Blank lines are skipped; a line that is not JSON raises `error` (a `JsonlError` subclass, or
`JsonlError` itself) with `path`, `line` and `problem` as fields and "path:line: problem" as its
message; `rows_of_text` reads text already in memory (its bytes hashed by the caller).
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Iterator


class JsonlError(ValueError):
    """A JSONL file is malformed at `line` (None: the file as a whole, e.g. empty)."""

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str):
        super().__init__(f"{path}:{line}: {problem}" if line is not None else f"{path}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def rows_of_lines(path: str | os.PathLike, lines: Iterable[str], *, error: type = JsonlError) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) of every non-blank line; `error` on a line that does not parse."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(path, lineno, f"malformed JSON ({exc.msg})") from None


def rows(path: str | os.PathLike, *, error: type = JsonlError) -> Iterator[tuple[int, object]]:
    """`rows_of_lines` of a UTF-8 file."""
    with open(path, encoding="utf-8") as fh:
        yield from rows_of_lines(path, fh, error=error)

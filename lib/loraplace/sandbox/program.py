"""What a sandbox runs: a `Program`, the text the study's harness would exec, carrying its parts."""
from __future__ import annotations

import dataclasses


class Program(str):
    """The program text the study's harness would exec (prompt + completion + test + check call),
    which is also what hashes and caches see, carrying its four parts for the judge."""

    prompt: str
    completion: str
    test: str
    entry_point: str

    def __new__(cls, prompt: str, completion: str, test: str, entry_point: str):
        self = super().__new__(cls, prompt + completion + "\n" + test + f"\ncheck({entry_point})\n")
        for k, v in (("prompt", prompt), ("completion", completion), ("test", test),
                     ("entry_point", entry_point)):
            if not isinstance(v, str):
                raise TypeError(f"Program.{k} must be a str, got {type(v).__name__}")
            object.__setattr__(self, k, v)
        return self

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"Program is immutable (tried to set {name!r})")


def build_program(prompt: str, completion: str, test: str, entry_point: str) -> Program:
    return Program(prompt, completion, test, entry_point)

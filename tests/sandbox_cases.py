"""Shared cases of the sandbox tests (test_sandbox.py, test_sandbox_leaks.py): programs built
from a tiny problem, and attacks appended to a wrong solution."""
from __future__ import annotations

import textwrap

import pytest

from loraplace.sandbox import api as sandbox

ISO = sandbox.isolation()
FULL = not ISO.missing
needs_full = pytest.mark.skipif(not FULL, reason=f"isolation here: missing {ISO.missing}")

PROMPT = "def f(x):\n"
CHECK = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"
OK, WRONG = "    return x + 1\n", "    return x - 1\n"


def prog(completion: str, test: str = CHECK, prompt: str = PROMPT, entry: str = "f"):
    return sandbox.build_program(prompt, completion, test, entry)


def attack(code: str, body: str = WRONG):
    """A wrong function followed by module-level attack code."""
    return prog(body + "\n" + textwrap.dedent(code))


def run(p, **kw) -> sandbox.SandboxResult:
    kw.setdefault("timeout", 3.0)
    return sandbox.run_program(p, **kw)

"""`loraplace` command line: one sub-command per module in `loraplace.commands`."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib import metadata

# Each module exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
COMMANDS = ("compare", "fetch", "inventory", "humaneval_score", "cache", "plan", "fill", "power", "render", "diff",
            "export_organism", "recommend")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loraplace", description=__doc__)
    parser.add_argument("--version", action="version", version=f"loraplace {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"loraplace.commands.{name}")
        except ModuleNotFoundError as exc:  # a command whose module has not landed yet
            if exc.name != f"loraplace.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def version() -> str:
    try:
        return metadata.version("loraplace")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"loraplace {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `loraplace cache ls | head`: the reader has gone, which is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""`loraplace fetch published`: download the study's released data and verify every file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loraplace.tracks.published.fetch import (
    DEFAULT_BASE_URL,
    ENV_DIR,
    FetchError,
    default_published_dir,
    fetch_published,
    load_manifest,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="download evidence data (the study's released outputs) and verify its sha256",
        description=__doc__,
    )
    p.add_argument("what", choices=["published"],
                   help="published: results/, tables/, stats/ of hecboar/lora-placement-hybrid "
                        "at the pinned commits")
    p.add_argument("--dest", type=Path, default=None,
                   help=f"target directory (default: ${ENV_DIR}, else "
                        "$XDG_CACHE_HOME/loraplace/published/hecboar-lora-placement-hybrid)")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL,
                   help="files are fetched from BASE_URL/<commit>/<path> (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="fetch again even if DEST is already complete, replacing it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dest = args.dest if args.dest is not None else default_published_dir()
    try:
        out = fetch_published(dest, base_url=args.base_url, force=args.force,
                              progress=not args.quiet)
    except FetchError as exc:
        print(f"loraplace fetch: error: {exc}", file=sys.stderr)
        return 1
    manifest = load_manifest()
    commits = ", ".join(f"{k} {v[:12]}" for k, v in manifest["commits"].items())
    print(f"published data ({len(manifest['files'])} files verified; "
          f"{manifest['repository']} @ {commits}) at {out}")
    return 0

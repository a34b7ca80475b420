"""Write lib/loraplace/data/published_manifest.json from a local copy of the study's data.

    python scripts/make_published_manifest.py [SRC]

SRC defaults to $LORAPLACE_PUBLISHED_DIR, else ../shared/published/hecboar-lora-placement-hybrid
(relative to the repository root). The manifest holds, for every file, its relative path,
sha256, size and the commit it is fetched from; it holds hashes, never the data.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT = REPO_ROOT / "lib" / "loraplace" / "data" / "published_manifest.json"
DEFAULT_SRC = REPO_ROOT.parent / "shared" / "published" / "hecboar-lora-placement-hybrid"

REPOSITORY = "hecboar/lora-placement-hybrid"
# The paper's pinned commit (short SHA 4972e7b) ...
DATA_COMMIT = "4972e7b0dd2ac5579dd218ce44e32f1307cc2438"
# ... plus results/eval_indices/, first released in this later commit.
INDICES_COMMIT = "3d98377d2567bbd7e35c7d77890199cca00f0e75"
# What the fetch downloads: the data folders plus the top-level documents and licence.
INCLUDE_DIRS = ("results", "tables", "stats")
INCLUDE_FILES = ("README.md", "LICENSE", "REPRODUCIBILITY.md", "DATA_AVAILABILITY.md",
                 "CITATION.cff", "environment_snapshot.json")


def commit_for(rel: str) -> str:
    return INDICES_COMMIT if rel.startswith("results/eval_indices/") else DATA_COMMIT


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(src: Path) -> dict:
    rels = [name for name in INCLUDE_FILES if (src / name).is_file()]
    for d in INCLUDE_DIRS:
        rels += [p.relative_to(src).as_posix() for p in (src / d).rglob("*") if p.is_file()]
    files = [{"path": rel, "sha256": sha256_file(src / rel), "size": (src / rel).stat().st_size,
              "commit": commit_for(rel)} for rel in sorted(rels)]
    return {
        "repository": REPOSITORY,
        "commits": {"data": DATA_COMMIT, "eval_indices": INDICES_COMMIT},
        "url_template": "{base_url}/{commit}/{path}",
        "files": files,
    }


def dump_manifest(manifest: dict) -> str:
    """JSON with one line per file, so that a data change shows as a one-line diff."""
    head = {k: v for k, v in manifest.items() if k != "files"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "files": [']
    lines.append(",\n".join("  " + json.dumps(f) for f in manifest["files"]))
    return "\n".join(lines) + "\n ]\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get("LORAPLACE_PUBLISHED_DIR")
    parser.add_argument("src", nargs="?", type=Path, default=Path(env) if env else DEFAULT_SRC)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.src.is_dir():
        parser.error(f"no such directory: {args.src}")
    manifest = build_manifest(args.src)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump_manifest(manifest))
    total = sum(f["size"] for f in manifest["files"])
    print(f"wrote {args.out}: {len(manifest['files'])} files, {total:,} bytes")


if __name__ == "__main__":
    main()

"""`loraplace cache ls|verify|prune`: inspect the content-addressed cache of trained variants."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from loraplace.train.cache import Cache


def register(sub) -> None:
    p = sub.add_parser("cache", help="list, verify or prune cached base models, adapters and records",
                       description=__doc__)
    p.add_argument("action", choices=("ls", "verify", "prune"))
    p.add_argument("--cache-dir", default=None, help="cache root (default: $LORAPLACE_CACHE_DIR/variants or "
                                                      "~/.cache/loraplace/variants)")
    p.add_argument("--kind", default=None, help="only entries of this kind (e.g. base, adapter, records)")
    p.add_argument("--older-than-days", type=float, default=None, help="prune: also remove entries older than this")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    cache = Cache(args.cache_dir)
    if args.action == "ls":
        rows = [{"kind": e.kind, "key": e.key, "files": len(e.files), "created": e.created,
                 "bytes": sum((e.path / f).stat().st_size for f in e.files if (e.path / f).exists()),
                 "spec": e.spec} for e in cache.entries(args.kind)]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print(f"{cache.root}: {len(rows)} entries")
            for r in rows:
                when = datetime.fromtimestamp(r["created"], timezone.utc).strftime("%Y-%m-%d %H:%M")
                print(f"  {r['kind']:<10} {r['key'][:16]}  {r['bytes']:>12,} B  {when}")
        return 0
    if args.action == "verify":
        bad = cache.verify(args.kind)
        print(json.dumps([{"path": str(p), "problems": probs} for p, probs in bad]) if args.json else
              "\n".join(f"{p}: {'; '.join(probs)}" for p, probs in bad) or f"{cache.root}: every entry verifies")
        return 1 if bad else 0
    removed = cache.prune(kind=args.kind, older_than_days=args.older_than_days)
    print(json.dumps([str(p) for p in removed]) if args.json else f"removed {len(removed)} entries/temporary dirs")
    return 0

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


WHAT = ("model", "condition", "domain", "seed")


def describe(spec: dict) -> dict:
    """What an entry is, from its spec: model (organism name, or the paper model's fingerprint),
    condition, domain and seed; None where the kind has no such field (a base has no condition)."""
    run = spec.get("run") if isinstance(spec.get("run"), dict) else {}
    out = {}
    for field in WHAT:
        value = spec.get(field, run.get(field))
        if field == "model":
            organism = spec.get("organism", run.get("organism"))
            value = value or (organism.get("key") if isinstance(organism, dict) else organism)
        out[field] = value
    return out


def check_kind(cache: Cache, kind: str | None) -> None:
    """A --kind that names no kind of entry in this cache is an error listing the kinds it has."""
    present = sorted(p.name for p in cache.root.glob("*") if p.is_dir()) if cache.root.is_dir() else []
    if kind is not None and kind not in present:
        raise ValueError(f"Unknown kind {kind!r} in {cache.root}. Available: {', '.join(present) or '(no entries yet)'}")


def run(args) -> int:
    cache = Cache(args.cache_dir)
    check_kind(cache, args.kind)
    if args.action == "ls":
        rows = [{"kind": e.kind, "key": e.key, **describe(e.spec), "files": len(e.files), "created": e.created,
                 "bytes": sum((e.path / f).stat().st_size for f in e.files if (e.path / f).exists()),
                 "spec": e.spec} for e in cache.entries(args.kind)]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print(f"{cache.root}: {len(rows)} entries")
            for r in rows:
                when = datetime.fromtimestamp(r["created"], timezone.utc).strftime("%Y-%m-%d %H:%M")
                what = " ".join(f"{r[k]}" if k != "seed" else f"seed {r[k]}" for k in WHAT if r[k] is not None)
                model = str(r["model"] or "")
                what = what.replace(model, model[:16], 1) if len(model) > 16 else what
                print(f"  {r['kind']:<13} {r['key'][:16]}  {r['bytes']:>12,} B  {when}  {what}")
        return 0
    if args.action == "verify":
        bad = cache.verify(args.kind)
        print(json.dumps([{"path": str(p), "problems": probs} for p, probs in bad]) if args.json else
              "\n".join(f"{p}: {'; '.join(probs)}" for p, probs in bad) or f"{cache.root}: every entry verifies")
        return 1 if bad else 0
    removed = cache.prune(kind=args.kind, older_than_days=args.older_than_days)
    print(json.dumps([str(p) for p in removed]) if args.json else f"removed {len(removed)} entries/temporary dirs")
    return 0

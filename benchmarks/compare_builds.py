"""Do two tiny-track builds give the same labels? Compares the `tiny-records` entries of two caches.

    python benchmarks/compare_builds.py VARIANTS_A VARIANTS_B [--eval-a V] [--eval-b V] [--show 20]

(a variant cache: `$LORAPLACE_CACHE_DIR/variants`, or a `bench_cold.py --keep DIR`'s `DIR/variants`)

Entries are matched by their spec without its `eval` field (the evaluation code's version: what
a change of evaluation code re-keys), so a build made by older evaluation code is compared with
one made by newer code on the same bases and adapters (their sha256 are part of the spec). For
every matched entry, each record's label -- score and prediction, per item and scorer -- is
compared. Prints the matched entries, the labels equal per benchmark, and the first differing
records; the outputs' sha256 (raw outputs: generated text, log-likelihoods rounded to 1e-4) are
counted too, as the finer measure.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def entries(root: Path, version: str | None = None) -> dict[str, Path]:
    """{spec without `eval`, as canonical JSON: the entry's records file} of a variant cache (its
    entries of evaluation version `version` only, when given: a cache may hold several)."""
    out = {}
    for meta in sorted((root / "tiny-records").glob("*/entry.json")):
        spec = json.loads(meta.read_text())["spec"]
        if spec.pop("eval", None) != version and version is not None:
            continue
        key = json.dumps(spec, sort_keys=True)
        if key in out:
            raise SystemExit(f"{root}: two evaluation versions of one run; name one with --eval-a / --eval-b")
        out[key] = meta.parent / "records.jsonl"
    return out


def labels(path: Path) -> dict[tuple[str, str], tuple]:
    """{(item, scorer): ((score, prediction), output sha256)} of one entry's records."""
    out = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        extra = r.get("extra", {})
        out[r["item_key"], r["scorer"]] = ((r["score"], extra.get("prediction")), extra.get("output_sha256"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--eval-a", default=None, help="only A's entries of this evaluation version (e.g. tiny-eval-3)")
    ap.add_argument("--eval-b", default=None, help="only B's entries of this evaluation version")
    ap.add_argument("--show", type=int, default=20, help="differing records to list")
    args = ap.parse_args()
    a, b = entries(args.a, args.eval_a), entries(args.b, args.eval_b)
    both = sorted(set(a) & set(b))
    print(f"tiny-records entries: {len(a)} in A, {len(b)} in B, {len(both)} matched")
    per: dict[str, list[int]] = {}
    differing = []
    for spec in both:
        la, lb = labels(a[spec]), labels(b[spec])
        run = json.loads(spec)["run"]
        for key in sorted(set(la) | set(lb)):
            bench = key[0].split(":", 1)[0]
            hit = per.setdefault(bench, [0, 0, 0])
            got_a, got_b = la.get(key), lb.get(key)
            hit[0] += got_a is not None and got_b is not None and got_a[0] == got_b[0]
            hit[1] += got_a is not None and got_b is not None and got_a[1] == got_b[1]
            hit[2] += 1
            if got_a is None or got_b is None or got_a[0] != got_b[0]:
                differing.append((run, key, got_a and got_a[0], got_b and got_b[0]))
    print("benchmark       labels equal           raw outputs equal")
    for bench, (same, raw, n) in sorted(per.items()):
        print(f"  {bench:13s} {same:>6}/{n:<6} ({100 * same / n:6.2f} %)   {raw:>6}/{n:<6} ({100 * raw / n:6.2f} %)")
    total = sum(v[2] for v in per.values())
    print(f"  all           {sum(v[0] for v in per.values())}/{total} labels equal")
    for run, key, x, y in differing[:args.show]:
        print(f"  differs: {run['model']} {run['condition']} {run['domain']} seed {run['seed']} {key}: {x} -> {y}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`loraplace diff A B [--json]`: what changed between two result sets.

A and B are each a report (`claims.json`) or a directory of records (`records.jsonl` files at
any depth: a cache directory, a `paper-records` entry, an export). Two reports: the verdicts
that flipped (same claim part, track and scorer, another verdict) and the effects that moved
outside each other's 95 % intervals. Two record sets: per run x benchmark x scorer on both
sides, A minus B with a paired CI and the item and answer agreement (`report.reproduction`).
A report and a records directory cannot be compared (say two of a kind); exit 1 when anything
flipped or moved, else 0.
"""
from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("diff", help="compare two result sets (claims.json or records directories)",
                       description=__doc__)
    p.add_argument("a", help="claims.json or a directory of records.jsonl")
    p.add_argument("b", help="claims.json or a directory of records.jsonl")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _kind(path: Path) -> str:
    if path.is_file() and path.suffix == ".json":
        return "report"
    if path.is_dir():
        return "records"
    raise FileNotFoundError(f"{path}: neither a claims.json file nor a directory of records")


def _verdicts(path: Path) -> dict[tuple, dict]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {(v["part_id"], v["evidence"], v["scorer"]): v for v in data.get("verdicts") or []}


def _outside(v: dict, w: dict) -> bool:
    """v's effect outside w's interval or w's outside v's."""
    def out(x, lo, hi):
        return None not in (x, lo, hi) and not lo <= x <= hi
    return (out(v.get("effect_pp"), w.get("ci_low_pp"), w.get("ci_high_pp"))
            or out(w.get("effect_pp"), v.get("ci_low_pp"), v.get("ci_high_pp")))


def compare_reports(a: Path, b: Path) -> dict:
    va, vb = _verdicts(a), _verdicts(b)
    both = sorted(set(va) & set(vb))
    flipped = [{"part": k[0], "evidence": k[1], "scorer": k[2], "a": va[k]["verdict"], "b": vb[k]["verdict"]}
               for k in both if va[k]["verdict"] != vb[k]["verdict"]]
    moved = [{"part": k[0], "evidence": k[1], "scorer": k[2],
              "a": [va[k].get(f) for f in ("effect_pp", "ci_low_pp", "ci_high_pp")],
              "b": [vb[k].get(f) for f in ("effect_pp", "ci_low_pp", "ci_high_pp")]}
             for k in both if _outside(va[k], vb[k])]
    return {"kind": "report", "compared": len(both), "only_a": len(set(va) - set(vb)),
            "only_b": len(set(vb) - set(va)), "flipped": flipped, "moved": moved}


def _records(root: Path) -> list:
    from loraplace.evidence.records import read_jsonl

    files = sorted(root.rglob("records.jsonl")) or sorted(root.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{root}: no records.jsonl below it")
    return [r for f in files for r in read_jsonl(f)]


def compare_records(a: Path, b: Path) -> dict:
    from loraplace.report.reproduction import agreement

    rows = agreement(_records(a), _records(b))
    moved = [r for r in rows if "ci_low_pp" in r and not r["ci_low_pp"] <= 0 <= r["ci_high_pp"]]
    return {"kind": "records", "compared": len(rows), "rows": rows, "flipped": [], "moved": moved}


def _print(out: dict) -> None:
    print(f"compared {out['compared']} {'verdicts' if out['kind'] == 'report' else 'run x benchmark x scorer cells'}")
    for f in out["flipped"]:
        print(f"  flipped  {f['part']} [{f['evidence']}/{f['scorer']}]: {f['a']} -> {f['b']}")
    for m in out["moved"] if out["kind"] == "report" else ():
        print(f"  moved    {m['part']} [{m['evidence']}/{m['scorer']}]: {m['a']} -> {m['b']}")
    for r in out.get("rows", []):
        ci = f" [{r['ci_low_pp']:+.1f}, {r['ci_high_pp']:+.1f}]" if "ci_low_pp" in r else ""
        ans = f", answers agree {100 * r['answer_agreement']:.0f} %" if "answer_agreement" in r else ""
        print(f"  {r['model']} {r['condition']}/{r['domain']}/s{r['seed']} {r['benchmark']} [{r['scorer']}] "
              f"n={r['n']}: {r['diff_pp']:+.1f} pp{ci}, scores agree {100 * r['score_agreement']:.0f} %{ans}")


def run(args) -> int:
    a, b = Path(args.a), Path(args.b)
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise ValueError(f"{a} is a {ka} and {b} a {kb}: compare two reports or two record sets")
    out = compare_reports(a, b) if ka == "report" else compare_records(a, b)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        _print(out)
    return 1 if out["flipped"] or out["moved"] else 0

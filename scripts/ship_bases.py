"""Ship the tiny organisms' pretrained bases with the package, or check this machine reproduces them.

    python scripts/ship_bases.py [--cache-dir D]              # copy the cache's bases into lib/loraplace/data/organisms
    python scripts/ship_bases.py --verify [--organisms a,b]   # pretrain afresh and compare bit for bit

Shipping takes each organism's `tiny-base` entry of the default profile (every profile with the
same pretraining shares it) from the cache -- pretraining it first when it is not there, never
installing it from the shipped files -- and writes its `model.safetensors` and `losses.json`
and the manifest (`loraplace.tracks.tiny.shipped`). Run it after a change that re-keys the bases
(recipe, synthetic world, library versions); `tests/test_shipped_bases.py` fails until then.

`--verify` pretrains each organism in a fresh temporary cache on one thread, exactly as a cold
build without shipped bases would, and prints per organism the seconds it took and whether both
files equal the shipped ones (exit status 1 when one differs).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from loraplace.evidence.records import sha256_file
from loraplace.tracks.tiny import shipped
from loraplace.tracks.tiny import track as tiny
from loraplace.train import lora
from loraplace.train.cache import Cache


def pretrained(cache: Cache, spec, p) -> Path:
    """The entry directory of a base pretrained here (never installed from the shipped files)."""
    def create(d: Path) -> None:
        with tiny.single_threaded():
            model, tok = lora.pretrain(spec, "pretrain", p.pretrain_steps, 0, batch=p.pretrain_batch,
                                       seq_len=p.pretrain_seq_len, lr=p.pretrain_lr, progress=True)
            lora.save_base(model, tok, spec, d)

    return cache.get_or_create("tiny-base", tiny.base_spec(spec, p), create)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=None, help="variant cache (default: the suite's)")
    ap.add_argument("--verify", action="store_true", help="pretrain afresh and compare with the shipped files")
    ap.add_argument("--organisms", default=None, help="comma-separated organism keys (default: all four)")
    args = ap.parse_args()
    p = tiny.profile("default")
    specs = tiny.specs(p, args.organisms.split(",") if args.organisms else None)
    if not args.verify:
        cache = Cache(args.cache_dir)
        entries = [(cache.key("tiny-base", tiny.base_spec(s, p)), key, pretrained(cache, s, p))
                   for key, s in specs.items()]
        for key, organism, _ in entries:
            print(f"shipped {organism}: tiny-base/{key[:12]}")
        shipped.ship(entries)
        return 0
    ship = shipped.manifest()
    failed = 0
    print(f"{'organism':<20} {'pretraining s':>13}  model.safetensors  losses.json")
    for key, spec in specs.items():
        with tempfile.TemporaryDirectory(prefix="verify-base-") as tmp:
            cache = Cache(tmp)
            cache_key = cache.key("tiny-base", tiny.base_spec(spec, p))
            want = ship.get(cache_key, {}).get("files")
            t0 = time.perf_counter()
            d = pretrained(cache, spec, p)
            took = time.perf_counter() - t0
            same = {n: "not shipped" if want is None else
                    ("identical" if sha256_file(d / n) == want[n] else "DIFFERS") for n in shipped.FILES}
        failed += any(v != "identical" for v in same.values())
        print(f"{key:<20} {took:>13.1f}  {same['model.safetensors']:<17}  {same['losses.json']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

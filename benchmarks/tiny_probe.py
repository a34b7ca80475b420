"""Time the tiny track's phases for one organism with whatever loraplace is on PYTHONPATH.

    PYTHONPATH=<tree>/lib python benchmarks/tiny_probe.py ORGANISM [--phases pretrain,finetune,eval]
        [--profile default] [--cache-dir D] [--out labels.json]

Run by `bench_tiny.py --against REV` once per code tree (HEAD's and a worktree of REV), so it
imports only what both trees have: `loraplace.models.organisms`, `loraplace.train.lora`, and the
tiny track's evaluation / track / design modules under their current names
(`loraplace.tracks.tiny.*`) or their older ones (`loraplace.evidence.tiny_eval`, `tiny`,
`tiny_design`). Torch runs on one thread, as every cache entry is made. Prints one JSON object:

  pretrain_steps_s   pretraining steps per second (the profile's batch and window, after one warm-up step)
  pretrained_sha256  sha256 of the weights after those steps (equal in both trees: the same bits)
  finetune_s         seconds of one LoRA fine-tuning run (the profile's steps; condition `full`, GSM8K)
  adapter_sha256     sha256 of that run's adapter
  eval_s             seconds of one evaluation run of the fine-tuned model (the profile's items,
                     sandboxed HumanEval included)
  smoke_finetune_s, smoke_eval_s   the same at the smoke profile's sizes
  eval_build_s       seconds of evaluating another fine-tuned run (seed 1) after the base model and
                     the first run were evaluated in this process, as in a build (the programs
                     already executed are not run again)
  base_s             seconds to make the base's cache entry in an empty cache when this tree ships
                     it (installed, not pretrained); null when it does not
  model              "cached base" (a pretrained base found in --cache-dir) or "random init"

`--out` writes every evaluation record's (score, prediction) by (benchmark:item, scorer), so the
two trees' labels on the same model can be compared.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch


def modules():
    """(evaluate, track, design) modules of the tiny track in this tree."""
    try:
        from loraplace.tracks.tiny import design, track
        from loraplace.tracks.tiny import evaluate as ev
    except ImportError:  # before the tracks/ layout
        from loraplace.evidence import tiny as track
        from loraplace.evidence import tiny_design as design
        from loraplace.evidence import tiny_eval as ev
    return ev, track, design


def base_model(spec, prof, cache_dir):
    """The organism's pretrained base from the cache when there, else a fresh one (seed 0)."""
    from loraplace.models import organisms as org
    from loraplace.train import lora
    from loraplace.train.cache import Cache
    from loraplace.train.tokenizer import build_tokenizer

    _, track, _ = modules()
    if cache_dir:
        cache = Cache(cache_dir)
        if cache.has("tiny-base", track.base_spec(spec, prof)):
            model, tok = lora.load_base(cache.path("tiny-base", track.base_spec(spec, prof)))
            return model, tok, "cached base"
    return org.build(spec, 0).eval(), build_tokenizer(), "random init"


def digest(tensors: dict) -> str:
    """sha256 over named tensors' bytes (bit-identity of weights across the two trees)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def pretrain_rate(spec, prof, steps: int = 6) -> tuple[float, str]:
    from loraplace.models import organisms as org
    from loraplace.train import lora
    from loraplace.train.tokenizer import build_tokenizer

    batches = lora.make_batches("pretrain", 0, steps + 1, prof.pretrain_batch, prof.pretrain_seq_len, build_tokenizer())
    with lora.deterministic(0):
        model = org.build(spec, 0)
        opt = lora.make_optimizer(model, prof.pretrain_lr, 0.01)
        model.train()
        lora.train_step(model, opt, batches[0])
        t0 = time.perf_counter()
        for x in batches[1:]:
            lora.train_step(model, opt, x)
        rate = steps / (time.perf_counter() - t0)
    return rate, digest(dict(model.named_parameters()))


def base_seconds(spec, prof) -> float | None:
    """Seconds to make the organism's base entry in an empty cache when this tree ships it
    (`tracks.tiny.shipped`: installed, not pretrained); None when it does not (then a cold build
    pretrains it: `pretrain_steps_s`)."""
    import tempfile

    try:
        from loraplace.tracks.tiny import shipped
    except ImportError:
        return None
    from loraplace.train.cache import Cache

    _, track, _ = modules()
    with tempfile.TemporaryDirectory(prefix="probe-base-") as tmp:
        cache = Cache(tmp)
        if shipped.lookup(cache.key("tiny-base", track.base_spec(spec, prof))) is None:
            return None
        t0 = time.perf_counter()
        track.cached_base(cache, spec, prof)
        return time.perf_counter() - t0


def finetune_seconds(model, tok, prof, seed: int = 0) -> tuple[float, dict]:
    """Seconds of one fine-tuning run, and its adapter (LoRA state dict)."""
    from loraplace.train import lora

    t0 = time.perf_counter()
    state = lora.finetune(model, "full", "gsm8k_train", seed=seed, steps=prof.finetune_steps, lr=prof.finetune_lr,
                          rank=prof.rank, batch=prof.finetune_batch, seq_len=prof.seq_len, tokenizer=tok)
    return time.perf_counter() - t0, state


def adapted(model, state, prof):
    """The base with the run's adapter merged (`lora.adapted`, what a run's evaluation scores)."""
    from loraplace.train import lora

    return lora.adapted(model, "full", state, prof.rank, seed=0)


def eval_seconds(model, tok, spec, prof) -> tuple[float, dict]:
    ev, _, _ = modules()
    run = ev.Run(spec.key, spec.topology, "base", "base", 0)
    t0 = time.perf_counter()
    records = ev.evaluate(model, tok, run, prof.n_items, mc_batch=prof.mc_batch, gen_batch=prof.gen_batch,
                          max_new_tokens=prof.max_new_tokens, code_tokens=prof.code_tokens)
    seconds = time.perf_counter() - t0
    labels = {f"{r.item_key}|{r.scorer}": [r.score, r.extra.get("prediction")] for r in records}
    return seconds, labels


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("organism")
    ap.add_argument("--phases", default="pretrain,finetune,eval,smoke,build,base")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from loraplace.models import organisms as org

    _, _, design = modules()
    prof, smoke = design.profile(args.profile), design.profile("smoke")
    spec = org.factorial(prof.hidden_size)[args.organism]
    phases = set(args.phases.split(","))
    out: dict = {"organism": spec.key}
    if "pretrain" in phases:
        out["pretrain_steps_s"], out["pretrained_sha256"] = pretrain_rate(spec, prof)
    model, tok, out["model"] = base_model(spec, prof, args.cache_dir)
    if "smoke" in phases:  # first: its HumanEval programs would otherwise be memoised by the larger evaluation
        out["smoke_finetune_s"], state = finetune_seconds(model, tok, smoke)
        out["smoke_eval_s"] = eval_seconds(adapted(model, state, smoke), tok, spec, smoke)[0]
    if "finetune" in phases or "eval" in phases:  # the evaluation is of the fine-tuned model, as in a run
        out["finetune_s"], state = finetune_seconds(model, tok, prof)
        out["adapter_sha256"] = digest(state)
    if "eval" in phases:
        out["eval_s"], labels = eval_seconds(adapted(model, state, prof), tok, spec, prof)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(labels, f)
    if "build" in phases:  # as in a build: the base and another run evaluated before this run
        eval_seconds(model, tok, spec, prof)
        state2 = finetune_seconds(model, tok, prof, seed=1)[1]
        out["eval_build_s"] = eval_seconds(adapted(model, state2, prof), tok, spec, prof)[0]
    if "base" in phases:
        out["base_s"] = base_seconds(spec, prof)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

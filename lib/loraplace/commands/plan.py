"""`loraplace plan --evidence paper|tiny --profile P [--json]`: every cache entry a profile needs.

Paper track: per model a base evaluation, then each placement condition x domain x seed with its
hyper-parameters, and a rough GPU-hours estimate (`paper_plan.estimate_gpu_hours`). Without
`--paper-model` the study's two models are planned from their shipped configs (no download);
with it, each model's own config decides its conditions. Tiny track: the organisms' runs.
"""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("plan", help="list the runs (and GPU-hours) a track's profile needs", description=__doc__)
    p.add_argument("--evidence", choices=("paper", "tiny"), default="paper")
    p.add_argument("--profile", default=None, help="paper: smoke|study|full (default study); tiny: smoke|default|full")
    p.add_argument("--paper-model", action="append", default=None, metavar="TOPOLOGY=ID_OR_DIR")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak of the GPU (H100 SXM: 989)")
    p.add_argument("--mfu", type=float, default=0.25, help="assumed model-FLOP utilisation of training/prefill")
    p.add_argument("--conditions", choices=("study", "harmonized"), default=None,
                   help="paper: the condition set (default: study for the study's two architectures, else harmonized)")
    p.add_argument("--probe", action="store_true",
                   help="paper: load each model on this CPU and time a training step, a forward pass and greedy "
                        "decoding, for a measured CPU estimate (default: FLOP-based at this CPU's matmul rate)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _paper_models(specs, conditions: str | None = None) -> tuple[dict, dict, dict]:
    """({topology: (key, roles)}, {key: n_params}, {key: condition set}) of the models to plan."""
    if not specs:  # the study's two models, from their shipped configs (no download)
        from loraplace.models.organisms import param_count
        from loraplace.models.placement import build_conditions, model_taxonomy
        from loraplace.models.zoo import build_meta_model
        from loraplace.roles import STUDY_ROLE
        from loraplace.study import MODELS

        cs = conditions or "study"
        models = {m.topology: (m.key, dict(m.conditions) if cs == "study" else
                               {STUDY_ROLE[c.role]: n for n, c in build_conditions(model_taxonomy(m.key), cs).items()})
                  for m in MODELS.values()}
        params = {m.key: param_count(build_meta_model(m.key)) for m in MODELS.values()}
        return models, params, {m.key: cs for m in MODELS.values()}
    from loraplace.tracks.paper.models import inspect_model, resolve_models

    infos = {t: inspect_model(ref, condition_set=conditions) for t, ref in resolve_models(specs).items()}
    return ({t: (i.ref.key, i.roles) for t, i in infos.items()}, {i.ref.key: i.n_params for i in infos.values()},
            {i.ref.key: i.condition_set for i in infos.values()})


def _cpu_estimate(runs, params: dict, specs, *, probe: bool) -> dict:
    """This machine's CPU estimate; with `probe`, each planned model (--paper-model, else the
    study's) loaded on the CPU and timed."""
    from loraplace.tracks.paper.estimate import estimate_cpu_hours, machine_rate, probe_model

    measured = {}
    if probe:
        from loraplace.tracks.paper.models import load_model, resolve_models

        for ref in resolve_models(specs).values():
            model, _ = load_model(ref, "cpu")
            measured[ref.key] = probe_model(model)
    return estimate_cpu_hours(runs, params, machine_rate(), measured=measured)


def run(args) -> int:
    if args.evidence == "tiny":
        from loraplace.tracks.tiny.track import profile, runs_of, specs

        p = profile(args.profile or "default")
        every = specs(p)
        rows = [{"model": key, "topology": spec.topology, "mixer": spec.mixer, "condition": "base", "domain": "base",
                 "seed": 0, "kind": "pretrain+base-eval"} for key, spec in every.items()]
        rows += [{"model": key, "topology": spec.topology, "mixer": spec.mixer, "condition": c, "domain": d, "seed": s,
                  "rank": p.rank, "learning_rate": p.finetune_lr, "steps": p.finetune_steps, "kind": "finetune+eval"}
                 for key, spec in every.items() for c, d, s in runs_of(p, spec)]
        out = {"evidence": "tiny", "profile": p.name, "runs": rows, "finetune_runs": len(rows) - len(every)}
    else:
        from loraplace.tracks.paper.plan import estimate_gpu_hours, plan, profile

        p = profile(args.profile or "study")
        models, params, sets = _paper_models(args.paper_model, args.conditions)
        runs = plan(p, models)
        out = {"evidence": "paper", "profile": p.name, "runs": [r.to_dict() for r in runs],
               "finetune_runs": sum(not r.is_base for r in runs), "base_evaluations": sum(r.is_base for r in runs),
               "n_params": params, "condition_sets": sets, "estimate": estimate_gpu_hours(runs, params, peak_tflops=args.peak_tflops,
                                                                   mfu=args.mfu),
               "cpu_estimate": _cpu_estimate(runs, params, args.paper_model, probe=args.probe)}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{out['evidence']}[{out['profile']}]: {out['finetune_runs']} fine-tuning runs + "
          f"{len(out['runs']) - out['finetune_runs']} base entries")
    if "condition_sets" in out:
        print("  condition sets: " + ", ".join(f"{m} {cs}" for m, cs in out["condition_sets"].items()))
    if "estimate" in out:
        e = out["estimate"]
        print(f"  ~{e['gpu_hours']} GPU-hours on one GPU of {e['assumptions']['peak_tflops']:g} TFLOP/s at "
              f"{e['assumptions']['mfu']:.0%} utilisation (longest run ~{e['per_run_minutes_max']} min); rough")
        c = out["cpu_estimate"]
        how = ("measured by --probe" if "probed" in c["method"] else
               f"FLOP-based at {c['assumptions']['utilisation']:.0%} of this CPU's "
               f"{c['assumptions']['matmul_gflops']:g} GFLOP/s; --probe measures")
        print(f"  ~{c['cpu_hours']:.3g} CPU-hours on this machine (longest run ~{c['per_run_minutes_max']} min; {how})")
    for r in out["runs"]:
        print(f"  {r['model']:<22} {r['condition']:<20} {r['domain']:<12} seed {r['seed']}")
    return 0

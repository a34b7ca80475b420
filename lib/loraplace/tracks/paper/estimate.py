"""What a paper-track plan costs on *this* machine's CPU, beside the GPU-hours of `plan.py`.

    cpu = machine_rate()                          # this CPU's float32 matmul rate (a ~0.1 s probe)
    estimate_cpu_hours(runs, n_params, cpu)       # FLOP-based, at an assumed share of that rate
    probe_model(model, batch=2, seq_len=64)       # --probe: one model's seconds per token, measured
    estimate_cpu_hours(runs, n_params, cpu, measured={model_key: probe})

The FLOP-based figure counts the same tokens as `plan.estimate_gpu_hours` (training 8·N a token,
evaluation 2·N) at `CPU_UTILISATION` of the measured matmul rate; small models on a CPU spend most
of their time outside matmuls, so it can be far off: `--probe` times a training step, a forward
pass and greedy decoding on the model itself and extrapolates per token (linear in tokens, so
attention's quadratic share at long sequences is under-counted). Rough by design.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

CPU_UTILISATION = 0.3  # share of the measured matmul rate a real training step reaches (assumed)


@dataclass(frozen=True)
class Probe:
    """Measured seconds per token on this machine."""
    train_s_per_token: float
    prefill_s_per_token: float
    decode_s_per_token: float
    threads: int


def machine_rate(size: int = 384, repeats: int = 5) -> float:
    """This machine's float32 matmul rate (FLOP/s) on torch's current threads: best of `repeats`."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * size ** 3 / max(best, 1e-9)


def probe_model(model, *, batch: int = 4, seq_len: int = 64, decode_tokens: int = 8) -> Probe:
    """Time one training step (forward + backward), one forward and greedy decoding of `batch`
    sequences (the harness generates in batches) on `model` (CPU); seconds per token of one sequence."""
    import torch

    vocab = model.config.get_text_config().vocab_size
    ids = torch.randint(0, vocab, (batch, seq_len), generator=torch.Generator().manual_seed(0))  # global RNG untouched
    model.train()
    t0 = time.perf_counter()
    model(input_ids=ids, labels=ids).loss.backward()
    train = (time.perf_counter() - t0) / (batch * seq_len)
    model.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        model(input_ids=ids)
        prefill = (time.perf_counter() - t0) / (batch * seq_len)
        t0 = time.perf_counter()
        model.generate(ids[:, :16], max_new_tokens=decode_tokens, min_new_tokens=decode_tokens, do_sample=False,
                       pad_token_id=0)
        decode = (time.perf_counter() - t0) / (decode_tokens * batch)
    return Probe(train, prefill, decode, torch.get_num_threads())


def estimate_cpu_hours(runs, n_params: dict[str, int], flops_per_s: float, *,
                       measured: dict[str, Probe] | None = None) -> dict:
    """CPU-hours of the plan on this machine: measured per token where `measured` has the run's
    model (`--probe`), else FLOP-based at CPU_UTILISATION of `flops_per_s`."""
    from loraplace.tracks.paper.plan import run_tokens

    measured = measured or {}
    rate = flops_per_s * CPU_UTILISATION
    total, per_run, how = 0.0, [], set()
    for run in runs:
        train, prefill, decode = run_tokens(run)
        pr = measured.get(run.model)
        if pr is not None:
            seconds = train * pr.train_s_per_token + prefill * pr.prefill_s_per_token + decode * pr.decode_s_per_token
            how.add("probed")
        else:
            n = n_params[run.model]
            seconds = (8 * n * train + 2 * n * (prefill + decode)) / rate
            how.add("flops")
        per_run.append(seconds / 3600)
        total += seconds / 3600
    return {"cpu_hours": round(total, 3), "per_run_minutes_max": round(60 * max(per_run, default=0), 1),
            "method": "+".join(sorted(how)) or "none",
            "assumptions": {"matmul_gflops": round(flops_per_s / 1e9, 1), "utilisation": CPU_UTILISATION,
                            "probes": {k: asdict(v) for k, v in measured.items()}}}


def session_estimate(session, missing) -> dict:
    """A paper session's missing runs on this CPU, each of their models probed (loaded now: the
    build needs it anyway)."""
    measured = {i.ref.key: probe_model(session.loader.get(t)[0]) for t, i in session.infos.items()
                if any(r.model == i.ref.key for r in missing)}
    return estimate_cpu_hours(missing, {i.ref.key: i.n_params for i in session.infos.values()}, machine_rate(),
                              measured=measured)

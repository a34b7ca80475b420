"""kernels.md: the device run's results (see bench_gpu.py) as Markdown tables."""
from __future__ import annotations

import json


def markdown(r: dict) -> str:
    d = r["dispatch"]
    lines = [f"# Fused kernels on {d['device']}", "",
             f"torch {d['torch']} (CUDA {d['torch_cuda']}), transformers {d['transformers']}, packages "
             + ", ".join(f"{k} {v or '-'}" for k, v in d["packages"].items()) + f"; wall {r.get('wall_s', 0):.0f} s",
             "", "## Dispatch", "", "| arch | component | kernel | implementation | reason |", "|---|---|---|---|---|"]
    lines += [f"| {b['architecture']} | {b['component']} | {b['kernel']} | {b['implementation']} | {b['reason']} |"
              for b in d["kernels"]]
    lines += ["", "## Correctness (fused vs reference, relative error)", "", "| kernel | dtype | T | max err | tol | ok |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {c['kernel']} | {c['dtype']} | {c['T']} | {c['max_err']:.2e} | {c['tol']:.0e} | {c['ok']} |"
              for c in r["correctness"]]
    lines += ["", "## Kernel time (median ms, CUDA events)", "", "| kernel | dtype | mode | T | reference | fused | speed-up |",
              "|---|---|---|---|---|---|---|"]
    by = {}
    for k in r["kernels"]:
        by.setdefault((k["kernel"], k["dtype"], k["mode"], k["T"]), {})[k["impl"]] = k["median_ms"]
    for (kern, dt, mode, T), v in by.items():
        ref, fus = v.get("reference"), v.get("fused")
        sp = f"{ref / fus:.1f}x" if ref and fus else "-"
        lines.append(f"| {kern} | {dt} | {mode} | {T} | {_ms(ref)} | {_ms(fus)} | {sp} |")
    lines += ["", "## One mixer layer, forward + backward (median ms)", "",
              "| arch | T | bound kernels | reference | speed-up | output err |", "|---|---|---|---|---|---|"]
    lines += [f"| {x['arch']} | {x['T']} | {x['fused']['median_ms']:.2f} | {x['reference']['median_ms']:.2f} | "
              f"{x['reference']['median_ms'] / x['fused']['median_ms']:.1f}x | {x['out_err']:.1e} |" for x in r["layers"]]
    lines += ["", "## LoRA training step (harmonized full, batch 1; on CPU: tiny organism, fp32)", "",
              "| arch | T | impl | loss | median ms | tokens/s | peak GiB |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {m['arch']} | {m['T']} | {m['impl']} | {m['loss0']:.4f} | {m['median_ms']:.1f} | "
              f"{m['tokens_per_s']:.0f} | {m['peak_gib']:.2f} |" for m in r["models"]]
    lines += ["", "## Skipped", ""] + [f"- {json.dumps(s)}" for s in r["skipped"]] + [""]
    return "\n".join(lines)


def _ms(x) -> str:
    return "-" if x is None else f"{x:.3g}"

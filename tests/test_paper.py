"""The paper track end to end, offline, on CPU: tiny HF-format checkpoints of both real
architectures (`save_pretrained`, a `tokenizers`-made tokenizer) and small local JSONL files in
the hub datasets' schemas, through `pytest hypotheses/ --evidence paper --profile smoke`:
peft + Trainer fine-tuning with SFTTrainer's semantics, lm-eval evaluation, records, verdicts for both topologies,
the report, under the `study` protocol (the sequential toy's tokenizer has a chat template, the
parallel one's has none); then the `harness` protocol, which reuses every adapter and only
evaluates; then a second study run that trains nothing, and a corrupted adapter that is
retrained with a warning. Nothing may touch the network: the runs go into a fresh network namespace where the
machine allows one (`unshare -n`), and a socket guard records any connection attempt anyway.

One test, so that the ~3–4 min cold build happens once per CI run (under xdist too).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from loraplace.tracks.paper import toy as paper_toy

REPO = Path(__file__).resolve().parents[1]
GUARD = '''
import os, socket
_log = os.environ["LORAPLACE_TEST_NET_LOG"]
def _refuse(self, address, *a, **k):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        with open(_log, "a") as fh:
            fh.write(f"{os.getpid()} connect {address!r}\\n")
        raise OSError("network blocked by the test's socket guard")
    return _orig(self, address, *a, **k)
_orig = socket.socket.connect
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
'''


def _netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def _protocols(cache: Path) -> set[str]:
    return {json.loads(line)["extra"]["protocol"] for p in cache.glob("paper-records/*/records.jsonl")
            for line in p.read_text().splitlines()[:1]}


def _entries(cache: Path) -> dict[str, float]:
    return {f"{p.parent.name}/{p.name}": p.stat().st_mtime for p in cache.glob("paper-*/*") if p.is_dir()}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("paper-toy")
    opts = paper_toy.write_all(root / "inputs")
    guard = root / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    return dict(opts, root=root, guard=guard, cache=root / "cache", net_log=root / "net.log")


def _run(toy: dict, reports: Path, protocol: str = "study") -> tuple[subprocess.CompletedProcess, float]:
    cmd = [*_netns_prefix(), sys.executable, "-m", "pytest", str(REPO / "hypotheses"), "--evidence", "paper",
           "--protocol", protocol,
           "--profile", "smoke", f"--cache-dir={toy['cache']}", f"--report-dir={reports}", "--verdicts", "record",
           f"--paper-data={toy['paper_data']}", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:xdist"]
    cmd += [f"--paper-model={m}" for m in toy["paper_models"]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    # one torch thread: under `pytest -n 2` the other worker keeps the second core busy, and an
    # oversubscribed torch slows the tiny models' many small ops several-fold
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(toy["root"] / "hf-home"), OMP_NUM_THREADS="1",
               LORAPLACE_TEST_NET_LOG=str(toy["net_log"]), PYTHONPATH=os.pathsep.join(
                   [str(toy["guard"]), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    t0 = time.monotonic()
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    return out, time.monotonic() - t0


def test_paper_track_end_to_end_offline_cold_warm_and_repaired(toy):
    # cold: everything trained and evaluated
    cold, cold_s = _run(toy, toy["root"] / "reports-cold")
    assert cold.returncode == 0, (cold.stdout[-3000:], cold.stderr[-3000:])
    assert "building 38 of 38 planned entries" in cold.stdout  # the plan, before the build, on pytest's terminal
    assert "paper[smoke] training + lm-eval evaluation  38/38 run in " in cold.stdout  # -q: the phase's final line
    report = json.loads((toy["root"] / "reports-cold" / "claims.json").read_text())
    every = [v for v in report["verdicts"] if v["evidence"] == "paper"]
    # the factorial's cells and C1's budget controls exist on the tiny track only
    assert {v["verdict"] for v in every if v["family"] != "study"} == {"unavailable"}
    paper = [v for v in every if v["family"] == "study"]
    assert {v["topology"] for v in paper} == {"sequential", "parallel"}
    assert {v["model"] for v in paper} == {"tiny_qwen3_5", "tiny_falcon_h1"}
    assert {v["claim_id"] for v in paper} == {"C1", "C2", "C3", "C4", "C6"}
    assert not [v for v in paper if v["verdict"] == "unavailable"]  # every comparison found its records
    for topology in ("sequential", "parallel"):  # randomly initialised checkpoints: generation scores are
        judged = [v for v in paper if v["topology"] == topology and v["verdict"] != "untestable"]  # all 0
        assert judged and all(v["n"] > 0 and v["ci_low_pp"] <= v["effect_pp"] <= v["ci_high_pp"] for v in judged)
    prov = report["provenance"]
    from importlib import metadata

    assert prov["packages"]["lm_eval"] == metadata.version("lm_eval")
    source = prov["sources"]["paper"]
    assert source["lm_eval"] == metadata.version("lm_eval")
    assert {m["model_class"] for m in source["models"].values()} == {"Qwen3_5ForCausalLM", "FalconH1ForCausalLM"}
    assert all(m["local"] and len(m["fingerprint"]) == 64 for m in source["models"].values())
    assert all(d["origin"].startswith("local:") for d in source["data"].values())
    assert source["protocol"]["name"] == "study" and source["protocol"]["max_prompt_tokens"] == 896
    assert {"mmlu_dev", "arc_challenge_train", "hellaswag_train"} <= set(source["data"])
    entries = _entries(toy["cache"])
    n_runs = 2 * 6 * 3  # two models x six conditions x three domains, one smoke seed
    assert sum(k.startswith("paper-adapter/") for k in entries) == n_runs
    assert sum(k.startswith("paper-records/") for k in entries) == n_runs + 2
    assert _protocols(toy["cache"]) == {"study"}
    infos = [json.loads(p.read_text()) for p in toy["cache"].glob("paper-adapter/*/train_info.json")]
    assert {i["examples"] for i in infos} == {7}  # 8 drawn, max(1, 8 // 10) = 1 held out
    assert not toy["net_log"].exists(), toy["net_log"].read_text()

    # the harness protocol: the same adapters, evaluated with lm-eval's standard prompts
    harness, harness_s = _run(toy, toy["root"] / "reports-harness", "harness")
    assert harness.returncode == 0, (harness.stdout[-3000:], harness.stderr[-3000:])
    assert "building 38 of 38 planned entries" in harness.stdout
    after = _entries(toy["cache"])
    assert {k: v for k, v in after.items() if k.startswith("paper-adapter/")} == {
        k: v for k, v in entries.items() if k.startswith("paper-adapter/")}  # nothing retrained
    assert sum(k.startswith("paper-records/") for k in after) == 2 * (n_runs + 2)
    assert _protocols(toy["cache"]) == {"study", "harness"}
    hreport = json.loads((toy["root"] / "reports-harness" / "claims.json").read_text())
    assert hreport["provenance"]["sources"]["paper"]["protocol"]["name"] == "harness"
    entries = after

    # warm: nothing trained or evaluated, the same verdicts
    warm, warm_s = _run(toy, toy["root"] / "reports-warm")
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert "planned entries" not in warm.stdout + warm.stderr  # nothing to build, nothing announced
    assert _entries(toy["cache"]) == entries
    again = json.loads((toy["root"] / "reports-warm" / "claims.json").read_text())
    assert [v["verdict_line"] for v in again["verdicts"]] == [v["verdict_line"] for v in report["verdicts"]]
    print(f"paper smoke on tiny checkpoints: cold {cold_s:.1f} s (study), harness {harness_s:.1f} s "
          f"(evaluations only), warm {warm_s:.1f} s")

    # a corrupted adapter is retrained, with a warning, and its entry verifies again
    from loraplace.tracks.paper.track import build_paper
    from loraplace.train.cache import Cache

    cache = Cache(toy["cache"])
    adapter = sorted(toy["cache"].glob("paper-adapter/*/adapter_model.safetensors"))[0]
    adapter.write_bytes(adapter.read_bytes()[:-8] + b"corrupt!")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evidence = build_paper("smoke", models=toy["paper_models"], data_dir=toy["paper_data"], cache=cache,
                               progress=False)
    assert any("corrupted" in str(w.message) and adapter.parent.name in str(w.message) for w in caught)
    assert cache.verify() == []
    assert adapter.is_file() and {r.topology for r in evidence.records} == {"sequential", "parallel"}

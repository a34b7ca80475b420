"""The mixer × topology factorial (claim C7) on synthetic four-cell evidence whose truth we built in:
contrasts equal the per-question arithmetic, the verdict follows the planted effects, and a
two-model track leaves C7 unavailable."""
import numpy as np
import pytest

from loraplace.claims.registry import get_claim
from loraplace.evidence.records import Evidence, Record
from loraplace.judging import factorial
from loraplace.judging.evaluate import evaluate
from loraplace.study import DOMAINS, off_target

N = 300
CELLS = {"m_seq_gdn": ("sequential", "gdn"), "m_par_m2": ("parallel", "mamba2"),
         "m_seq_m2": ("sequential", "mamba2"), "m_par_gdn": ("parallel", "gdn")}
ROLES = {"recurrent": "recurrent_only", "full": "full"}


def _tuned(rng, base: np.ndarray, change: float) -> np.ndarray:
    """0/1 scores whose mean is base's + change: flip that many questions the claimed way, then 15
    more each way (so no run equals the base)."""
    tuned = base.copy()
    pool = np.flatnonzero(~base if change > 0 else base)
    tuned[rng.choice(pool, size=int(round(abs(change) * base.size)), replace=False)] = change > 0
    ups, downs = np.flatnonzero(~tuned & ~base), np.flatnonzero(tuned & base)
    tuned[rng.choice(ups, size=15, replace=False)] = True
    tuned[rng.choice(downs, size=15, replace=False)] = False
    return tuned


def _evidence(effects: dict, seeds=(0, 1, 2), cells=CELLS, seed=0) -> Evidence:
    """effects: model -> true change of recurrent-only on gsm8k; full off-target gets half of it."""
    rng = np.random.default_rng(seed)
    benches = sorted({"gsm8k", *(b for d in DOMAINS for b in off_target(d))})
    records = []

    def add(model, topology, cond, domain, s, bench, scores):
        records.extend(Record(model, topology, cond, domain, s, bench, f"{bench}:{i}", float(x), "corrected")
                       for i, x in enumerate(scores))

    for model, (topology, _) in cells.items():
        bases = {b: rng.random(N) < 0.45 for b in benches}
        for b in benches:
            add(model, topology, "base", "base", 0, b, bases[b])
        runs = [("recurrent_only", "gsm8k_train", ("gsm8k",), effects[model])]
        runs += [("full", d, off_target(d), effects[model] / 2) for d in DOMAINS]
        for s in seeds:
            for cond, domain, bench_list, change in runs:
                for b in bench_list:
                    add(model, topology, cond, domain, s, b, _tuned(rng, bases[b], change))
    study = {t: m for m, (t, x) in cells.items() if (t, x) in (("sequential", "gdn"), ("parallel", "mamba2"))}
    return Evidence("tiny", records, models=study, roles={m: ROLES for m in cells},
                    cells={m: {"topology": t, "mixer": x} for m, (t, x) in cells.items()})


def _per_question(ev: Evidence, model: str, role: str, domain: str, bench: str) -> np.ndarray:
    """Seed-averaged (a − b) per question, computed straight from the records."""
    runs = ev.scores(model, "corrected", ROLES[role], domain, bench)
    base = ev.scores(model, "corrected", "base", "base", bench)[0]
    keys = list(base)
    return np.mean([[runs[s][k] - base[k] for k in keys] for s in sorted(runs)], axis=0)


def test_a_contrast_is_the_weighted_sum_of_cell_differences_per_question():
    ev = _evidence({"m_seq_gdn": -0.15, "m_par_m2": 0.10, "m_seq_m2": -0.12, "m_par_gdn": 0.08})
    for contrast in factorial.CONTRASTS:
        est, seeds = factorial.estimate_contrast(ev, "corrected", contrast, "gsm8k", resamples=500, seed=1)
        cell_model = {(t, x): m for m, (t, x) in CELLS.items()}
        expected = sum(w * _per_question(ev, cell_model[(t, x)], "recurrent", "gsm8k_train", "gsm8k")
                       for t, x, w in contrast.weights).mean()
        assert est.effect == pytest.approx(expected) and seeds == (0, 1, 2) and est.n == N
    off = factorial.estimate_contrast(ev, "corrected", factorial.topology_contrast("gdn"), "offtarget",
                                      resamples=500, seed=1)[0]
    strata = [(d, b) for d in DOMAINS for b in off_target(d)]
    expected = np.mean([(_per_question(ev, "m_par_gdn", "full", d, b) - _per_question(ev, "m_seq_gdn", "full", d, b)).mean()
                        for d, b in strata])  # equal weights over the (domain, benchmark) strata
    assert off.effect == pytest.approx(expected) and len(off.strata) == len(strata) == 8


def test_interaction_is_the_difference_of_the_topology_contrasts():
    ev = _evidence({"m_seq_gdn": -0.15, "m_par_m2": 0.10, "m_seq_m2": 0.05, "m_par_gdn": 0.02})
    est = {c.name: factorial.estimate_contrast(ev, "corrected", c, "gsm8k", resamples=300, seed=2)[0].effect
           for c in factorial.CONTRASTS}
    assert est["interaction"] == pytest.approx(est["topology | gdn"] - est["topology | mamba2"])
    assert est["interaction"] == pytest.approx(est["mixer | parallel"] - est["mixer | sequential"])


def _c7(effects):
    return {v.part_id: v for v in evaluate(get_claim("C7"), _evidence(effects), "corrected", resamples=2000, seed=3)}


def test_c7_supported_when_topology_sets_the_sign_under_both_mixers():
    v = _c7({"m_seq_gdn": -0.15, "m_par_m2": 0.12, "m_seq_m2": -0.14, "m_par_gdn": 0.10})
    assert {x.verdict for x in v.values()} == {"supported"}
    assert all(x.family_size == 4 and x.ci_low_pp > 0 for x in v.values())
    assert v["C7-gsm8k-gdn"].model == "m_seq_gdn+m_par_gdn" and v["C7-gsm8k-gdn"].mixer == "gdn"


def test_c7_refuted_when_the_topology_contrast_reverses_under_one_mixer():
    v = _c7({"m_seq_gdn": -0.15, "m_par_m2": 0.12, "m_seq_m2": 0.15, "m_par_gdn": 0.10})
    # Mamba-2: parallel 0.12 − sequential 0.15 ≈ −3 pp on gsm8k is too small to decide at N = 300 ...
    assert v["C7-gsm8k-gdn"].verdict == "supported"
    v = _c7({"m_seq_gdn": -0.15, "m_par_m2": -0.12, "m_seq_m2": 0.15, "m_par_gdn": 0.10})
    # ... −27 pp is not: refuted, and so is the off-target contrast (half the effect, −13.5 pp)
    assert v["C7-gsm8k-mamba2"].verdict == "refuted" and v["C7-offtarget-mamba2"].verdict == "refuted"


def test_c7_unavailable_on_a_two_model_track_with_the_missing_cell_named():
    two = {k: CELLS[k] for k in ("m_seq_gdn", "m_par_m2")}
    ev = _evidence({k: 0.1 for k in two}, cells=two)
    v = evaluate(get_claim("C7"), ev, "corrected", resamples=200, seed=0)
    assert {x.verdict for x in v} == {"unavailable"}
    assert "parallel × gdn" in v[0].note and factorial.table(ev, "corrected", resamples=200, seed=0) is None


def test_cross_cell_parts_of_c2_judge_the_added_cells():
    ev = _evidence({"m_seq_gdn": -0.15, "m_par_m2": 0.12, "m_seq_m2": -0.14, "m_par_gdn": 0.10})
    v = {x.part_id: x for x in evaluate(get_claim("C2"), ev, "corrected", resamples=2000, seed=0)}
    assert v["C2-seq-mamba2"].model == "m_seq_m2" and v["C2-par-gdn"].model == "m_par_gdn"
    assert v["C2-seq-mamba2"].family == "factorial" and v["C2-seq-mamba2"].family_size == 2
    assert v["C2-seq"].family_size == 2  # the study's parts keep their own Holm family
    assert {x.verdict for x in v.values()} == {"supported"}


def test_table_lists_cells_and_contrasts():
    ev = _evidence({"m_seq_gdn": -0.15, "m_par_m2": 0.12, "m_seq_m2": -0.14, "m_par_gdn": 0.10})
    t = factorial.table(ev, "corrected", resamples=300, seed=0)
    (gsm8k, off) = t["outcomes"]
    assert [(c["topology"], c["mixer"]) for c in gsm8k["cells"]] == [
        ("sequential", "gdn"), ("sequential", "mamba2"), ("parallel", "gdn"), ("parallel", "mamba2")]
    seq_gdn = gsm8k["cells"][0]
    assert seq_gdn["effect_pp"] == pytest.approx(100 * _per_question(ev, "m_seq_gdn", "recurrent", "gsm8k_train",
                                                                     "gsm8k").mean())
    assert [c["name"] for c in off["contrasts"]] == [c.name for c in factorial.CONTRASTS]
    cov = {c["model"]: c["n_runs"] for c in factorial.coverage(ev)}
    assert cov == {m: 1 + len(DOMAINS) for m in CELLS}


@pytest.mark.slow
def test_contrast_interval_covers_a_known_contrast():
    """Coverage of the C7 contrast interval by simulation: two cells (weights +1, −1), each a base run
    and 3 seeded fine-tuned runs on the same 300 questions; the true contrast is 0 (same effect in
    both cells) with a 3 pp between-seed spread. With S = 3 the interval should cover ~95 %."""
    from loraplace.judging import stats
    rng = np.random.default_rng(11)
    n, s, reps, hits = 300, 3, 300, 0
    for r in range(reps):
        p = 1 / (1 + np.exp(-rng.normal(0, 1, n)))  # shared question difficulty
        d = np.zeros((s, n))
        for w in (1, -1):
            base = (rng.random(n) < p).astype(float)
            runs = [(rng.random(n) < np.clip(p + 0.05 + rng.normal(0, 0.03), 0, 1)).astype(float) for _ in range(s)]
            d += w * (np.array(runs) - base)
        est = stats.stratified_bootstrap([(d, np.zeros(n))], resamples=1000, rng=np.random.default_rng(r))
        hits += est.ci_low <= 0 <= est.ci_high
    assert 0.92 <= hits / reps <= 0.99, hits / reps


def test_c7_states_n_per_cell_and_flags_questions_a_cell_lacks():
    ev = _evidence({"m_seq_gdn": -0.15, "m_par_m2": 0.12, "m_seq_m2": -0.14, "m_par_gdn": 0.10})
    lacking = {f"gsm8k:{i}" for i in range(10)}   # the parallel Gated DeltaNet cell never saw 10 questions
    kept = [r for r in ev.records if not (r.model == "m_par_gdn" and r.item_key in lacking)]
    ev = Evidence("tiny", kept, models=ev.models, roles=ev.roles, cells=ev.cells)
    v = {x.part_id: x for x in evaluate(get_claim("C7"), ev, "corrected", resamples=500, seed=3)}
    gdn = v["C7-gsm8k-gdn"]
    assert gdn.n == N - 10 and gdn.dropped and (gdn.n_a, gdn.n_b) == (N, N)
    assert "n per cell: parallel × Gated DeltaNet gsm8k 290; sequential × Gated DeltaNet gsm8k 300" in gdn.note
    assert "parallel × Mamba-2 gsm8k 300; sequential × Mamba-2 gsm8k 300" in v["C7-gsm8k-mamba2"].note
    assert not v["C7-gsm8k-mamba2"].dropped


def test_a_constant_nonzero_contrast_is_testable():
    strata = [(np.full((3, 5), 0.2), np.zeros(5))]
    assert not factorial.zero_variance(strata)
    assert factorial.zero_variance([(np.zeros((3, 5)), np.zeros(5))])

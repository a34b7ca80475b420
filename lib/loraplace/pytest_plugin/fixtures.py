"""Fixtures for hypothesis tests: evidence per track, and `loraplace_judge`, which turns a claim part
into a pytest outcome (pass iff supported; the failure message is the verdict line)."""
from __future__ import annotations

import functools

import pytest

from loraplace.claims.registry import Claim, Part
from loraplace.evidence.records import Evidence
from loraplace.evidence.registry import load_track
from loraplace.judging.evaluate import evaluate
from loraplace.judging.verdict import Verdict
from loraplace.pytest_plugin.plugin import (
    PROPERTY,
    architectures,
    selected_scorers,
    selected_tracks,
    settings,
    track_options,
)
from loraplace.settings import Settings


def claim_parts(claim: Claim) -> list:
    """`pytest.param` per claim part, marked with its topology (both, for a contrast across them)
    and its factorial cell's mixer, so `-m sequential` / `-m mamba2` select it."""
    return [pytest.param(part, id=part.id, marks=[getattr(pytest.mark, m) for m in part.marks])
            for part in claim.parts]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "loraplace_track" in metafunc.fixturenames:
        metafunc.parametrize("loraplace_track", selected_tracks(metafunc.config), scope="session")
    if "loraplace_scorer" in metafunc.fixturenames:
        metafunc.parametrize("loraplace_scorer", selected_scorers(metafunc.config), scope="session")
    if "loraplace_architecture" in metafunc.fixturenames:
        archs = architectures(metafunc.config)
        metafunc.parametrize("loraplace_architecture", archs, ids=[a for a, _ in archs], scope="session")


@functools.lru_cache(maxsize=None)
def _verdicts(claim: Claim, evidence: Evidence, scorer: str, resamples: int, seed: int) -> dict:
    return {v.part_id: v for v in evaluate(claim, evidence, scorer, resamples=resamples, seed=seed)}


@pytest.fixture(scope="session")
def loraplace_settings(request: pytest.FixtureRequest) -> Settings:
    """The session's settings (command line, else ini file, else environment, else default)."""
    return settings(request.config)


@pytest.fixture(scope="session")
def loraplace_evidence(request: pytest.FixtureRequest, loraplace_track: str) -> Evidence:
    published_dir = settings(request.config).published_dir
    if loraplace_track == "published":
        from loraplace.tracks.published.fetch import resolve_published_dir

        root = resolve_published_dir(published_dir)
        if not (root / "results" / "eval_details").is_dir():
            pytest.skip(f"the study's released data is not at {root}: run `loraplace fetch published` "
                        "or pass --published-dir / set LORAPLACE_PUBLISHED_DIR")
    try:
        return load_track(loraplace_track, **track_options(request.config))
    except (OSError, ValueError) as exc:
        pytest.exit(f"cannot load --evidence {loraplace_track}: {exc}", returncode=4)


@pytest.fixture
def loraplace_record_verdict(request: pytest.FixtureRequest):
    """loraplace_record_verdict(verdict): attach it for the report, then pass iff supported (or --verdicts record);
    an unavailable or untestable part is skipped with its verdict line."""
    def _record(verdict: Verdict) -> None:
        request.node.user_properties.append((PROPERTY, verdict.to_dict()))
        if verdict.verdict in ("unavailable", "untestable"):  # no data / the data cannot decide
            pytest.skip(verdict.verdict_line)
        if settings(request.config).verdicts == "assert" and verdict.verdict != "supported":
            pytest.fail(verdict.verdict_line, pytrace=False)

    return _record


@pytest.fixture
def loraplace_judge(request: pytest.FixtureRequest, loraplace_evidence: Evidence, loraplace_scorer: str,
                   loraplace_record_verdict):
    """loraplace_judge(claim, part): compute (once per session per process) the part's verdict and record it."""
    opts = settings(request.config)

    def _judge(claim: Claim, part: Part) -> None:
        loraplace_record_verdict(_verdicts(claim, loraplace_evidence, loraplace_scorer, opts.bootstrap_resamples,
                                 opts.seed)[part.id])

    return _judge

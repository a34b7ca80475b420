"""The plugin is a pytest11 entry point: it loads from any directory, so path options parse as
separate tokens there too, and a project can set its defaults in the ini file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[1]


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    env.update(extra)
    return env


def test_the_plugin_is_registered_as_a_pytest11_entry_point():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert eps.get("loraplace.pytest_plugin.plugin") == "loraplace.pytest_plugin.plugin"


def test_runs_from_outside_the_repository_with_separate_path_tokens(tmp_path, published_dir):
    reports = tmp_path / "reports"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "hypotheses" / "test_c2_recurrent_topology.py"),
         "--evidence", "published", "--published-dir", str(published_dir), "--report-dir", str(reports),
         "--verdicts", "record", "--bootstrap-resamples", "200", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    report = json.loads((reports / "claims.json").read_text())
    assert {v["evidence"] for v in report["verdicts"]} == {"published"}


def test_ini_defaults_apply_and_the_command_line_wins(pytester, published_dir, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(f"""
[pytest]
loraplace_evidence = published
loraplace_verdicts = record
loraplace_published_dir = {published_dir}
loraplace_report_dir = {pytester.path / 'ini-reports'}
""")
    pytester.makeconftest('pytest_plugins = ["loraplace.pytest_plugin.fixtures"]\n')
    (pytester.path / "test_c2.py").write_text((REPO / "hypotheses" / "test_c2_recurrent_topology.py").read_text())
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bootstrap-resamples", "200")
    assert r.ret == 0
    report = json.loads((pytester.path / "ini-reports" / "claims.json").read_text())
    assert {v["evidence"] for v in report["verdicts"]} == {"published"}
    bad = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--profile", "study", "--evidence", "tiny")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR  # the command line overrides the ini's evidence

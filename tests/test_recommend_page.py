"""The recommend page: rendered from a result, and screenshot in headless Chromium by
scripts/screenshot_report.sh (skipped where no Chromium is installed)."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from loraplace.recommend import page
from loraplace.recommend.run import recommend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result():
    from test_recommend_sweep import SKILL, KnownBackend

    backend = KnownBackend(SKILL)
    backend.describe = lambda: {"backend": "known", "name": "simulated", "model_class": "Qwen3_5ForCausalLM",
                                "topology": "sequential", "domain": "simulated", "targets": ["gsm8k"],
                                "retention": []}
    return recommend(backend, resamples=200, show_progress=False)


def test_the_page_states_the_answer_and_every_placement(result):
    html = page.render(result)
    assert "Where should LoRA go in simulated?" in html and "Put LoRA on attention_only" in html
    assert html.count("<tr>") == len(result["table"]) + 1 and "CPU-seconds" in html
    assert 'class="answer winner"' in html and "p=0 " not in html


def test_the_screenshot_script_renders_the_page_in_headless_chromium(result, tmp_path):
    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium here (apt-get install -y chromium)")
    _, html = page.write(result, tmp_path)
    out = tmp_path / "shot.png"
    done = subprocess.run(["bash", str(ROOT / "scripts" / "screenshot_report.sh"), str(html), str(out), "900,700"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (900, 700)

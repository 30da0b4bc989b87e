"""The daily phantom-QA report as a person sees it: rendered by a real browser (headless Chromium),
on screen and printed to PDF, with its pictures and tables, every page readable."""

from __future__ import annotations

import subprocess

import numpy as np

from qa.workflows.phantom import run_phantom_qa
from tests.conftest import chromium_command, require_tool


def test_the_report_renders_on_screen_and_prints(phantom_days, tmp_path):
    chromium = require_tool("chromium")
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:3]:
        run = run_phantom_qa([folder], db=db, ring="none", report=tmp_path / "report.html" if folder == folders[2] else None)
    html = tmp_path / "report.html"
    assert run.report == str(html)
    text = html.read_text()
    assert "data:image/png;base64," in text and "Checks" in text and run.result.verdict_message in text
    screen, pdf = tmp_path / "screen.png", tmp_path / "report.pdf"
    base = chromium_command(chromium, tmp_path / "profile")
    shot = subprocess.run(base + [f"--screenshot={screen}", "--window-size=1200,2000", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and screen.exists(), shot.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(screen)
    assert pixels.shape[0] >= 1000 and float(np.std(pixels[..., :3])) > 0.05  # a page with content, not blank
    printed = subprocess.run(base + [f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.as_uri()],
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0 and pdf.read_bytes()[:5] == b"%PDF-", printed.stderr[-2000:]
    pdftoppm = require_tool("pdftoppm")
    subprocess.run([pdftoppm, "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 2
    for page in pages:
        image = matplotlib.image.imread(page)
        assert float(np.std(image[..., :3])) > 0.01  # no blank page

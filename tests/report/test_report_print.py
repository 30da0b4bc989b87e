"""The phantom-QA report printed to sign: ``qa phantom --pdf`` on A4 and Letter, checked with a real
headless Chromium (Playwright, the Debian package) and poppler (pdfinfo, pdftotext, pdftoppm).

Every page carries the scanner, the acquisition date and "page x of y"; no heading stands alone at
the foot of a page; no table runs past the right edge at print width; the sign-off block closes
the report.  A screenshot at 1280 px and the pages as PNG go to the test artifact folder
(``QA_TEST_ARTIFACTS``, set by .ci/run; else a temporary folder) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.outputs import leftover_temporaries
from qa.workflows.baselines import set_baseline
from qa.workflows.phantom import run_phantom_qa
from tests.conftest import require_tool
from tests.report.browser import chromium_page

# The headings of the report (a page must not end with one of them).
HEADINGS = ("Acquisition", "Inserts", "Located phantom", "Checks", "Trends", "Notes", "Review and sign-off")
# Print width of the page's content in CSS px (96 px per inch): the paper less the report's 13 mm side margins.
CONTENT_PX = {"A4": (210 - 26) / 25.4 * 96, "Letter": (215.9 - 26) / 25.4 * 96}
# PDF page sizes in points.
PAGE_PT = {"A4": (595, 842), "Letter": (612, 792)}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ["QA_TEST_ARTIFACTS"]) / "report-print" if os.environ.get("QA_TEST_ARTIFACTS") else \
        tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def printed(phantom_days, tmp_path_factory):
    """Five daily runs, a baseline, then the drifted sixth day reported as HTML and PDF on A4 and Letter."""
    require_tool("chromium")
    folders, _ = phantom_days
    root = tmp_path_factory.mktemp("printed")
    db = f"sqlite:///{root / 'qa.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QA_SECRET_FILE", str(root / "site-secret"))
        mp.setenv("QA_DB_URL", db)
        for folder in folders[:5]:
            run_phantom_qa([folder], db=db, ring="none")
        set_baseline(scanner="CT-A", from_last=5, reason="commissioning", db=db)
        a4 = run_phantom_qa([folders[5]], db=db, ring="none", report=root / "day6.html", pdf=root / "day6-a4.pdf", page_size="A4")
        letter = run_phantom_qa([folders[5]], db=db, ring="none", store=False, pdf=root / "day6-letter.pdf", page_size="letter")
    return {"A4": a4, "Letter": letter, "html": root / "day6.html", "root": root}


def pdf_pages(pdf: Path) -> tuple[int, tuple[float, float]]:
    info = subprocess.run([require_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    w, h = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.M).groups()
    return pages, (float(w), float(h))


def page_text(pdf: Path, page: int, *, layout: bool = False) -> str:
    args = [require_tool("pdftotext"), "-f", str(page), "-l", str(page)] + (["-layout"] if layout else []) + [str(pdf), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_every_page_names_the_scanner_the_acquisition_date_and_page_x_of_y(printed, paper, artifacts):
    run = printed[paper]
    pdf = Path(run.pdf)
    assert run.verdict == "fail" and pdf.read_bytes()[:5] == b"%PDF-"
    n, size = pdf_pages(pdf)
    assert size == pytest.approx(PAGE_PT[paper], abs=1.5)
    assert 3 <= n <= 8  # banner and tables, the located phantom, the checks, the trends, the sign-off
    for page in range(1, n + 1):
        text = " ".join(page_text(pdf, page).split())
        assert "CT-A" in text and "A-001" in text and "acquired 2026-03-06 07:30:00" in text, (page, text[:300])
        assert f"page {page} of {n}" in text, (page, text[-300:])
    # the pages as pictures, none blank, for a person to look at
    prefix = artifacts / f"day6-{paper}"
    subprocess.run([require_tool("pdftoppm"), "-r", "50", "-png", str(pdf), str(prefix)], check=True, timeout=120)
    pngs = sorted(artifacts.glob(f"day6-{paper}-*.png"))
    assert len(pngs) == n
    import matplotlib.image

    for png in pngs:
        assert float(np.std(matplotlib.image.imread(png)[..., :3])) > 0.01


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_no_heading_stands_alone_at_the_foot_of_a_page(printed, paper):
    pdf = Path(printed[paper].pdf)
    n, _ = pdf_pages(pdf)
    for page in range(1, n + 1):
        lines = [line.strip() for line in page_text(pdf, page).splitlines() if line.strip()]
        body = [line for line in lines if not line.startswith(("Calcium phantom QA ·", "FAIL ·", "page "))]
        assert body and body[-1] not in HEADINGS, (page, body[-3:])


def test_the_sign_off_block_closes_the_report(printed):
    pdf = Path(printed["A4"].pdf)
    n, _ = pdf_pages(pdf)
    last = " ".join(page_text(pdf, n).split())
    for field in ("Review and sign-off", "Reviewed by", "Date", "Decision", "Comment", "Signature"):
        assert field in last
    first = " ".join(page_text(pdf, 1).split())
    # the banner: the verdict, the procedure's action, the failed checks, the warnings apart
    assert "FAIL:" in first and "Action: Do not use this scanner for calcium scoring until the physicist has reviewed this run." in first
    assert first.index("Failed:") < first.index("Acquisition")


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_no_table_and_no_cell_runs_past_the_right_edge_at_print_width(printed, paper):
    html = printed["html"]
    with chromium_page(width=round(CONTENT_PX[paper]), height=1100) as (page, problems):
        page.emulate_media(media="print")
        page.goto(html.as_uri())
        found = page.evaluate("""() => {
            const out = {tables: [], cells: [], body: document.body.clientWidth};
            for (const t of document.querySelectorAll('table')) {
                out.tables.push({scroll: t.scrollWidth, container: t.parentElement.clientWidth,
                                 right: t.getBoundingClientRect().right});
            }
            for (const c of document.querySelectorAll('td, th')) {
                if (c.scrollWidth > c.clientWidth + 1) out.cells.push(c.textContent.slice(0, 60));
            }
            return out;
        }""")
    assert not problems
    assert len(found["tables"]) >= 4
    for table in found["tables"]:
        assert table["scroll"] <= table["container"] and table["right"] <= found["body"] + 1, table
    assert found["cells"] == []  # no cell's content spills out of it (no value cut at a column edge)


def test_the_report_on_screen_at_1280_px(printed, artifacts):
    with chromium_page(width=1280, height=1000) as (page, problems):
        page.goto(printed["html"].as_uri())
        shot = artifacts / "day6-screen-1280.png"
        page.screenshot(path=str(shot), full_page=False)
        banner = page.evaluate("""() => {
            const b = document.querySelector('#verdict');
            const rows = [...document.querySelectorAll('table.checks tbody tr td.status')].map(td => td.textContent.trim());
            return {text: b.innerText, top: b.getBoundingClientRect().top, rows: rows,
                    wide: document.documentElement.scrollWidth > document.documentElement.clientWidth};
        }""")
    assert not problems and not banner["wide"]
    assert banner["top"] < 300  # the verdict is the first thing seen, above the fold
    text = banner["text"]
    assert text.startswith("FAIL:") and "Do not use this scanner" in text
    summary = printed["A4"].result.summary
    failed_part = text[text.index("Failed:"):text.index("Warnings") if summary.warned else None]
    assert summary.failed and all(f"{f}:" in failed_part for f in summary.failed)  # each failure with its message
    assert all(f"{w}:" not in failed_part for w in summary.warned)  # warnings apart, never as failures
    rows = banner["rows"]
    order = {"fail": 0, "warn": 1, "not available": 2, "pass": 3, "not applicable": 4}
    assert rows[0] == "fail" and [order[r] for r in rows] == sorted(order[r] for r in rows)
    import matplotlib.image

    assert matplotlib.image.imread(shot).shape[1] == 1280


def test_a_missing_pdf_engine_is_refused_before_anything_runs_with_how_to_install_it(phantom_days, tmp_path):
    folders, _ = phantom_days
    db = tmp_path / "q.sqlite"
    env = dict(os.environ, QA_CHROMIUM=str(tmp_path / "no-such-browser"))
    done = subprocess.run([sys.executable, "-m", "qa", "phantom", str(folders[0]), "--db", f"sqlite:///{db}", "--pdf",
                           str(tmp_path / "r.pdf"), "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)
    assert error["schema"] == "qa.error/1" and "QA_CHROMIUM" in error["error"]["message"]
    assert "apt-get install chromium" in error["error"]["hint"] and "qa[pdf]" in error["error"]["hint"]
    assert not db.exists() and not (tmp_path / "r.pdf").exists()  # refused before the store or the series was touched
    # without the playwright package (an environment where it cannot be imported)
    code = ("import sys; sys.modules['playwright'] = None; from qa.cli import main; "
            f"sys.exit(main(['phantom', {str(folders[0])!r}, '--no-store', '--pdf', {str(tmp_path / 'r.pdf')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "playwright" in done.stderr and "pip install 'qa[pdf]'" in done.stderr, done.stderr


def test_a_pdf_that_cannot_be_written_leaves_nothing_and_the_run_stands(phantom_days, tmp_path):
    require_tool("chromium")
    folders, _ = phantom_days
    target = tmp_path / "a-folder.pdf"
    target.mkdir()
    run = run_phantom_qa([folders[0]], store=False, ring="none", pdf=target)
    assert run.pdf is None and any("a-folder.pdf could not be written" in w for w in run.warnings)
    assert list(target.iterdir()) == [] and leftover_temporaries(tmp_path) == []


def test_page_size_and_pdf_options_that_do_not_fit_are_usage_errors(phantom_days, tmp_path, capsys):
    from qa.cli import main

    folders, _ = phantom_days
    assert main(["phantom", str(folders[0]), "--no-store", "--page-size", "A4"]) == 2
    assert "--pdf" in capsys.readouterr().err
    same = tmp_path / "r.html"
    assert main(["phantom", str(folders[0]), "--no-store", "--report", str(same), "--pdf", str(same)]) == 2
    assert "--pdf: the name must end in .pdf" in capsys.readouterr().err and not same.exists()


def test_the_paper_follows_the_locale_unless_given():
    from qa.report.pdf import default_page_size, page_size_of

    assert default_page_size({"LANG": "en_US.UTF-8"}) == "Letter"
    assert default_page_size({"LANG": "fr_CA.UTF-8"}) == "Letter"
    assert default_page_size({"LANG": "de_DE.UTF-8"}) == "A4"
    assert default_page_size({"LANG": "en_GB.UTF-8", "LC_PAPER": "en_US.UTF-8"}) == "Letter"  # LC_PAPER over LANG
    assert default_page_size({"LC_ALL": "nl_NL@euro", "LC_PAPER": "en_US.UTF-8"}) == "A4"  # LC_ALL over both
    assert default_page_size({}) == "A4" and default_page_size({"LANG": "C.UTF-8"}) == "A4"
    assert page_size_of("letter") == "Letter" and page_size_of("a4") == "A4"

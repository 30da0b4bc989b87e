"""A real headless Chromium (the Debian package) driven by Playwright for Python, for the dashboard tests.

Never a browser download: Playwright launches the system's ``chromium`` (``executable_path``), with
the same switches as :func:`tests.conftest.chromium_command` (no sandbox in containers, no network
of its own).  Without chromium or the playwright package the test is skipped saying which is
missing (in CI, QA_CI=1, it fails: .ci/run installs chromium and the test extra installs playwright).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from tests.conftest import require_tool

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def require_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "the playwright package is not installed (pip install -e '.[test]' installs it; no browser download is needed)"
        if os.environ.get("QA_CI") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return sync_playwright


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[tuple[object, list[str]]]:
    """(page, problems): a page of a fresh headless Chromium, and every console error, page error,
    dialog and network request other than the page's own file collected in ``problems``."""
    executable = require_tool("chromium")
    sync_playwright = require_playwright()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:")) else problems.append(f"request: {r.url}"))
            yield page, problems
        finally:
            browser.close()

"""Reports as PDF: the report's own HTML printed by a headless Chromium driven by Playwright.

Why this engine: the PDF is the very page the physicist sees in a browser and prints from it, laid
out by the same engine (CSS paged media: ``@page`` size and margins, running header and footer in
the page margin boxes, "page x of y" from ``counter(pages)``), and the layout tests measure that
engine.  Playwright is a well-kept library (Microsoft, monthly releases) that drives a Chromium
already on the machine (the Debian ``chromium`` package, or any Chrome/Chromium named by
``QA_CHROMIUM``): qa never downloads a browser.  WeasyPrint, the other candidate, lays the page
out with an engine of its own (and needs Pango, a GTK runtime on Windows), so what it prints would
differ from what the browser shows.

Both are imported or launched only when a PDF is asked for.  A missing engine is refused before
any work, with how to install it (:func:`require_pdf_engine`); the PDF is written whole or not at
all (:mod:`qa.outputs`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from qa.errors import UsageError
from qa.outputs import write_file

PAGE_SIZES = ("A4", "Letter")
# Browsers looked for on the PATH, in this order (QA_CHROMIUM, when set, comes first).
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge")
# Territories whose locales print on US Letter (glibc localedata, LC_PAPER height 279 mm); the rest of the world uses A4.
LETTER_TERRITORIES = frozenset({"US", "CA", "MX", "CL", "CO", "VE", "PH", "PR", "GT", "CR", "PA", "DO", "SV", "NI", "BZ"})
# Switches for a headless browser in a container: no sandbox (no user namespaces there), no GPU, nothing from the network.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions")
INSTALL_HINT = ("install the PDF engine: pip install 'qa[pdf]' (Playwright, which drives a Chromium already on this machine) "
                "and a Chromium (Debian/Ubuntu: apt-get install chromium), or set QA_CHROMIUM to a Chrome or Chromium "
                "executable; or leave out --pdf and print the HTML report (--report) from a browser")


@dataclass(frozen=True)
class PdfEngine:
    """A Chromium executable and the Playwright package that drives it."""

    browser: str


def find_browser(environ=None) -> str | None:
    """The Chromium to print with: ``QA_CHROMIUM`` if set (a path or a name on the PATH), else the first on the PATH."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("QA_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else shutil.which(chosen)
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


def require_pdf_engine(environ=None) -> PdfEngine:
    """The PDF engine, or a :class:`UsageError` (exit 2) saying what is missing and how to install it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise UsageError("--pdf needs the playwright package, which is not installed", hint=INSTALL_HINT) from None
    browser = find_browser(environ)
    if browser is None:
        chosen = (os.environ if environ is None else environ).get("QA_CHROMIUM")
        what = f"QA_CHROMIUM ({chosen}) names no executable" if chosen else f"no Chromium was found on the PATH ({', '.join(BROWSER_NAMES)})"
        raise UsageError(f"--pdf needs a Chromium to print with: {what}", hint=INSTALL_HINT)
    return PdfEngine(browser)


def pdf_engine_if_any(environ=None) -> tuple[PdfEngine | None, str | None]:
    """(the PDF engine, None) when one is installed, else (None, why not and how to install it): for
    the commands that print to PDF when they can (``qa demo``, ``qa serve``) rather than on request."""
    try:
        return require_pdf_engine(environ), None
    except UsageError as exc:
        why = exc.message.replace("--pdf needs", "printing to PDF needs")
        return None, f"{why}; {exc.hint}" if exc.hint else why


def default_page_size(environ=None) -> str:
    """Letter where the locale's territory prints on Letter (LC_ALL, else LC_PAPER, else LANG), else A4."""
    environ = os.environ if environ is None else environ
    locale = next((environ[k] for k in ("LC_ALL", "LC_PAPER", "LANG") if environ.get(k)), "")
    territory = locale.split(".", 1)[0].split("@", 1)[0].partition("_")[2].upper()
    return "Letter" if territory in LETTER_TERRITORIES else "A4"


def page_size_of(text: str | None) -> str:
    """``A4`` or ``Letter`` (any case); None: the locale's."""
    if text is None:
        return default_page_size()
    for size in PAGE_SIZES:
        if text.strip().lower() == size.lower():
            return size
    raise UsageError(f"page size must be A4 or Letter, got {text!r}")


def html_to_pdf(html: str, engine: PdfEngine, *, timeout_s: float = 120.0) -> bytes:
    """Print ``html`` (self-contained: its pictures inline) to PDF bytes with the page size and
    margins of its own ``@page`` rule.  The page runs without scripts and offline."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=engine.browser, args=list(CHROMIUM_ARGS), headless=True,
                                        timeout=timeout_s * 1000)
            try:
                context = browser.new_context(java_script_enabled=False, offline=True)
                page = context.new_page()
                page.set_default_timeout(timeout_s * 1000)
                page.set_content(html, wait_until="load")
                return page.pdf(prefer_css_page_size=True, print_background=True, display_header_footer=False)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise OSError(f"the browser {engine.browser} could not print the report: {str(exc).splitlines()[0]}") from None


def write_pdf(path: str | os.PathLike, html: str, engine: PdfEngine) -> str:
    """Print ``html`` to the PDF file ``path``: written whole or not at all; returns the path."""
    data = html_to_pdf(html, engine)
    if not data.startswith(b"%PDF-"):
        raise OSError(f"the browser {engine.browser} returned no PDF")
    return write_file(path, data)

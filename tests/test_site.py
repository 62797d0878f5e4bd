"""The course's website (`make site`), checked in a real browser: headless Debian Chromium driven by Playwright.

The site is built once for this module from the notebooks as committed (their stored outputs; nothing re-runs), into
a temporary folder, then served with the standard library's http.server. Every page is opened and must have: no
console error, no failed request, no raw `$$` left and MathJax's elements where the page has math, every image
loaded, every internal link (and its #anchor) pointing at something that exists; on a notebook's page, no code block
that scrolls sideways, no formula wider than the column, no exporter directive (`#| export`) shown, and the install cell folded away. A page opened from disk (file://)
must render its math and search too. Screenshots of 00, 05 and 07 (the top, and the first figure) go to out/screenshots/ (not in git).
Under CI=true a missing browser (or Playwright) is a failure; elsewhere the module skips, saying why.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "out" / "screenshots"
SHOT = {"notebooks/00_overview.html": "00_overview", "notebooks/05_tube_masking.html": "05_tube_masking",
        "notebooks/07_decoder_loss.html": "07_decoder_loss"}


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (under CI: .ci/run installs Debian's chromium; `make install` installs Playwright, "
                    "with the .[site] extra)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('Playwright is missing: pip install -c constraints.txt -e ".[site]"')
    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])  # root in CI
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, browser):
    "The site built from the committed notebooks, in a temporary folder (about 15 s on 2 cores)."
    work = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"), "--out", str(work / "site"),
                           "--work", str(work)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"site built in {time.perf_counter() - start:.1f} s")
    return work / "site"


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# In the page: what the checks need, measured after MathJax has typeset (when the page loads it).
MEASURE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const prose = document.querySelector('article') || document.body;
  const copy = prose.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, .highlight, mjx-container').forEach(e => e.remove());
  return {
    math: document.querySelectorAll('.math').length,
    rendered: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    rawDollars: (copy.textContent.match(/\\$\\$/g) || []).length,
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    copyButtons: document.querySelectorAll('button.copybtn').length,
    download: [...document.querySelectorAll('a[href$=".ipynb"]')].map(a => a.getAttribute('href')),
    prev: !!document.querySelector('.prev-next-area a.left-prev'),
    next: !!document.querySelector('.prev-next-area a.right-next'),
    toc: [...document.querySelectorAll('.bd-sidenav a.reference')].map(a => a.textContent.trim()),
    wideCode: [...document.querySelectorAll('article pre')].filter(e => e.checkVisibility()
                                                                 && e.scrollWidth > e.clientWidth + 1).length,
    directives: [...document.querySelectorAll('div.cell_input')]
                  .filter(e => /#\\| *(export|default_exp)/.test(e.textContent)).length,
    setupShown: [...document.querySelectorAll('div.cell_input')].filter(e => e.checkVisibility()  // not in a closed <details>
                                                                      && /"pip",\\s*"install"|^\\s*[%!]pip install/m.test(e.textContent)).length,
    setupFolded: document.querySelectorAll('div.tag_hide-cell details').length,
    wideMath: [...document.querySelectorAll('mjx-container[display="true"]')]
                .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => (e.textContent || '').slice(0, 40)),
  };
}"""


class Visitor:
    "One browser tab that goes from page to page (a fresh tab per page costs a second each), noting what went wrong."

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def _failed(self, request):
        if self.leaving and request.failure == "net::ERR_ABORTED":
            return  # the previous page's late request (its favicon), cancelled by our going to the next page
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    leaving = False

    def visit(self, url: str, screenshot: Path | None = None) -> dict:
        self.problems, self.leaving = [], True
        self.page.goto(url, wait_until="commit")
        self.leaving = False
        self.page.wait_for_load_state("load")
        found = self.page.evaluate(MEASURE)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(screenshot))  # what a learner sees first
            figure = self.page.locator("article img").first  # and the page's first figure, scrolled to
            figure.scroll_into_view_if_needed()
            self.page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-figure.png")))
        return {**found, "problems": self.problems}

    def close(self):
        self.page.close()


def test_every_page_renders_in_chromium(browser, site, server):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if "_static" not in p.parts)
    notebooks = sorted(p.relative_to(ROOT / "notebooks").with_suffix(".html").as_posix()
                       for p in [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "notebooks" / "appendix").glob("*.ipynb")])
    assert {f"notebooks/{n}" for n in notebooks} <= set(pages) and "index.html" in pages
    results, failures, with_math = {}, [], 0
    visitor = Visitor(browser)
    for name in pages:
        shot = SCREENSHOTS / f"{SHOT[name]}.png" if name in SHOT else None
        found = results[name] = visitor.visit(server + name, shot)
        failures += [f"{name}: {p}" for p in found["problems"]]
        if found["rawDollars"]:
            failures.append(f"{name}: {found['rawDollars']} raw $$ left in the text")
        if found["math"]:
            with_math += 1
            if found["rendered"] < found["math"] or found["mathErrors"]:
                failures.append(f"{name}: {found['math']} formulas, {found['rendered']} rendered by MathJax, "
                                f"{found['mathErrors']} errors")
        failures += [f"{name}: image not loaded: {i['src']}" for i in found["images"] if i["width"] <= 0]
    ids = {name: set(found["ids"]) for name, found in results.items()}
    for name, found in results.items():  # internal links: the file exists, and so does the #anchor on its page
        for link in found["links"]:
            if not link.startswith(server):
                continue
            target, fragment = urldefrag(link)
            path = unquote(urlparse(target).path).lstrip("/") or "index.html"
            if path.endswith("/"):
                path += "index.html"
            if not (site / path).is_file():
                failures.append(f"{name}: broken link {link}")
            elif fragment and path in ids and fragment not in ids[path]:
                failures.append(f"{name}: link to a missing anchor {link}")
    visitor.close()
    assert not failures, "\n".join(failures[:40])
    assert with_math >= 8, f"only {with_math} pages with math: is dollarmath still on?"
    for notebook in notebooks:  # the course's features, on each notebook's page
        found = results[f"notebooks/{notebook}"]
        assert found["copyButtons"] > 0, f"{notebook}: no copy buttons on its code"
        stem = Path(notebook).name.replace(".html", ".ipynb")
        assert any(h.endswith(stem) for h in found["download"]), f"{notebook}: no download link to {stem}"
        assert found["prev"] and found["next"], f"{notebook}: no previous/next links"
        assert not found["wideCode"], f"{notebook}: {found['wideCode']} code blocks scroll sideways"
        assert not found["wideMath"], f"{notebook}: formulas wider than the page's column: {found['wideMath']}"
        assert not found["directives"], f"{notebook}: {found['directives']} cells show the exporter's #| directives"
        assert found["setupFolded"] >= 1 and not found["setupShown"], f"{notebook}: the install cell is not folded away"
        if "/" not in notebook:  # a core notebook teaches with a figure (tools/course_stats.py); appendices may not
            assert any(image["width"] > 0 for image in found["images"]), f"{notebook}: no figure"
    toc = [entry[:2] for entry in results["index.html"]["toc"]]  # "00 · VideoMAE in one page" -> "00"
    assert toc[:len(notebooks)] == [Path(n).name[:2] for n in notebooks], toc  # the core path, then the appendices
    shipped = json.loads((site / "_sources" / "notebooks" / "05_tube_masking.ipynb").read_text())
    assert shipped["nbformat"] == 4  # the download is the notebook itself, not a text rendering of it,
    assert shipped == json.loads((ROOT / "notebooks" / "05_tube_masking.ipynb").read_text())  # directives and all
    assert all((SCREENSHOTS / f"{n}{part}.png").stat().st_size > 10_000 for n in SHOT.values() for part in ("", "-figure"))


def test_search_and_math_work_from_disk(browser, site):
    "The site opened as files (no server): math renders, and search finds a notebook."
    visitor = Visitor(browser)
    try:
        found = visitor.visit((site / "notebooks" / "05_tube_masking.html").as_uri())
        assert not found["problems"], found["problems"]
        assert found["math"] and found["rendered"] >= found["math"] and not found["mathErrors"]
        assert visitor.visit((site / "index.html").as_uri())["problems"] == []
        visitor.visit((site / "search.html").as_uri() + "?q=tubelet")
        visitor.page.wait_for_selector("#search-results li", timeout=15_000)
        hits = visitor.page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.textContent)")
        assert not visitor.problems, visitor.problems
    finally:
        visitor.close()
    assert any("Tubelet" in hit for hit in hits), hits

#!/usr/bin/env python3
"""Build the course's static website into site/ from the executed notebooks' stored outputs (`make site`).

    python tools/build_site.py              # -> site/index.html (open it from disk, or: python -m http.server -d site)
    python tools/build_site.py --out DIR

The sources are staged in out/site-src and built in out/site-html, then moved to site/: README.md as the home page (index.md, with the table of contents added),
the notebooks (the core path, then the appendices) and the pages the README links to. Sphinx (docs/conf.py) renders
them; warnings (a broken link, a missing figure) fail the build.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from export import DIRECTIVE_RE, notebook_paths  # noqa: E402  the course in reading order, as the exporter reads it

SETUP_CELL = re.compile(r'"pip",\s*"install"|^\s*[%!]pip install', re.M)  # the cell that runs pip (for Colab): folded

PAGES = {  # linked from the README: part of the site, after the course; the title is given to a page that has none
    "data/README.md": "Data",
    "benchmarks/RESULTS.md": "Benchmarks",
    "benchmarks/data_results.md": "Reading and processing: measured against the Hugging Face docs recipe",
    "benchmarks/findings.md": "Findings",
}


ANSWER_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def toctree(caption: str, docs: list[str]) -> str:
    return "\n```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(docs) + "\n```\n"


def for_the_page(notebook: dict) -> dict:
    """A notebook as its page shows it: without the exporter's `#| export` / `#| default_exp` lines (they steer
    tools/export.py, a reader need not see them; the notebook itself keeps them) and with the set-up cell that installs
    the package folded away (myst-nb's `hide-cell` tag: one click shows it). The "try it" answers stay folded in their
    <details>, without nbgrader's solution markers around them (they mark the region for the student edition)."""
    cells, setup_folded = [], False
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            lines = "".join(cell["source"]).split("\n")
            cell = {**cell, "source": "\n".join(line for line in lines if line.strip() not in ANSWER_MARKERS)}
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).split("\n")
            kept = [line for line in lines if not DIRECTIVE_RE.match(line)]
            if not "".join(kept).strip() and not cell.get("outputs"):
                continue  # a cell that only named the module
            cell = {**cell, "source": "\n".join(kept)}
            if not setup_folded and SETUP_CELL.search(cell["source"]):
                tags = cell.get("metadata", {}).get("tags", [])
                cell["metadata"] = {**cell.get("metadata", {}), "tags": [*tags, "hide-cell"]}
                setup_folded = True
        cells.append(cell)
    return {**notebook, "cells": cells}


def stage(src: Path) -> None:
    if src.exists():
        shutil.rmtree(src)
    notebooks = notebook_paths(ROOT / "notebooks")
    for path in notebooks + [ROOT / p for p in PAGES]:
        target = src / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".ipynb":
            target.write_text(json.dumps(for_the_page(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
        else:
            shutil.copyfile(path, target)
    for page, title in PAGES.items():
        text = (src / page).read_text(encoding="utf-8")
        if not text.startswith("# "):
            (src / page).write_text(f"# {title}\n\n{text}", encoding="utf-8")
    docs = [p.relative_to(ROOT).with_suffix("").as_posix() for p in notebooks]
    core = [d for d in docs if "/appendix/" not in d]
    home = (ROOT / "README.md").read_text(encoding="utf-8")
    home += toctree("The course", core) + toctree("Appendices", [d for d in docs if d not in core])
    home += toctree("Data and measurements", [Path(p).with_suffix("").as_posix() for p in PAGES])
    (src / "index.md").write_text(home, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="the site's folder (default: site/)")
    parser.add_argument("--work", type=Path, default=ROOT / "out", help="staged sources and Sphinx's cache (default: out/)")
    args = parser.parse_args(argv)
    from sphinx.cmd.build import build_main

    start = time.perf_counter()
    src, html = args.work / "site-src", args.work / "site-html"  # myst-nb also writes html/../jupyter_execute
    stage(src)
    done = build_main(["-b", "html", "-q", "-W", "--keep-going", "-c", str(ROOT / "docs"),
                       "-d", str(args.work / "site-doctrees"), str(src), str(html)])
    for path in notebook_paths(ROOT / "notebooks"):  # the download button gives the notebook itself, directives and all
        shutil.copyfile(path, html / "_sources" / path.relative_to(ROOT))
    if done == 0:  # the site appears complete, or not at all
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(html, args.out) if html.stat().st_dev != args.out.parent.stat().st_dev else html.rename(args.out)
        print(f"wrote {args.out / 'index.html'} in {time.perf_counter() - start:.0f} s")
    return done


if __name__ == "__main__":
    raise SystemExit(main())

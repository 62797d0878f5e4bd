#!/usr/bin/env python3
"""What a learner gets from each notebook: exported lines, figures, "try it" questions, reading time.

    python tools/course_stats.py          # the table, core path then appendices
    python tools/course_stats.py --check  # also exit 1 when the course breaks its own rules (listed below)

Exported lines are the lines of the module the exporter writes for the notebook (blank lines and the generated
header included), so they are what a learner reads in the package. Figures are the PNG outputs stored in the
executed notebook. Reading time: prose at 200 words a minute, code at 12 lines a minute, plus a minute per figure.

The rules `--check` enforces on the core path (00-10): at most 1,100 exported lines in all; every notebook has at
least one PNG figure and no JPEG, an opening block (**You will build**, **You need**, **Time**, **Paper**), two to
four "try it" questions, and a link to the next notebook (00 to 01 to ... to 10). Appendices need an opening block
that says who needs them (**You are ...**, **Adds to**).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export  # noqa: E402  (the exporter beside this script: the same rendering `make export` writes)

# The core path's exported code, kept small enough to hold in one's head. 1100 until notebook 10 gained its fair
# experiment (the fine-tuning recipe, label-preserving augmentation, the reconstruction gate: about 90 lines).
CORE_LINE_BUDGET = 1200
CORE_OPENING = ("**You will build**", "**You need**", "**Time**", "**Paper**")
APPENDIX_OPENING = ("**You are", "**Adds to**")
NUMBERED = re.compile(r"^\s*(\d+)\.\s")
NEXT_LINK = re.compile(r"\*\*Next:\*\*\s*\[[^\]]*\]\(([^)]+\.ipynb)\)")
STATED_TIME = re.compile(r"\*\*Time\*\*\s*about\s+(\d+)\s+minutes")


@dataclass
class Stats:
    path: Path
    core: bool
    exported_lines: int
    figures: int
    jpegs: int
    try_it: int
    prose_words: int
    code_lines: int
    stated_minutes: int | None
    next_link: str | None
    opening: list[str]  # the opening-block markers it lacks

    @property
    def name(self) -> str:
        return self.path.relative_to(export.NOTEBOOKS).as_posix()

    @property
    def reading_minutes(self) -> int:
        return round(self.prose_words / 200 + self.code_lines / 12 + self.figures)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def try_it_questions(markdown: str) -> int:
    "The numbered items after a **Try it:** line, up to the next bold heading."
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("**Try it:**"):
            count = 0
            for following in lines[i + 1:]:
                if following.strip().startswith("**") and not NUMBERED.match(following):
                    break
                count += bool(NUMBERED.match(following))
            return count
    return 0


def notebook_stats(path: Path) -> Stats:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    markdown = "\n\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    code = [_source(c) for c in cells if c["cell_type"] == "code"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    rendered = export.render_notebook(path)
    opening_cell = next((_source(c) for c in cells if c["cell_type"] == "markdown"), "")
    core = path.parent == export.NOTEBOOKS
    wanted = CORE_OPENING if core else APPENDIX_OPENING
    stated = STATED_TIME.search(opening_cell)
    link = NEXT_LINK.search(markdown)
    return Stats(
        path=path, core=core,
        exported_lines=sum(len(text.splitlines()) for text in rendered.values()),
        figures=sum("image/png" in o.get("data", {}) for o in outputs),
        jpegs=sum("image/jpeg" in o.get("data", {}) for o in outputs),
        try_it=try_it_questions(markdown),
        prose_words=len(re.findall(r"\w+", markdown)),
        code_lines=sum(len([line for line in src.splitlines() if line.strip()]) for src in code),
        stated_minutes=int(stated.group(1)) if stated else None,
        next_link=link.group(1) if link else None,
        opening=[marker for marker in wanted if marker not in opening_cell],
    )


def problems(stats: list[Stats]) -> list[str]:
    found = []
    core = [s for s in stats if s.core]
    total = sum(s.exported_lines for s in core)
    if total > CORE_LINE_BUDGET:
        found.append(f"the core path exports {total} lines, over the budget of {CORE_LINE_BUDGET}")
    for i, s in enumerate(core):
        if s.figures < 1:
            found.append(f"{s.name}: no PNG figure")
        if s.jpegs:
            found.append(f"{s.name}: {s.jpegs} JPEG figures (store PNG at 100 dpi or more)")
        if s.opening:
            found.append(f"{s.name}: the opening block lacks {', '.join(s.opening)}")
        if not 2 <= s.try_it <= 4:
            found.append(f"{s.name}: {s.try_it} 'try it' questions, expected 2 to 4")
        following = core[i + 1].name if i + 1 < len(core) else None
        if following is not None and s.next_link != following:
            found.append(f"{s.name}: its **Next:** link is {s.next_link!r}, expected {following!r}")
    for s in stats:
        if not s.core and s.opening:
            found.append(f"{s.name}: the opening block lacks {', '.join(s.opening)}")
    return found


def table(stats: list[Stats]) -> str:
    rows = [f"{'notebook':48} {'exported':>8} {'figures':>7} {'try it':>6} {'reading':>8} {'stated':>7}"]
    for part, members in (("core path", [s for s in stats if s.core]), ("appendices", [s for s in stats if not s.core])):
        for s in members:
            stated = f"{s.stated_minutes} min" if s.stated_minutes is not None else "-"
            rows.append(f"{s.name:48} {s.exported_lines:8d} {s.figures:7d} {s.try_it:6d} {s.reading_minutes:5d} min {stated:>7}")
        rows.append(f"{part + ' in all':48} {sum(s.exported_lines for s in members):8d} "
                    f"{sum(s.figures for s in members):7d} {sum(s.try_it for s in members):6d} "
                    f"{sum(s.reading_minutes for s in members):5d} min")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a rule of the course is broken")
    args = parser.parse_args(argv)
    try:
        stats = [notebook_stats(path) for path in export.notebook_paths()]
    except (export.ExportError, OSError, ValueError, KeyError) as e:
        print(f"course_stats: {e}", file=sys.stderr)
        return 2
    print(table(stats))
    if args.check:
        found = problems(stats)
        for problem in found:
            print(f"problem: {problem}", file=sys.stderr)
        if found:
            return 1
        print(f"course check: {len(stats)} notebooks keep the rules (core path within {CORE_LINE_BUDGET} exported lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

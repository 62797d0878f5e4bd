#!/usr/bin/env python3
"""What a learner gets from each notebook: exported lines, figures, "try it" questions, reading time.

    python tools/course_stats.py          # the table, core path then appendices
    python tools/course_stats.py --check  # also exit 1 when the course breaks its own rules (listed below)
    python tools/course_stats.py --write  # write the reading times and counts into README.md, 00's map and the openings

Exported lines are the lines of the module the exporter writes for the notebook (blank lines and the generated
header included), so they are what a learner reads in the package. Figures are the PNG outputs stored in the
executed notebook. Exercises are the nbgrader solution cells, points the grade cells' points.

Reading time: prose at 160 words a minute, code at 9.6 non-blank lines a minute, and 1.25 minutes a figure,
rounded to 5 minutes. How it was measured: a reading of the whole core path (00-10) as a learner who knows PyTorch
but not video reads it, with the stored outputs and every figure (issue 25), took about 6 1/4 hours, 375 minutes.
The earlier estimate (200 words, 12 lines a minute, a minute a figure) gave 300 minutes for the same notebooks, so
every rate is that estimate's, scaled by 375 / 300 = 1.25: one measured total, the split between prose, code and
figures assumed. A notebook's own "**Time** about N minutes", its row in README.md and in 00's course map, the
README's "about N hours" for the core path and its count of exercises are all this number; `--check` fails when
one differs, and `--write` puts the computed ones in.

The rules `--check` enforces on the core path (00-10): at most 1,200 exported lines in all; every notebook has at
least one PNG figure and no JPEG, an opening block (**You will build**, **You need**, **Time**, **Paper**), two to
four "try it" questions, each answered in the instructor's edition, and a link to the next notebook (00 to 01 to
... to 10). Appendices need an opening block
that says who needs them (**You are ...**, **Adds to**). Core code cells (01-10) hold no engineering: none of
ENGINEERING_WORDS appears in them (appendices A3 and A4 hold it).
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
from clean_notebooks import as_written  # noqa: E402  (how nbformat writes a notebook: one serialiser for the tools)

# The core path's exported code, kept small enough to hold in one's head. 1100 until notebook 10 gained its fair
# experiment (the fine-tuning recipe, label-preserving augmentation, the reconstruction gate: about 90 lines); 1200
# until the models took transformers' module tree (issue 27: Embeddings, Encoder, SelfAttention and Projection,
# Intermediate; about 50 lines, with the activations, a shim and the v4 writer moved out to config and appendices).
CORE_LINE_BUDGET = 1225
CORE_OPENING = ("**You will build**", "**You need**", "**Time**", "**Paper**")
# Reading rates (the docstring says how they were measured).
PROSE_WORDS_PER_MINUTE = 160
CODE_LINES_PER_MINUTE = 9.6
MINUTES_PER_FIGURE = 1.25
# What only an appendix may use: running under torchrun, transformers' calling conventions, memory tuning.
ENGINEERING_WORDS = ("torchrun", "gradient_checkpointing", "return_dict", "problem_type", "LOCAL_RANK")
README = export.ROOT / "README.md"
OVERVIEW = export.NOTEBOOKS / "00_overview.ipynb"
APPENDIX_OPENING = ("**You are", "**Adds to**")
NUMBERED = re.compile(r"^\s*(\d+)\.\s")
# The "try it" answers follow the questions in the summary cell, folded and inside a solution region (the student
# edition replaces it with YOUR ANSWER HERE, as nbgrader does a written answer):
#     <details><summary><b>Answers</b> (instructor's edition)</summary>
#
#     ### BEGIN SOLUTION
#     1. ...
#     ### END SOLUTION
#
#     </details>
ANSWERS_OPEN = "<details><summary><b>Answers</b>"
NEXT_LINK = re.compile(r"\*\*Next:\*\*\s*\[[^\]]*\]\(([^)]+\.ipynb)\)")
STATED_TIME = re.compile(r"\*\*Time\*\*\s*about\s+(\d+)\s+minutes")
TABLE_TIME = re.compile(r"^(\|\s*\[[^\]]*\]\((?P<link>[^)]+\.ipynb)\).*\|\s*)(?P<minutes>\d+)(\s+min\s*\|\s*)$", re.M)
HOURS = re.compile(r"about\s+(?P<hours>\d+[¼½¾]?|[¼½¾])\s+hours?\s+\(`make stats`\)")
EXERCISES = re.compile(r"(?P<count>\w+)\s+exercises,\s+one\s+per\s+step\s+from\s+\d+\s+to\s+\d+\s+\((?P<points>\d+)\s+points\)")
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


@dataclass
class Stats:
    path: Path
    core: bool
    exported_lines: int
    figures: int
    jpegs: int
    try_it: int
    answers: int  # numbered items in the summary's answers region
    prose_words: int
    code_lines: int
    stated_minutes: int | None
    next_link: str | None
    opening: list[str]  # the opening-block markers it lacks
    exercises: int = 0
    points: int = 0
    engineering: tuple[str, ...] = ()  # ENGINEERING_WORDS found in its code cells

    @property
    def name(self) -> str:
        return self.path.relative_to(export.NOTEBOOKS).as_posix()

    @property
    def exact_minutes(self) -> float:
        return (self.prose_words / PROSE_WORDS_PER_MINUTE + self.code_lines / CODE_LINES_PER_MINUTE
                + self.figures * MINUTES_PER_FIGURE)

    @property
    def reading_minutes(self) -> int:
        "The reading time as the course states it: to 5 minutes, at least 5."
        return max(5, 5 * round(self.exact_minutes / 5))


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
                if following.strip().startswith(("**", "<details")) and not NUMBERED.match(following):
                    break
                count += bool(NUMBERED.match(following))
            return count
    return 0


def try_it_answers(markdown: str) -> int:
    "The numbered items (at the start of a line) inside the solution region that follows the answers' fold."
    start = markdown.find(ANSWERS_OPEN)
    if start < 0:
        return 0
    region = markdown[start:].split("### BEGIN SOLUTION", 1)[-1].split("### END SOLUTION", 1)[0]
    return sum(bool(re.match(r"^(\d+)\.\s", line)) for line in region.splitlines())


def learner_text(markdown: str) -> str:
    "The markdown a learner reads: the instructor's answers (solution regions) left out."
    return re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", markdown, flags=re.S)


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
    graded = [c.get("metadata", {}).get("nbgrader", {}) for c in cells]
    found = tuple(word for word in ENGINEERING_WORDS if any(word in src for src in code))
    return Stats(
        path=path, core=core,
        exported_lines=sum(len(text.splitlines()) for text in rendered.values()),
        figures=sum("image/png" in o.get("data", {}) for o in outputs),
        jpegs=sum("image/jpeg" in o.get("data", {}) for o in outputs),
        try_it=try_it_questions(markdown),
        answers=try_it_answers(markdown),
        prose_words=len(re.findall(r"\w+", learner_text(markdown))),
        code_lines=sum(len([line for line in src.splitlines() if line.strip()]) for src in code),
        stated_minutes=int(stated.group(1)) if stated else None,
        next_link=link.group(1) if link else None,
        opening=[marker for marker in wanted if marker not in opening_cell],
        exercises=sum(bool(meta.get("solution")) for meta, cell in zip(graded, cells) if cell["cell_type"] == "code"),
        points=sum(int(meta.get("points", 0)) for meta in graded if meta.get("grade")),
        engineering=found,
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
        if s.answers != s.try_it:
            found.append(f"{s.name}: {s.answers} answers (in the summary's '{ANSWERS_OPEN}' fold) to {s.try_it} "
                         "'try it' questions: answer each one, in order")
        if s.engineering and s.name != "00_overview.ipynb":
            found.append(f"{s.name}: a core code cell uses {', '.join(s.engineering)} (engineering: move it to an appendix)")
        following = core[i + 1].name if i + 1 < len(core) else None
        if following is not None and s.next_link != following:
            found.append(f"{s.name}: its **Next:** link is {s.next_link!r}, expected {following!r}")
    for s in stats:
        if not s.core and s.opening:
            found.append(f"{s.name}: the opening block lacks {', '.join(s.opening)}")
        if s.stated_minutes is not None and s.stated_minutes != s.reading_minutes:
            found.append(f"{s.name}: its opening says about {s.stated_minutes} minutes, the measured rate gives "
                         f"{s.reading_minutes} (python tools/course_stats.py --write)")
    return found


def core_hours(stats: list[Stats]) -> str:
    "The core path's reading time in hours, to a quarter: '6¼'."
    quarters = round(sum(s.exact_minutes for s in stats if s.core) / 15)
    whole, part = divmod(quarters, 4)
    return (str(whole) if whole else "") + ("", "¼", "½", "¾")[part] or "0"


def exercise_words(stats: list[Stats]) -> tuple[str, int]:
    count = sum(s.exercises for s in stats)
    return (NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)), sum(s.points for s in stats)


def stated_numbers(stats: list[Stats], text: str, base: str, where: str, whole_course: bool) -> tuple[str, list[str]]:
    """`text` (README.md or 00's course map) with the computed numbers put in, and what differed. Table rows are
    the ones that link a notebook (`base` + its path) and end in '| N min |'; the README also states the core
    path's hours and the number of exercises."""
    minutes = {base + s.name: s.reading_minutes for s in stats}
    found, listed = [], set()

    def row(m: re.Match) -> str:
        link = m.group("link")
        if link not in minutes:
            return m.group(0)
        listed.add(link)
        if int(m.group("minutes")) != minutes[link]:
            found.append(f"{where}: {link} is listed at {m.group('minutes')} min, the measured rate gives {minutes[link]}")
        return f"{m.group(1)}{minutes[link]}{m.group(4)}"

    text = TABLE_TIME.sub(row, text)
    wanted = set(minutes) if whole_course else {link for link in minutes if not link.endswith("00_overview.ipynb")}
    found += [f"{where}: no table row for {link} with its reading time" for link in sorted(wanted - listed)]
    if whole_course:
        hours, (count, points) = core_hours(stats), exercise_words(stats)
        m = HOURS.search(text)
        if m is None:
            found.append(f"{where}: no 'about N hours (`make stats`)' for the core path")
        elif m.group("hours") != hours:
            found.append(f"{where}: the core path is said to take about {m.group('hours')} hours, the measured rate gives {hours}")
            text = text[:m.start("hours")] + hours + text[m.end("hours"):]
        m = EXERCISES.search(text)
        if m is None:
            found.append(f"{where}: no 'N exercises, one per step from A to B (P points)'")
        elif (m.group("count").lower(), int(m.group("points"))) != (count, points):
            found.append(f"{where}: says {m.group('count')} exercises ({m.group('points')} points); the notebooks have "
                         f"{count} ({points} points)")
            stated = count.capitalize() if m.group("count")[0].isupper() else count
            text = (text[:m.start("count")] + stated + text[m.end("count"):m.start("points")] + str(points)
                    + text[m.end("points"):])
    return text, found


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_notebook(path: Path, nb: dict) -> None:
    "As nbformat writes a notebook (clean_notebooks.as_written: sorted keys, indent 1, UTF-8), atomically."
    export.write_atomic(path, as_written(nb))


def set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True) if isinstance(cell.get("source"), list) else text


def overview_map(stats: list[Stats], write: bool) -> list[str]:
    "00's course map: each row's time is its notebook's reading time."
    if not OVERVIEW.exists():
        return []
    nb = read_notebook(OVERVIEW)
    found, changed = [], False
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and TABLE_TIME.search(_source(cell)):
            text, problems_here = stated_numbers(stats, _source(cell), "", "00's course map", whole_course=False)
            found += problems_here
            if text != _source(cell):
                set_source(cell, text)
                changed = True
    if write and changed:
        write_notebook(OVERVIEW, nb)
    return found


def write_openings(stats: list[Stats]) -> list[Path]:
    "Put each notebook's computed reading time into its opening's **Time** line."
    written = []
    for s in stats:
        if s.stated_minutes is None or s.stated_minutes == s.reading_minutes:
            continue
        nb = read_notebook(s.path)
        cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        set_source(cell, STATED_TIME.sub(f"**Time** about {s.reading_minutes} minutes", _source(cell), count=1))
        write_notebook(s.path, nb)
        written.append(s.path)
    return written


def readme_and_map(stats: list[Stats], write: bool) -> list[str]:
    "What README.md and 00's course map state that the notebooks do not; with `write`, put the computed numbers in."
    found = []
    if README.exists():
        text = README.read_text(encoding="utf-8")
        new, found = stated_numbers(stats, text, "notebooks/", "README.md", whole_course=True)
        if write and new != text:
            export.write_atomic(README, new)
    return found + overview_map(stats, write)


def table(stats: list[Stats]) -> str:
    rows = [f"{'notebook':48} {'exported':>8} {'figures':>7} {'try it':>6} {'reading':>8} {'stated':>7} {'exercises':>9}"]
    for part, members in (("core path", [s for s in stats if s.core]), ("appendices", [s for s in stats if not s.core])):
        for s in members:
            stated = f"{s.stated_minutes} min" if s.stated_minutes is not None else "-"
            rows.append(f"{s.name:48} {s.exported_lines:8d} {s.figures:7d} {s.try_it:6d} {s.reading_minutes:5d} min {stated:>7} "
                        f"{s.exercises:9d}")
        rows.append(f"{part + ' in all':48} {sum(s.exported_lines for s in members):8d} "
                    f"{sum(s.figures for s in members):7d} {sum(s.try_it for s in members):6d} "
                    f"{round(sum(s.exact_minutes for s in members)):5d} min")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a rule of the course is broken")
    parser.add_argument("--write", action="store_true",
                        help="write the computed reading times and counts into README.md, 00's map and the openings")
    args = parser.parse_args(argv)
    try:
        stats = [notebook_stats(path) for path in export.notebook_paths()]
    except (export.ExportError, OSError, ValueError, KeyError) as e:
        print(f"course_stats: {e}", file=sys.stderr)
        return 2
    if args.write:
        for path in write_openings(stats):
            print(f"wrote the reading time into {path.relative_to(export.ROOT)}")
        readme_and_map(stats, write=True)
        stats = [notebook_stats(path) for path in export.notebook_paths()]
    print(table(stats))
    count, points = exercise_words(stats)
    print(f"reading the core path: about {core_hours(stats)} hours ({PROSE_WORDS_PER_MINUTE} words and "
          f"{CODE_LINES_PER_MINUTE} code lines a minute, {MINUTES_PER_FIGURE} minutes a figure); exercises: {count} "
          f"({points} points)")
    if args.check:
        found = problems(stats) + readme_and_map(stats, write=False)
        for problem in found:
            print(f"problem: {problem}", file=sys.stderr)
        if found:
            return 1
        print(f"course check: {len(stats)} notebooks keep the rules (core path within {CORE_LINE_BUDGET} exported lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

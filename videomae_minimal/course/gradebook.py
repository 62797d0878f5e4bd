"""Grading a class: every student's report, feedback, the gradebook and the summary, written atomically.

A stored report is reused only when it was graded from the same submission (a hash of its notebooks' bytes), for
the same notebooks (their names and the instructor's bytes) and by the same grader (the package's version and a hash
of this package's sources); otherwise that student is graded again. A student whose submission the grader will not
open (a link, a special file, an unreadable file, a corrupt zip, a zip bomb) is "not graded" on their own row."""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from .grading import grade, graded_checks, graded_notebooks
from ..version import __version__
from .notebooks import CourseError, GradingError, exercises, read_notebook, source_root, write_json_atomic, write_text_atomic
from .submissions import SubmissionError, class_submissions, submission_digest, unpack

__all__ = ['grader_version', 'graded_from', 'stale', 'grade_class']


def grader_version() -> str:
    "The package's version and a hash of the grader's own sources (every module of this folder)."

    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def graded_from(folder: Path | None, paths: list[Path], version: str) -> dict:
    """What a report is graded from: the copied submission's hash (None when it could not be copied), the selected
    notebooks with a hash of each instructor notebook, and the grader's version."""
    return {"submission": submission_digest(folder) if folder is not None else None,
            "notebooks": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}, "grader": version}


def stale(record: dict | None, current: dict) -> str | None:
    "Why a stored record cannot stand for this run, or None when it can."
    before = (record or {}).get("graded_from") or {}
    if record is None:
        return "not graded yet"
    if before.get("submission") is None or before["submission"] != current["submission"]:
        return "the submission is new or changed"
    if before.get("notebooks") != current["notebooks"]:
        return "graded for other notebooks (--notebook) or before the instructor's notebooks changed"
    if before.get("grader") != current["grader"]:
        return "graded by another version of the grader"
    return None


def _feedback(student: str, record: dict) -> str:
    "What the student reads: per notebook what ran and each check's result. Never a check's code."
    report = record.get("report")
    lines = [f"# Feedback for {student}", ""]
    if report is None:
        return "\n".join(lines + [record["status"][:1].upper() + record["status"][1:], ""])
    lines += [f"**Total: {report['total']:g} / {report['max']:g} points.**", ""]
    if not report.get("sandbox"):
        lines += ["(Graded without the sandbox.)", ""]
    lines += [f"- {w}" for w in report["warnings"]] + ([""] if report["warnings"] else [])
    results = {}
    for e in report["exercises"]:
        results.setdefault(e["notebook"], []).append(e)
    for nb in report["notebooks"]:
        lines += [f"## {nb['notebook']}", ""]
        if nb["file"]:
            ran = f"{nb['cells_run']} of {nb['code_cells']} code cells ran"
            lines += [f"Graded file: `{nb['file']}`; {ran}." + (f" {nb['stopped']}." if nb["stopped"] else ""), ""]
        if nb["student_errors"]:
            lines += ["Errors in your cells:"] + [f"- {m}" for m in nb["student_errors"]] + [""]
        lines += ["| check | points | result |", "|---|---|---|"]
        for e in results.get(nb["notebook"], []):
            result = "passed" if e["passed"] else e["message"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {e['name']} | {e['points']:g} / {e['max']:g} | {result} |")
        lines.append("")
    lines += ["Some checks include hidden tests: passing the visible part of a check is not always enough.", ""]
    return "\n".join(lines)


def _in_class_terms(message: str, submissions: Path, scratch: Path, source: Path) -> str:
    "A message as the student's row shows it: paths inside the class folder, never the grader's scratch folders."
    return message.replace(str(scratch), source.name).replace(f"{submissions}{os.sep}", "")


def _stored(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or cut short: graded again
    return record if isinstance(record, dict) else None


def _chosen(students: dict[str, Path], submissions: Path, chosen: list[str] | None) -> list[str]:
    "The students to grade now: every one, or those named by --student (each must be in the class folder)."
    if not chosen:
        return list(students)
    unknown = [name for name in chosen if name not in students]
    if unknown:
        raise CourseError(f"--student {', '.join(unknown)}: no such student in {submissions} "
                          f"(students: {', '.join(students)})")
    return [s for s in students if s in chosen]


def _gradebook(records: list[dict], paths: list[Path]) -> tuple[str, list[str]]:
    "gradebook.csv's text (a row per student, a column per exercise) and the summary's lines per exercise."
    import csv
    import io

    columns = [f"{Path(p).stem}:{exercise}" for p in paths
               for exercise in dict.fromkeys(x for _, x in graded_checks(read_notebook(p), p.name))]
    full_marks = sum(e.points for p in paths for e in exercises(read_notebook(p), p.name))
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["student", *columns, "total", "max", "status", "sandbox"])
    per_exercise: dict[str, list[float]] = {c: [] for c in columns}
    failed: dict[str, list[str]] = {c: [] for c in columns}
    for record in records:
        report = record["report"]
        points = {c: 0.0 for c in columns}
        for e in report["exercises"] if report else []:
            column = f"{Path(e['notebook']).stem}:{e['exercise']}"
            if column in points:  # a report kept from a run over other notebooks has columns of its own
                points[column] += e["points"]
                if not e["passed"]:
                    failed[column].append(record["student"])
        for c in columns:
            per_exercise[c].append(points[c])
        writer.writerow([record["student"], *(f"{points[c]:g}" for c in columns),
                         f"{report['total'] if report else 0:g}", f"{report['max'] if report else full_marks:g}",
                         record["status"], ("yes" if report["sandbox"] else "no") if report else ""])
    lines = [f"| {c} | {sum(per_exercise[c]) / max(len(per_exercise[c]), 1):.2f} | "
             f"{', '.join(sorted(set(failed[c]))) or '-'} |" for c in columns]
    return table.getvalue(), lines


def _summary(records: list[dict], exercise_lines: list[str], left_out: list[str]) -> str:
    summary = ["# Class summary", "", f"{len(records)} students.", "", "| exercise | mean points | failed by |",
               "|---|---|---|", *exercise_lines]
    unsandboxed = [r["student"] for r in records if r["report"] and not r["report"]["sandbox"]]
    if unsandboxed:
        summary += ["", f"Graded WITHOUT the sandbox (bubblewrap missing or not working, or --no-sandbox): "
                        f"{', '.join(unsandboxed)}. Their code ran with the grader's user rights."]
    not_graded = [r for r in records if r["report"] is None]
    if not_graded:
        summary += ["", f"Not graded ({len(not_graded)}; fix or ask for the submission, then grade-class --student "
                        "NAME):"] + [f"- {r['student']}: {r['status']}" for r in not_graded]
    if left_out:
        summary += ["", f"Not in this gradebook (no report yet, and not named by --student): {', '.join(left_out)}."]
    return "\n".join(summary) + "\n"


def grade_class(submissions: Path, out: Path, root: Path | None = None, timeout: float = 60.0,
                notebooks: list[str] | None = None, jobs: int = 1, force: bool = False, progress=None,
                sandbox: bool = True, students: list[str] | None = None) -> dict:
    """Grade a folder of students (a subfolder or zip each, or LMS-named notebooks) into `out`: students/NAME.json
    (the report), feedback/NAME.md, gradebook.csv and summary.md. A student's stored report is reused when it is
    not `stale`, unless `force`; `students` (--student) grades just those again and keeps the others' reports.
    `jobs` students are graded side by side. Every file is written atomically. Returns {"students", "graded_now",
    "not_graded": [names], "out", "gradebook", "summary"}."""
    root = source_root(root)
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise GradingError(f"{submissions}: no such folder of submissions")
    if jobs < 1:
        raise CourseError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise CourseError(f"--timeout must be positive, got {timeout}")
    paths = graded_notebooks(root, notebooks)
    found, loose = class_submissions(submissions, [p.name for p in paths])
    if not found:
        raise GradingError(f"{submissions}: no submissions (expected one folder or .zip per student, "
                           "or notebooks named like lastname_12345_67890_01_frame_sampling.ipynb)")
    safe = {s: re.sub(r"[^\w.-]+", "_", s) for s in found}
    if len(set(safe.values())) != len(safe):
        raise CourseError(f"{submissions}: two students' names map to one file name; rename one")
    todo = _chosen(found, submissions, students)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    version, graded_now = grader_version(), []

    def one(student: str) -> None:
        import time

        started, stored_at = time.perf_counter(), out / "students" / f"{safe[student]}.json"
        with tempfile.TemporaryDirectory(prefix="videomae-class-") as scratch:
            source, folder = found[student], None
            try:
                folder = unpack(source, Path(scratch), loose.get(student))
                current = graded_from(folder, paths, version)
                before = _stored(stored_at)
                why = "asked for" if force or students else stale(before, current)
                if why is None:
                    say(f"{student}: already graded, skipped (--force grades again)")
                    return
                if before is not None:
                    say(f"{student}: grading again: {why}")
                report = grade(folder, root, timeout=timeout, notebooks=[p.name for p in paths], sandbox=sandbox)
                record = {"student": student, "source": source.name, "status": "graded", "report": report}
            except (SubmissionError, GradingError) as e:  # this student's fault, or nothing to grade: the class goes on
                current = graded_from(None, paths, version)
                record = {"student": student, "source": source.name, "report": None,
                          "status": f"not graded: {_in_class_terms(str(e), submissions, Path(scratch), source)}"}
        record["seconds"], record["graded_from"] = round(time.perf_counter() - started, 1), current
        write_text_atomic(out / "feedback" / f"{safe[student]}.md", _feedback(student, record))
        stored_at.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stored_at, record)
        graded_now.append(student)
        points = f"{record['report']['total']:g}/{record['report']['max']:g}" if record["report"] else record["status"]
        say(f"{student}: {points} ({record['seconds']:g} s)")

    if jobs == 1:
        for student in todo:
            one(student)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            for future in [pool.submit(one, s) for s in todo]:
                future.result()

    stored = {s: _stored(out / "students" / f"{safe[s]}.json") for s in found}
    records, left_out = [r for r in stored.values() if r], [s for s, r in stored.items() if not r]
    for student in left_out:
        say(f"{student}: no report yet (not named by --student): left out of the gradebook")
    table, exercise_lines = _gradebook(records, paths)
    write_text_atomic(out / "gradebook.csv", table)
    write_text_atomic(out / "summary.md", _summary(records, exercise_lines, left_out))
    return {"students": len(records), "graded_now": len(graded_now), "out": str(out),
            "not_graded": [r["student"] for r in records if r["report"] is None],
            "gradebook": str(out / "gradebook.csv"), "summary": str(out / "summary.md")}

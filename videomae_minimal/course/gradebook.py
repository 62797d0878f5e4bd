"""Grading a class: every student's report, feedback, the gradebook and the summary, written atomically."""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from .grading import grade, graded_checks, graded_notebooks
from .notebooks import CourseError, GradingError, exercises, read_notebook, source_root, write_json_atomic, write_text_atomic
from .submissions import class_submissions, unpack

__all__ = ['grade_class']

def _feedback(student: str, record: dict) -> str:
    "What the student reads: per notebook what ran and each check's result. Never a check's code."
    report = record.get("report")
    lines = [f"# Feedback for {student}", ""]
    if report is None:
        return "\n".join(lines + [f"Not graded: {record['status']}", ""])
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


def grade_class(submissions: Path, out: Path, root: Path | None = None, timeout: float = 60.0,
                notebooks: list[str] | None = None, jobs: int = 1, force: bool = False, progress=None,
                sandbox: bool = True) -> dict:
    """Grade a folder of students (a subfolder or zip each, or LMS-named notebooks) into `out`: students/NAME.json
    (the report), feedback/NAME.md, gradebook.csv and summary.md. A student with a report already is skipped
    unless `force`. `jobs` students are graded side by side. Every file is written atomically."""
    import csv
    import io
    import time

    root = source_root(root)
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise GradingError(f"{submissions}: no such folder of submissions")
    if jobs < 1:
        raise CourseError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise CourseError(f"--timeout must be positive, got {timeout}")
    paths = graded_notebooks(root, notebooks)
    students, loose = class_submissions(submissions, [p.name for p in paths])
    if not students:
        raise GradingError(f"{submissions}: no submissions (expected one folder or .zip per student, "
                           "or notebooks named like lastname_12345_67890_01_frame_sampling.ipynb)")
    safe = {s: re.sub(r"[^\w.-]+", "_", s) for s in students}
    if len(set(safe.values())) != len(safe):
        raise CourseError(f"{submissions}: two students' names map to one file name; rename one")
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    todo = [s for s in students if force or not (out / "students" / f"{safe[s]}.json").is_file()]
    for s in students:
        if s not in todo:
            say(f"{s}: already graded, skipped (--force grades again)")

    def one(student: str) -> None:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="videomae-class-") as scratch:
            try:
                folder = unpack(students[student], Path(scratch), loose.get(student))
                report = grade(folder, root, timeout=timeout, notebooks=[p.name for p in paths], sandbox=sandbox)
                record = {"student": student, "source": students[student].name, "status": "graded", "report": report}
            except GradingError as e:  # nothing to grade for this student; the class goes on
                record = {"student": student, "source": students[student].name, "status": f"not graded: {e}",
                          "report": None}
        record["seconds"] = round(time.perf_counter() - started, 1)
        write_text_atomic(out / "feedback" / f"{safe[student]}.md", _feedback(student, record))
        _write_json_atomic_mkdir(out / "students" / f"{safe[student]}.json", record)
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

    records = [json.loads((out / "students" / f"{safe[s]}.json").read_text(encoding="utf-8")) for s in students]
    columns = [f"{Path(p).stem}:{exercise}" for p in paths
               for exercise in dict.fromkeys(x for _, x in graded_checks(read_notebook(p), p.name))]
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["student", *columns, "total", "max", "status", "sandbox"])
    per_exercise: dict[str, list[float]] = {c: [] for c in columns}
    failed: dict[str, list[str]] = {c: [] for c in columns}
    for record in records:
        report = record["report"]
        points = {c: 0.0 for c in columns}
        if report:
            for e in report["exercises"]:
                points[f"{Path(e['notebook']).stem}:{e['exercise']}"] += e["points"]
                if not e["passed"]:
                    failed[f"{Path(e['notebook']).stem}:{e['exercise']}"].append(record["student"])
        for c in columns:
            per_exercise[c].append(points[c])
        maximum = report["max"] if report else sum(e.points for p in paths for e in exercises(read_notebook(p), p.name))
        writer.writerow([record["student"], *(f"{points[c]:g}" for c in columns),
                         f"{report['total'] if report else 0:g}", f"{maximum:g}", record["status"],
                         ("yes" if report["sandbox"] else "no") if report else ""])
    write_text_atomic(out / "gradebook.csv", table.getvalue())
    summary = ["# Class summary", "", f"{len(records)} students.", "", "| exercise | mean points | failed by |",
               "|---|---|---|"]
    for c in columns:
        mean = sum(per_exercise[c]) / len(per_exercise[c])
        summary.append(f"| {c} | {mean:.2f} | {', '.join(sorted(set(failed[c]))) or '-'} |")
    unsandboxed = [r["student"] for r in records if r["report"] and not r["report"]["sandbox"]]
    if unsandboxed:
        summary += ["", f"Graded WITHOUT the sandbox (bubblewrap missing or not working, or --no-sandbox): "
                        f"{', '.join(unsandboxed)}. Their code ran with the grader's user rights."]
    not_graded = [r["student"] for r in records if r["report"] is None]
    if not_graded:
        summary += ["", f"Not graded: {', '.join(not_graded)} (see their feedback files)."]
    write_text_atomic(out / "summary.md", "\n".join(summary) + "\n")
    return {"students": len(records), "graded_now": len(todo), "out": str(out),
            "gradebook": str(out / "gradebook.csv"), "summary": str(out / "summary.md")}


def _write_json_atomic_mkdir(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)

"""The commands that teach: course (the notebooks out of the installed package), student (the student edition),
grade and grade-class, each registered beside its handler. Hand-written (no notebook): the command line; the work
is the course package's (videomae_minimal.course), which a student edition does not have."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from ..bundled import DATA, course_notebooks
from .options import CommandError, integer, number, progress

__all__ = ["NOT_GRADED_STATUS", "cmd_student", "cmd_course", "cmd_grade", "cmd_grade_class", "register"]


NOT_GRADED_STATUS = 3  # grade-class: the gradebook is written, but some students could not be graded


GRADE_CLASS_EXIT_CODES = """exit status:
  0  every student graded (a student's points may still be 0)
  3  the gradebook is written, but some students were not graded (a link, a
     FIFO or an unreadable file in their submission, a corrupt zip, a zip
     bomb, no notebooks): summary.md and their feedback say why; fix it, then
     grade-class --student NAME
  2  nothing graded: a usage error or a problem on the instructor's side (no
     such folder, a broken checkout)"""


def _course():
    "The course package (the student edition, the grader); a student edition has none, and says so."
    try:
        from .. import course
    except ModuleNotFoundError as e:
        if e.name != "videomae_minimal.course":
            raise
        raise CommandError("this copy of videomae_minimal is a student edition of the course: it has no grader and no "
                           "course tools (they stay with the instructor's checkout)") from e
    return course


def cmd_student(args) -> str:
    make_student = _course().make_student
    progress(f"writing the student version of the course to {args.out}")
    made = make_student(Path(args.out), args.source, reference=not args.no_reference)
    return (f"wrote {made['notebooks']} student notebooks ({made['exercises']} exercises, {made['points']:g} points) "
            f"and the package skeleton to {made['out']}")


def cmd_course(args) -> str:
    "Copy the course's notebooks (the core path, then appendix/) out of the installed package into a new folder."
    import shutil

    source, out = course_notebooks(), Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CommandError(f"--out {out}: already exists and is not an empty directory; choose a new path")
    names = sorted(p.name for p in source.glob("*.ipynb")), sorted(p.name for p in (source / "appendix").glob("*.ipynb"))
    if not names[0]:
        raise CommandError(f"{source}: no notebooks there (a broken installation? reinstall videomae-minimal)")
    new_folder = _course().new_folder  # complete or not at all

    with new_folder(out) as work:
        (work / "appendix").mkdir()
        for name in names[0]:
            shutil.copyfile(source / name, work / name)
        for name in names[1]:
            shutil.copyfile(source / "appendix" / name, work / "appendix" / name)
    return (f"copied {len(names[0])} notebooks and {len(names[1])} appendices to {out}: start with "
            f"{out / names[0][0]} (jupyter lab {out}). They read their clips and checkpoints from the package: {DATA}")


def cmd_grade(args) -> str:
    grade = _course().grade
    report = grade(Path(args.submission), args.source, timeout=args.timeout, notebooks=args.notebook, progress=progress,
                   jobs=args.jobs, sandbox=not args.no_sandbox)
    for warning in report["warnings"]:
        print(f"videomae-minimal grade: warning: {warning}", file=sys.stderr)
    if not report["sandbox"]:
        print("videomae-minimal grade: graded WITHOUT the sandbox (bubblewrap missing, not working, or --no-sandbox): "
              "student code ran with your user's rights", file=sys.stderr)
    if args.json:
        return json.dumps(report)
    width = max([len(e["name"]) for e in report["exercises"]] + [8])
    lines = [f"{e['notebook']:<30} {e['name']:<{width}} {e['points']:g}/{e['max']:g}  {e['message']}"
             for e in report["exercises"]]
    return "\n".join(lines + [f"total {report['total']:g}/{report['max']:g}"])


def cmd_grade_class(args) -> str:
    grade_class = _course().grade_class
    made = grade_class(Path(args.submissions), Path(args.out), args.source, timeout=args.timeout, notebooks=args.notebook,
                       jobs=args.jobs, force=args.force, progress=progress, sandbox=not args.no_sandbox,
                       students=args.student)
    text = (f"{made['students']} students ({made['graded_now']} graded now): wrote {made['gradebook']}, "
            f"{made['summary']} and a feedback file per student under {Path(made['out']) / 'feedback'}")
    if made["not_graded"]:  # exit status 3: the gradebook is written, but some rows need the instructor
        return (text + f"\nnot graded ({len(made['not_graded'])}, see {made['summary']}): "
                f"{', '.join(made['not_graded'])}", NOT_GRADED_STATUS)
    return text


def register(add) -> None:
    "The course's commands, course, student, grade and grade-class (`add`: the parser's add_parser)."
    student = add("student", help="write the student version of the course (solutions removed)",
                  description="Write the notebooks with every solution region replaced by "
                              "`raise NotImplementedError()` and hidden tests removed (outputs cleared, except "
                              "those of cells that do not depend on the student's code), and a package "
                              "skeleton exported from them, in which the course's reference stands in for an "
                              "exercise until the student exports a solved notebook.")
    student.add_argument("--out", required=True, help="directory to create (must not exist, or be empty)")
    student.add_argument("--source", help="the instructor's checkout (default: the one this package runs from)")
    student.add_argument("--no-reference", action="store_true",
                         help="leave out the course's reference (bytecode only, no source), which otherwise stands in "
                              "for the steps a student has not solved yet, so that a student stuck at 03 can run 07")
    student.set_defaults(run=cmd_student)

    course = add("course", help="copy the course's notebooks out of the installed package, to run them",
                 description="Copy the course's notebooks (00-10, then appendix/A1-A4, with their stored "
                             "outputs) into a new folder, for a learner who installed the package with pip. "
                             "They find their data (clips, checkpoints, labels) in the installed package.")
    course.add_argument("--out", required=True, help="directory to create (must not exist, or be empty)")
    course.set_defaults(run=cmd_course)

    grade = add("grade", help="grade a submission: each notebook in a fresh kernel, points per exercise",
                description="Run each submitted notebook in a fresh Jupyter kernel with a time limit per cell, "
                            "its self-checks replaced by the instructor's (hidden tests included), and report "
                            "the points of every exercise. A missing, crashing or hanging notebook costs only "
                            "its own exercises.")
    grade.add_argument("submission", help="directory holding the submitted notebooks (anywhere inside; matched by name and nbgrader metadata)")
    grade.add_argument("--json", action="store_true", help="print one JSON object")
    grade.add_argument("--timeout", type=number(0, above=True), default=60, help="seconds allowed per cell (default: %(default)s)")
    grade.add_argument("--jobs", type=integer(1), default=1, help="notebooks graded side by side (default: %(default)s)")
    grade.add_argument("--notebook", action="append", help="grade only this notebook (name or number prefix); repeatable")
    grade.add_argument("--source", help="the instructor's checkout (default: the one this package runs from)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run the kernels without bubblewrap (trusted submissions only)")
    grade.set_defaults(run=cmd_grade)

    grade_class = add("grade-class", help="grade a class: one folder or zip per student -> gradebook.csv, "
                                          "feedback per student, summary.md",
                      description=textwrap.fill(  # the epilog's layout is kept: this one is wrapped
                                  "Grade every student in SUBMISSIONS (a subfolder or .zip each, or "
                                  "LMS-named notebooks such as lastname_12345_67890_01_frame_sampling.ipynb) "
                                  "into --out. A student's stored report is reused while their files, "
                                  "the notebooks graded and the grader are unchanged, unless --force.", 79),
                      epilog=GRADE_CLASS_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    grade_class.add_argument("submissions", help="folder holding one subfolder or zip per student")
    grade_class.add_argument("--out", required=True, help="results folder (created; re-runs add to it)")
    grade_class.add_argument("--timeout", type=number(0, above=True), default=60, help="seconds allowed per cell (default: %(default)s)")
    grade_class.add_argument("--jobs", type=integer(1), default=1, help="students graded side by side (default: %(default)s)")
    grade_class.add_argument("--force", action="store_true", help="grade again students who have results already")
    grade_class.add_argument("--student", action="append",
                             help="grade again only this student (as named in the gradebook), keeping the other "
                                  "rows; repeatable")
    grade_class.add_argument("--notebook", action="append", help="grade only this notebook (name or number prefix); repeatable")
    grade_class.add_argument("--source", help="the instructor's checkout (default: the one this package runs from)")
    grade_class.add_argument("--no-sandbox", action="store_true",
                             help="run the kernels without bubblewrap (trusted submissions only)")
    grade_class.set_defaults(run=cmd_grade_class)

"""Grading one submission: each course notebook's graded copy (the instructor's checks put back), run in a sandboxed
kernel, its checks scored, trusted ones compared in this process."""
from __future__ import annotations

import ast
import copy
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .kernel import hidden_paths, run_notebook, sandbox_argv, sandbox_available, scratch_tree
from .notebooks import (GRADER_META, CourseError, Exercise, GradingError, cell_source, exercises, grader_cell_number,
                        grader_role, instructor_notebooks, nbgrader_meta, read_notebook, source_root)
from .submissions import match_submission, submitted_files, unpack
from .trusted_checks import TRUSTED_CHECKS, missing_hidden_module, module_dirs, prepared

__all__ = ['HIDDEN_MODULE_ERRORS', 'Result', 'graded_checks', 'graded_copy', 'grade_notebook', 'graded_notebooks', 'grade']

@dataclass
class Result:
    notebook: str
    exercise: str  # several graded checks may share one exercise (nbgrader's way of giving partial points)
    name: str
    points: float
    max: float
    passed: bool
    message: str


def _exercise_of(check_id: str, solution_id: str | None) -> str:
    "The exercise a check belongs to: its solution cell's grade_id without '_solution', else its own grade_id."
    if solution_id:
        return solution_id[:-len("_solution")] if solution_id.endswith("_solution") else solution_id
    return check_id


def graded_checks(nb: dict, notebook: str) -> list[tuple[Exercise, str]]:
    "Each graded check cell of an instructor notebook with the exercise it belongs to (the solution above it)."
    solution_id, found = None, []
    for check in exercises(nb, notebook):
        found.append(check)
    by_id = {e.name: e for e in found}
    out = []
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            solution_id = str(meta.get("grade_id"))
        if meta.get("grade") and cell.get("cell_type") == "code":
            out.append((by_id[str(meta.get("grade_id"))], _exercise_of(str(meta.get("grade_id")), solution_id)))
    return out

# ---------------------------------------------------------------------------------------------- the graded copy
def graded_copy(submitted: dict, instructor: dict, notebook: str = "") -> tuple[dict, list[str]]:
    """The submission with the instructor's self-check cells put back, hidden tests included, and warnings about
    what was odd. A check goes into the first cell carrying its grade_id (else its cell id) *after* the exercise's
    solution cell, so a copy of a check pasted above the solution is not the one graded: such copies are not run,
    and named in a warning. A deleted check is put back right after the solution cell (or at the end). Graded
    metadata on any other cell is dropped: only the instructor's checks count."""
    nb = copy.deepcopy(submitted)
    cells = nb["cells"]
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        cell["metadata"][GRADER_META] = {"cell": number}  # the number the student sees, for messages
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None

    def index(target: dict) -> int:
        return next(i for i, c in enumerate(cells) if c is target)

    def carrying(key: str, value) -> list[dict]:
        if value is None:
            return []
        if key == "grade_id":
            return [c for c in cells if nbgrader_meta(c).get("grade_id") == value and not grader_role(c)]
        return [c for c in cells if c.get("id") == value and not grader_role(c)]

    warnings, solution = [], None
    for check in instructor["cells"]:
        meta = nbgrader_meta(check)
        if meta.get("solution"):
            solution = check
        if not meta.get("grade") or check.get("cell_type") != "code":
            continue
        grade_id = meta["grade_id"]
        copies = carrying("grade_id", grade_id) or carrying("id", check.get("id"))
        solution_cell = None
        if solution is not None:
            found = carrying("grade_id", nbgrader_meta(solution).get("grade_id")) or carrying("id", solution.get("id"))
            solution_cell = found[0] if found else None
        after = [c for c in copies if solution_cell is None or index(c) > index(solution_cell)]
        restored = {"cell_type": "code", "id": check.get("id"), "metadata": copy.deepcopy(check["metadata"]),
                    "source": cell_source(check), "outputs": [], "execution_count": None}
        if after:
            restored["metadata"][GRADER_META] = {**after[0]["metadata"][GRADER_META], "role": "check"}
            cells[index(after[0])] = restored
        else:
            at = index(solution_cell) + 1 if solution_cell is not None else len(cells)
            restored["metadata"][GRADER_META] = {"cell": None, "role": "check"}
            cells.insert(at, restored)
        for duplicate in copies:
            if after and duplicate is after[0]:
                continue
            duplicate["metadata"]["nbgrader"] = {k: v for k, v in nbgrader_meta(duplicate).items() if k not in ("grade", "points")}
            duplicate["metadata"][GRADER_META]["role"] = "duplicate"
            where = (f"the one after your solution (cell {after[0]['metadata'][GRADER_META]['cell']})" if after
                     else "a fresh copy right after your solution")
            warnings.append(f"{notebook}: cell {duplicate['metadata'][GRADER_META]['cell']} is a copy of the self-check "
                            f"{grade_id!r}; it was not run, and {where} was graded. Keep one check cell per exercise.")
    for cell in cells:
        if not grader_role(cell) and nbgrader_meta(cell).get("grade"):
            cell["metadata"]["nbgrader"] = {k: v for k, v in nbgrader_meta(cell).items() if k not in ("grade", "points")}
    return nb, warnings


# ------------------------------------------------------------------------------------------------------ messages
def _error_message(content: dict) -> str:
    name, value = content.get("ename", "Error"), str(content.get("evalue", "")).strip()
    if name == "NotImplementedError" and not value:
        return "not implemented yet (NotImplementedError)"
    value = re.sub(r"\x1b\[[0-9;]*m", "", value)  # no terminal colours in a report
    value = re.sub(r" \(\d+\.py, line \d+\)$", "", value)  # IPython's temporary file name: the caller says the line
    message = f"{name}: {value}" if value else name
    return message if len(message) <= 400 else message[:397] + "..."


def _error_line(content: dict) -> int | None:
    "The line of the cell where an error happened, from IPython's traceback ('Cell In[4], line 3')."
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(content.get("traceback") or []))
    found = re.search(r"(?:Cell In\s*\[\d*\]|Input In\s*\[\d*\]|<ipython-input-[^>]*>), line (\d+)", text)
    return int(found.group(1)) if found else None


def _cell_error(content: dict, number: int | None, timeout: float) -> str:
    "One line for a failed cell: where, what ('cell 6, line 3: SyntaxError: invalid syntax')."
    where = f"cell {number}" if number else "a cell"
    if content.get("ename") == "Timeout":
        return f"{where} ran past the {timeout:g} s limit and was stopped"
    line = _error_line(content)
    return f"{where}{f', line {line}' if line else ''}: {_error_message(content)}"


# How a module hidden by the sandbox shows when a cell reaches for it: an empty namespace package in its place.
HIDDEN_MODULE_ERRORS = {"ImportError": r"from '([\w.]+)' \(unknown location\)",
                        "AttributeError": r"^module '([\w.]+)' has no attribute"}


def _caused_by_grader(reply: dict, hidden: set[str], package: list[str], unbound: set[str]) -> bool:
    """Whether a cell's error is the grading setup's doing, one the instructor's own notebook gets too, not the
    student's: a module the sandbox hides (`transformers`, for the trusted checks) missing, or present as an empty
    namespace ('cannot import name ... (unknown location)', "module 'transformers' has no attribute ..."); the
    package's copy of this notebook's own step, which is the skeleton in the grader's tree, raising
    NotImplementedError in the package's code (it does even when the student solved the step in the notebook); a
    NameError for a name that such a failed cell would have defined."""
    name, value = reply.get("ename", ""), str(reply.get("evalue", ""))
    if missing_hidden_module(reply, hidden):
        return True
    named = re.search(HIDDEN_MODULE_ERRORS[name], value) if name in HIDDEN_MODULE_ERRORS else None
    if named and named.group(1).split(".")[0] in hidden:
        return True
    if name == "NameError":
        undefined = re.search(r"name '(\w+)' is not defined", value)
        return bool(undefined and undefined.group(1) in unbound)
    if name == "NotImplementedError":
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(reply.get("traceback") or []))
        frames = re.findall(r"^(?:File |Cell In\s*\[|Input In\s*\[)(.*)$", text, re.M)
        return bool(frames) and frames[-1].startswith(tuple(package))  # raised in the package, not in a cell
    return False


def _bound_names(source: str) -> set[str]:
    "The names a cell defines outside its functions and classes (assigned, defined, imported)."
    code = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names, pending = set(), list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            pending += ast.iter_child_nodes(node)
    return names


# ------------------------------------------------------------------------------------------------------- grading
def _the_file(submission: Path, instructor_path: Path, candidates: list[Path] | None) -> Path | str:
    "The one file of `submission` that is this notebook, or why there is none (every exercise of it then fails)."
    if candidates is None:
        candidates = match_submission(submission, [instructor_path])[instructor_path.name]
    if not candidates:
        found = [p.relative_to(submission).as_posix() for p in submitted_files(submission)]
        return "notebook missing from the submission" + (f" (found: {', '.join(found)})" if found else "")
    if len(candidates) > 1:
        names = ", ".join(p.relative_to(submission).as_posix() for p in candidates)
        return f"ambiguous: {len(candidates)} files could be {instructor_path.name} ({names}); hand in exactly one"
    return candidates[0]


def _run_graded(graded: dict, root: Path, instructor_path: Path, instructor: dict, trusted: dict, bwrap,
                timeout: float) -> tuple[dict, str | None, dict, list[str]]:
    """Run the graded copy in a fresh kernel over a scratch tree (in the sandbox when `bwrap`), the trusted checks'
    cells swapped in with inputs drawn now. Returns (replies by cell index, why it stopped, the trusted verdicts by
    grade_id, the scratch package's paths as the kernel saw them)."""
    verdicts: dict[str, str | None] = {}  # grade_id -> None (matches) or what differs, for trusted checks that ran
    with tempfile.TemporaryDirectory(prefix="videomae-grade-") as scratch:
        tree = Path(scratch)
        scratch_tree(tree, root, instructor_path, instructor)
        (tree / "trusted").mkdir()
        expected = {}
        for cell in graded["cells"]:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grader_role(cell) == "check" and grade_id in trusted:
                inputs, expected[grade_id] = prepared(trusted[grade_id])
                if inputs is not None:
                    import torch

                    torch.save(inputs, tree / "trusted" / f"{grade_id}-inputs.pt")
                cell["source"] = trusted[grade_id].source(tree / "trusted" / f"{grade_id}.pt",
                                                          tree / "trusted" / f"{grade_id}-inputs.pt")
        package = [f"{folder}/videomae_minimal/" for folder in dict.fromkeys((str(tree), str(tree.resolve())))]
        hidden = hidden_paths(root) + [p for check in trusted.values() for p in module_dirs(check.hide)]
        argv = sandbox_argv(bwrap, tree, hidden) if bwrap else None
        replies, stopped = run_notebook(graded, tree, timeout, argv)
        for grade_id, check in trusted.items():
            index = next(i for i, c in enumerate(graded["cells"])
                         if grader_role(c) == "check" and nbgrader_meta(c).get("grade_id") == grade_id)
            if replies.get(index, {}).get("status") == "ok":
                verdicts[grade_id] = check.verdict(tree / "trusted" / f"{grade_id}.pt", expected.get(grade_id))
    return replies, stopped, verdicts, package


def _score(record: dict, graded: dict, checks: list, replies: dict, stopped: str | None, verdicts: dict,
           hidden_modules: set[str], package: list[str], timeout: float) -> dict:
    "The student's own errors, and each exercise's points and message, from the kernel's replies, into `record`."
    record["stopped"], record["cells_run"] = stopped, len(replies)
    record["code_cells"] = sum(c.get("cell_type") == "code" and grader_role(c) != "duplicate" for c in graded["cells"])
    first_error: dict[int, str] = {}  # cell index -> the message of the first error in the student's cells before it
    earliest, unbound = None, set()
    for index, cell in enumerate(graded["cells"]):
        first_error[index] = earliest
        reply = replies.get(index)
        if reply is None or reply.get("status") == "ok":
            continue
        if _caused_by_grader(reply, hidden_modules, package, unbound):
            unbound |= _bound_names(cell_source(cell))  # what the cell would have defined: its NameErrors follow
        elif grader_role(cell) is None:
            message = _cell_error(reply, grader_cell_number(cell), timeout)
            record["student_errors"].append(message)
            earliest = earliest or message
    at = {nbgrader_meta(cell)["grade_id"]: index for index, cell in enumerate(graded["cells"]) if grader_role(cell) == "check"}
    for e, exercise in checks:
        index = at[e.name]
        reply, number = replies.get(index), grader_cell_number(graded["cells"][index])
        where = f"the self-check (cell {number})" if number else "the self-check"
        if reply is None:
            message = stopped or f"{where} did not run"
        elif reply.get("status") == "ok" and verdicts.get(e.name) is None:
            record["results"].append(Result(e.notebook, exercise, e.name, e.points, e.points, True, "passed"))
            continue
        elif reply.get("status") == "ok":
            message = verdicts[e.name]
        elif reply.get("ename") == "Timeout":
            message = f"{where} ran past the {timeout:g} s limit and was stopped"
        else:
            message = _error_message(reply)
        if first_error[index] and reply is not None:  # the cause first: a SyntaxError, not the NameError it causes
            message = f"{first_error[index]}; then {where} failed: {message}"
        record["results"].append(Result(e.notebook, exercise, e.name, 0.0, e.points, False, message))
    return record


def grade_notebook(submission: Path, instructor_path: Path, root: Path, timeout: float,
                   candidates: list[Path] | None = None, sandbox: bool = True) -> dict:
    """Grade one course notebook of a submission. Returns {"notebook", "file", "results": [Result],
    "warnings", "student_errors", "cells_run", "code_cells", "stopped"}."""
    instructor = read_notebook(instructor_path)
    checks = graded_checks(instructor, instructor_path.name)
    record = {"notebook": instructor_path.name, "file": None, "results": [], "warnings": [], "student_errors": [],
              "cells_run": 0, "code_cells": 0, "stopped": None}
    if not checks:
        return record

    def all_fail(message: str) -> dict:
        record["results"] = [Result(e.notebook, exercise, e.name, 0.0, e.points, False, message) for e, exercise in checks]
        return record

    path = _the_file(submission, instructor_path, candidates)
    if isinstance(path, str):
        return all_fail(path)
    record["file"] = path.relative_to(submission).as_posix()
    try:
        submitted = read_notebook(path)
        graded, record["warnings"] = graded_copy(submitted, instructor, instructor_path.name)
    except (CourseError, KeyError, TypeError, AttributeError) as e:
        return all_fail(f"could not read the submitted notebook: {e}")
    bwrap = sandbox_available() if sandbox else None
    # Checks compared in this process: only under the sandbox, which can keep the reference out of the kernel.
    trusted = {e.name: TRUSTED_CHECKS[e.name] for e, _ in checks if e.name in TRUSTED_CHECKS} if bwrap else {}
    replies, stopped, verdicts, package = _run_graded(graded, root, instructor_path, instructor, trusted, bwrap, timeout)
    hidden_modules = {m for check in trusted.values() for m in check.hide}
    return _score(record, graded, checks, replies, stopped, verdicts, hidden_modules, package, timeout)



def graded_notebooks(root: Path, notebooks: list[str] | None) -> list[Path]:
    paths = [p for p in instructor_notebooks(root) if exercises(read_notebook(p), p.name)]
    if notebooks:
        def chosen(p: Path, n: str) -> bool:
            return p.name == n or p.stem == n or p.name.startswith(n)

        unknown = [n for n in notebooks if not any(chosen(p, n) for p in paths)]
        if unknown:
            raise CourseError(f"--notebook {', '.join(unknown)}: no graded notebook by that name "
                              f"(graded: {', '.join(p.stem for p in paths)})")
        paths = [p for p in paths if any(chosen(p, n) for n in notebooks)]
    return paths


def _graded_records(submission: Path, given: Path, paths: list[Path], root: Path, timeout: float, progress, jobs: int,
                    sandbox: bool) -> list[dict]:
    "Each course notebook's record (`grade_notebook`) for a copied submission; `given` is the path the user named."
    if not submitted_files(submission):
        raise GradingError(f"{given}: no notebooks (.ipynb files) in it or its subfolders")
    candidates = match_submission(submission, paths)
    records = []
    if jobs == 1:
        for path in paths:
            if progress:
                progress(f"grading {path.name}")
            records.append(grade_notebook(submission, path, root, timeout, candidates[path.name], sandbox))
    else:  # each notebook has its own kernel anyway: run several side by side, report in course order
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(grade_notebook, submission, path, root, timeout, candidates[path.name], sandbox)
                       for path in paths]
            for path, future in zip(paths, futures):
                records.append(future.result())
                if progress:
                    progress(f"graded {path.name}")
    return records


def grade(submission: Path, root: Path | None = None, timeout: float = 60.0, notebooks: list[str] | None = None,
          progress=None, jobs: int = 1, sandbox: bool = True) -> dict:
    """Grade a submission directory (its notebooks anywhere inside, matched by name and nbgrader metadata), `jobs`
    notebooks at a time. Returns {"total", "max", "sandbox", "warnings", "exercises": [{"notebook", "exercise",
    "name", "points", "max", "passed", "message"}], "notebooks": [{"notebook", "file", "cells_run", "code_cells",
    "stopped", "student_errors"}]}. Raises GradingError when it cannot grade (no notebooks, no kernel), and
    SubmissionError when the submission holds what the grader will not open (a link, a special file)."""
    root = source_root(root)
    submission = Path(submission)
    if not submission.is_dir():
        raise GradingError(f"{submission}: no such submission directory")
    if timeout <= 0:
        raise CourseError(f"--timeout must be positive, got {timeout}")
    if jobs < 1:
        raise CourseError(f"--jobs must be at least 1, got {jobs}")
    paths = graded_notebooks(root, notebooks)
    with tempfile.TemporaryDirectory(prefix="videomae-submission-") as copied:
        # Graded from a checked copy: no link inside followed, no special file opened, nothing changed while it runs
        # (the folder named here may itself be reached through a link: the user chose it).
        records = _graded_records(unpack(submission.resolve(), Path(copied)), submission, paths, root, timeout, progress, jobs,
                                  sandbox)
    results = [r for record in records for r in record["results"]]
    return {"total": sum(r.points for r in results), "max": sum(r.max for r in results),
            "sandbox": bool(sandbox and sandbox_available()),
            "warnings": [w for record in records for w in record["warnings"]],
            "exercises": [asdict(r) for r in results],
            "notebooks": [{k: v for k, v in record.items() if k not in ("results", "warnings")} for record in records]}

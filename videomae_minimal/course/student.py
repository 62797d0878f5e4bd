"""The student edition of the course: notebooks without solutions, a package skeleton exported from them, and the
course's reference as bytecode standing in for the steps not solved yet. It ships no grader: none of the grading
modules, hidden cases or comparison code (`make_student` copies no part of this package)."""
from __future__ import annotations

import ast
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..files import replace_atomic
from .notebooks import (GENERATED_HEADER, SOLUTION, CourseError, cell_source, course_notebooks, exercises,
                        read_notebook, source_root, student_notebook, write_json_atomic)

__all__ = ['STUDENT_README', 'new_folder', 'make_student', 'exercise_functions', 'REFERENCE_HOOK']

STUDENT_README = """# VideoMAE, step by step: your copy

Each notebook in `notebooks/` builds one step of VideoMAE. Where a cell says `# YOUR CODE HERE`, write the code;
the cell after each exercise is a self-check: run it, and it tells you what is still wrong.

Set up once, then open the notebooks:

```bash
python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[dev]"
.venv/bin/jupyter lab notebooks
```

`videomae_minimal/` is your package. Later notebooks import the earlier steps from it, so export each notebook
once its checks pass: `.venv/bin/python tools/export.py`. Until you do, the course's reference stands in for that
step, and says so once ("videomae_minimal: tube_mask is not solved yet (05_tube_masking): using the course's
reference"): stuck at 03, you can still work on 07. (If your instructor left the reference out, an unsolved step
raises `NotImplementedError` instead.) The cells whose results do not depend on your code keep the course's
outputs, figures included, so you can compare with yours.

## Handing in

- Submit the `notebooks/` folder (the `.ipynb` files) as they are. Keep the file names (`05_tube_masking.ipynb`);
  a renamed copy is usually recognised, but two files for one notebook score 0 for it ("ambiguous").
- Keep exactly one self-check cell per exercise, right after your solution. Do not copy a check cell elsewhere:
  the grader runs the instructor's check in the cell after your solution and ignores copies.
- Each cell has a time limit when graded (60 s by default). A cell that runs longer is stopped; a cell that
  cannot be stopped ends the grading of that notebook.
- The graded checks include hidden tests besides the ones you see: a check passing here is a good sign, not a
  guarantee. Your code runs in a sandbox without network, and without the course's solutions.
"""


@contextlib.contextmanager
def new_folder(out: Path):
    """A folder that appears at `out` complete or not at all: the block fills a temporary sibling, which becomes `out`
    (an ordinary folder, not mkdtemp's 0700) when the block ends, and is removed if it raises. `out` must not exist
    yet, or be an empty directory (the caller says which flag named it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield work
        if out.exists():
            out.rmdir()
        replace_atomic(work, out)  # ordinary permissions, then the rename
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def make_student(out: Path, root: Path | None = None, reference: bool = True) -> dict:
    """Write a student copy of the course to `out`: notebooks without solutions (with the outputs of the cells that
    do not depend on the student's code), a package skeleton exported from them, the exporter, the data. With
    `reference`, the package also holds the instructor's modules as bytecode only, standing in for the steps the
    student has not solved yet (`fallback.py`). `out` must not exist yet (or be empty); it appears complete or not
    at all."""
    root = source_root(root)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CourseError(f"--out {out}: already exists and is not an empty directory; choose a new path")
    with new_folder(out) as work:
        (work / "notebooks").mkdir()
        count, targets = {"notebooks": 0, "exercises": 0, "points": 0.0}, []
        for path in course_notebooks(root):  # the appendices too: the package skeleton is exported from all of them
            relative = path.relative_to(root / "notebooks")
            instructor = read_notebook(path)
            nb = student_notebook(instructor, f"notebooks/{relative.as_posix()}", keep_independent_outputs=True)
            targets += exercise_functions(instructor, path.stem)
            (work / "notebooks" / relative).parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(work / "notebooks" / relative, nb)
            found = exercises(nb, path.name)
            count["notebooks"] += 1
            count["exercises"] += len(found)
            count["points"] += sum(e.points for e in found)
        for name in ("pyproject.toml", "constraints.txt", "notebooks/nbval_sanitize.cfg", "tools/export.py"):
            if (root / name).exists():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, work / name)
        (work / "README.md").write_text(STUDENT_README, encoding="utf-8")
        (work / "videomae_minimal").mkdir()
        # the data (clips, checkpoints, labels): the notebooks read it through the package (bundled.py), as in a clone
        shutil.copytree(root / "data", work / "data", ignore=shutil.ignore_patterns(".*"))
        for module in sorted((root / "videomae_minimal").glob("*.py")):
            with module.open(encoding="utf-8") as f:
                generated = f.readline().startswith(GENERATED_HEADER)
            if not generated:  # hand-written: __init__, config, cli (not this package: the edition has no grader)
                shutil.copy2(module, work / "videomae_minimal" / module.name)
        # the command line, hand-written too (its `teach` commands say that a student edition has no grader)
        shutil.copytree(root / "videomae_minimal" / "cli", work / "videomae_minimal" / "cli",
                        ignore=shutil.ignore_patterns("__pycache__"))
        # The skeleton: the exporter run on the student notebooks, so every exercise raises NotImplementedError.
        done = subprocess.run([sys.executable, str(work / "tools" / "export.py")], capture_output=True, text=True)
        if done.returncode != 0:
            raise CourseError(f"exporting the student notebooks failed: {done.stderr.strip() or done.stdout.strip()}")
        if reference:
            _write_reference(root / "videomae_minimal", work / "videomae_minimal", targets)
    return {**count, "out": str(out)}


def exercise_functions(nb: dict, notebook: str) -> list[dict]:
    """The functions an instructor notebook's exported solutions sit in: {"module", "qualname", "notebook"} each
    (`SelfAttention.forward` for a region inside that method)."""
    module, found = None, []
    for cell in nb["cells"]:
        source = cell_source(cell)
        directives = [line.strip() for line in source.split("\n") if line.strip().startswith("#|")]
        module = next((d.split()[-1] for d in directives if d.startswith("#| default_exp")), module)
        if "#| export" not in directives or SOLUTION[0] not in source:
            continue
        starts = [n for n, line in enumerate(source.split("\n"), 1) if line.strip() == SOLUTION[0]]

        def enclosing(body, prefix, line):
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                        node.lineno <= line <= node.end_lineno:
                    inner = enclosing(node.body, f"{prefix}{node.name}.", line)
                    return inner or (f"{prefix}{node.name}" if not isinstance(node, ast.ClassDef) else None)
            return None

        tree = ast.parse(source)
        for line in starts:
            qualname = enclosing(tree.body, "", line)
            if qualname and module and not any(f["qualname"] == qualname for f in found):
                found.append({"module": module, "qualname": qualname, "notebook": notebook})
    return found


REFERENCE_HOOK = """

# Student edition: the course's reference stands in for the exercises not solved yet (videomae_minimal/fallback.py).
from .fallback import use_reference_for_unsolved_steps as _use_reference

_use_reference()
"""


def _write_reference(instructor_package: Path, package: Path, targets: list[dict]) -> None:
    """The instructor's modules as bytecode only in `package/_reference/` (their source is not shipped), the
    exercises they stand in for, and the hook in the student's `__init__.py`."""
    import py_compile

    reference = package / "_reference"
    reference.mkdir()
    (reference / "__init__.py").write_text('"The course\'s reference, bytecode only: see videomae_minimal/fallback.py."\n',
                                           encoding="utf-8")
    for module in sorted(instructor_package.glob("*.py")):
        if module.name not in ("__init__.py", "__main__.py", "fallback.py"):
            py_compile.compile(str(module), cfile=str(reference / f"{module.stem}.pyc"),
                               dfile=f"<the course's reference: {module.name}>", doraise=True)
    (reference / "exercises.json").write_text(json.dumps(targets, indent=1) + "\n", encoding="utf-8")
    with (package / "__init__.py").open("a", encoding="utf-8") as f:
        f.write(REFERENCE_HOOK)

"""Student edition only: the course's reference stands in for the steps a student has not solved yet. By hand.

`videomae-minimal student` puts the instructor's modules, compiled to bytecode only (no source to read), in
`videomae_minimal/_reference/`, and lists every exercise in `_reference/exercises.json`: its module, its function
(`sinusoid_table`, `SelfAttention.forward`) and its notebook. The student's `__init__.py` calls
`use_reference_for_unsolved_steps()` once, after importing the steps. Each exercise that is still the skeleton
(`# YOUR CODE HERE` over `raise NotImplementedError()`) is then replaced by the reference's code, which says so in one
line the first time it runs; so a student stuck at 03 can still run 07. A step the student has solved and exported is
left alone, right or wrong. In the instructor's package (no `_reference/`) this does nothing.

It never runs while grading: the grader builds its own package for each kernel, without `_reference/`.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import types
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "_reference"
SKELETON = ("# YOUR CODE HERE", "raise NotImplementedError()")  # what the student edition puts in a solution region


def unsolved(function) -> bool:
    "Whether a function is still the student edition's skeleton."
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return all(marker in source for marker in SKELETON)


def _announced(reference, student, note: str):
    "The reference's code in the student's function's place, saying so on stderr the first time it runs."
    code = reference.__code__
    names = set(code.co_names)
    # The student's module globals, so the result is the student's own classes; the reference's where a name the
    # code needs lives only there (a helper inside a solution region).
    scope = student.__globals__ if all(n in student.__globals__ or n not in reference.__globals__ for n in names) \
        else reference.__globals__
    body = types.FunctionType(code, scope, student.__name__, reference.__defaults__, reference.__closure__)
    body.__kwdefaults__ = reference.__kwdefaults__
    told = []

    @functools.wraps(student)
    def stand_in(*args, **kwargs):
        if not told:
            told.append(True)
            print(note, file=sys.stderr)
        return body(*args, **kwargs)

    stand_in.__videomae_reference__ = True
    return stand_in


def use_reference_for_unsolved_steps(package: str = "videomae_minimal") -> list[str]:
    """Replace each unsolved exercise with the reference; returns their names ('04 sinusoid_table', say)."""
    table = REFERENCE / "exercises.json"
    if not table.is_file():
        return []
    replaced = []
    for entry in json.loads(table.read_text(encoding="utf-8")):
        module = importlib.import_module(f"{package}.{entry['module']}")
        *path, name = entry["qualname"].split(".")
        owner = functools.reduce(getattr, path, module)
        student = inspect.getattr_static(owner, name, None)
        if not inspect.isfunction(student) or not unsolved(student):
            continue
        try:
            reference_module = importlib.import_module(f"{package}._reference.{entry['module']}")
        except ImportError as e:  # bytecode of another Python version: the skeleton stays, and says why once
            print(f"videomae_minimal: the course's reference for unsolved steps cannot be loaded here ({e}); "
                  "unsolved steps raise NotImplementedError", file=sys.stderr)
            return replaced
        reference = functools.reduce(getattr, [*path, name], reference_module)
        where = f"{entry['notebook']} {entry['qualname']}"
        stand_in = _announced(reference, student, f"videomae_minimal: {entry['qualname']} is not solved yet "
                                                  f"({entry['notebook']}): using the course's reference")
        setattr(owner, name, stand_in)
        if not path:  # other modules imported the function by name (`from .positions import sinusoid_table`)
            for other in list(sys.modules.values()):
                if getattr(other, "__name__", "").split(".")[0] == package and getattr(other, name, None) is student:
                    setattr(other, name, stand_in)
        replaced.append(where)
    return replaced

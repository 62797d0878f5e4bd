"""The one thing pyproject.toml cannot say: a wheel carries the course's notebooks.

`notebooks/` stays the only source, where the course and its tests expect it. When a wheel is built, its
notebooks (the core path and appendix/, with their stored outputs) are copied into the wheel's
videomae_minimal/notebooks/, as package data, for `videomae-minimal course --out DIR`. An editable install
reads the checkout's notebooks/ instead (videomae_minimal/bundled.py: course_notebooks).
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildPyWithNotebooks(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "videomae_minimal" / "notebooks"
        found = sorted(NOTEBOOKS.glob("*.ipynb")) + sorted((NOTEBOOKS / "appendix").glob("*.ipynb"))
        if not found:
            raise SystemExit(f"{NOTEBOOKS}: no notebooks to put in the wheel (an sdist without notebooks/?)")
        for notebook in found:
            copy = target / notebook.relative_to(NOTEBOOKS)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, copy)


setup(cmdclass={"build_py": BuildPyWithNotebooks})

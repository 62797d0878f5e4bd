"""The files that ship inside the package, found through importlib.resources. Hand-written (no notebook).

The tiny checkpoints, the sample clips, the label lists and notebook 10's measured findings live in
`videomae_minimal/data/` (sources and licences in its README.md), so a clone, an editable install and an installed
wheel find them the same way: the notebooks, the command line and the tests all read them from here. The course's
notebooks ship in a wheel too (`videomae_minimal/notebooks/`, copied there by setup.py when the wheel is built);
in a clone they are the checkout's `notebooks/`, the only source.
"""
from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from pathlib import Path

_EXTRACTED = contextlib.ExitStack()  # only for a package imported from a zip: its resources, unpacked for this process
atexit.register(_EXTRACTED.close)


def _path(name: str) -> Path:
    "A resource folder of this package as a real path (unpacked to a temporary folder if the package is zipped)."
    resource = files(__package__) / name
    return resource if isinstance(resource, Path) else _EXTRACTED.enter_context(as_file(resource))


DATA = _path("data")
VIDEOS = DATA / "videos"
CHECKPOINTS = DATA / "checkpoints"
LABELS = DATA / "labels"
MOTION_CLIPS = VIDEOS / "synthetic_motion"  # the demo's 8 clips: `make-synthetic ... --num 8 --seed 7`
TINY_PRETRAINED = CHECKPOINTS / "tiny-pretrained"
TINY_FINETUNED = CHECKPOINTS / "tiny-finetuned"
MINIATURE_PRETRAINED = CHECKPOINTS / "miniature-pretrained"  # notebook 10's miniature: make findings' 90% tube run
FINDINGS = DATA / "findings.json"  # notebook 10's measured findings (benchmarks/findings.py)


def course_notebooks() -> Path:
    """The folder holding the course's notebooks (NN_*.ipynb, appendix/A*.ipynb): the checkout's `notebooks/` in a
    clone or an editable install, the copy inside the package in an installed wheel."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "notebooks"
    shipped = _path("notebooks")
    if not shipped.is_dir():
        raise FileNotFoundError(f"{shipped}: the course's notebooks are not in this installation of videomae_minimal "
                                "(a wheel built by `python -m build` carries them; so does a clone's notebooks/)")
    return shipped

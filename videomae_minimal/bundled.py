"""The files that ship inside the package, found through importlib.resources. Hand-written (no notebook).

The tiny checkpoints, the sample clips, the label lists and notebook 10's measured findings live in the
repository's top-level `data/` (sources and licences in its README.md), its one copy. A wheel (and the sdist) carries
it as package data, `videomae_minimal/data/` (pyproject.toml maps the package `videomae_minimal.data` to `data/`).
So a clone and an editable install read the checkout's `data/`, an installed wheel its own copy; the notebooks, the
command line and the tests all find it through the names here. The course's notebooks go the same way: the
checkout's `notebooks/`, the only source, or in a wheel `videomae_minimal/notebooks/` (copied there by setup.py).
"""
from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["DATA", "VIDEOS", "CHECKPOINTS", "LABELS", "MOTION_CLIPS", "TINY_PRETRAINED", "TINY_FINETUNED",
           "MINIATURE_PRETRAINED", "REAL_VIDEO_PRETRAINED", "FINDINGS", "course_notebooks"]

_EXTRACTED = contextlib.ExitStack()  # only for a package imported from a zip: its resources, unpacked for this process
atexit.register(_EXTRACTED.close)


def _path(name: str) -> Path:
    "A resource folder of this package as a real path (unpacked to a temporary folder if the package is zipped)."
    resource = files(__package__) / name
    return resource if isinstance(resource, Path) else _EXTRACTED.enter_context(as_file(resource))


def _checkout() -> Path | None:
    "The repository this package is imported from (a clone or an editable install), or None in an installed wheel."
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None  # a wheel's parent folder is site-packages


def _data_folder() -> Path:
    "The checkout's top-level data/ (the one copy in the repository), else the copy a wheel carries in the package."
    checkout = _checkout()
    if checkout is not None and (checkout / "data").is_dir():
        return checkout / "data"
    return _path("data")


DATA = _data_folder()
VIDEOS = DATA / "videos"
CHECKPOINTS = DATA / "checkpoints"
LABELS = DATA / "labels"
MOTION_CLIPS = VIDEOS / "synthetic_motion"  # the demo's 8 clips: `make-synthetic ... --num 8 --seed 7`
TINY_PRETRAINED = CHECKPOINTS / "tiny-pretrained"
TINY_FINETUNED = CHECKPOINTS / "tiny-finetuned"
MINIATURE_PRETRAINED = CHECKPOINTS / "miniature-pretrained"  # notebook 10's miniature: make findings' 90% tube run
REAL_VIDEO_PRETRAINED = CHECKPOINTS / "real-video-pretrained"  # 07's model of real video (benchmarks/real_video_model.py)
FINDINGS = DATA / "findings.json"  # notebook 10's measured findings (benchmarks/findings.py)


def course_notebooks() -> Path:
    """The folder holding the course's notebooks (NN_*.ipynb, appendix/A*.ipynb): the checkout's `notebooks/` in a
    clone or an editable install, the copy inside the package in an installed wheel."""
    checkout = _checkout()
    if checkout is not None and (checkout / "notebooks").is_dir():
        return checkout / "notebooks"
    shipped = _path("notebooks")
    if not shipped.is_dir():
        raise FileNotFoundError(f"{shipped}: the course's notebooks are not in this installation of videomae_minimal "
                                "(a wheel built by `python -m build` carries them; so does a clone's notebooks/)")
    return shipped

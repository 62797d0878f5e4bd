"""The package outside a clone: `python -m build` makes an sdist and a wheel (from the sdist), the wheel installs into
a fresh virtual environment, and its commands run from an unrelated folder with only what the wheel carries.

Cheap by design (seconds): the fresh venv gets no copy of torch or transformers. Its one .pth line adds this
environment's site-packages for the dependencies; a plain path line does not run the .pth files found there, so
this checkout's editable install is not active in it, and the test checks that videomae_minimal is imported from
the fresh venv's own site-packages. pip installs the wheel with --no-deps --no-index: nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from conftest import ROOT

DATA = ROOT / "data"
NOTEBOOKS = ROOT / "notebooks"


def run(argv, cwd, timeout=300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**env, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_runs_demo_classify_and_course_outside_the_clone(tmp_path):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT], cwd=tmp_path)
    (wheel,), (sdist,) = dist.glob("*.whl"), dist.glob("*.tar.gz")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = {f"videomae_minimal/data/{p.relative_to(DATA).as_posix()}" for p in DATA.rglob("*") if p.is_file()}
    notebooks = {f"videomae_minimal/notebooks/{p.relative_to(NOTEBOOKS).as_posix()}"
                 for p in [*NOTEBOOKS.glob("*.ipynb"), *NOTEBOOKS.glob("appendix/*.ipynb")]}
    assert data - shipped == set() and notebooks - shipped == set(), (data | notebooks) - shipped
    assert "videomae_minimal/data/README.md" in shipped  # the licences travel with the data

    fresh = tmp_path / "fresh"
    run([sys.executable, "-m", "venv", "--without-pip", fresh], cwd=tmp_path)
    python = fresh / "bin" / "python"
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., and pip
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation", wheel], tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = json.loads(run([python, "-c", "import json, videomae_minimal, videomae_minimal.bundled as b; "
                                          "print(json.dumps([videomae_minimal.__file__, str(b.DATA), "
                                          "str(b.course_notebooks())]))"], elsewhere).stdout)
    assert all(Path(p).is_relative_to(purelib) for p in where), (where, purelib)  # the wheel's copy, not the clone
    installed = Path(where[1])

    demo = run([fresh / "bin" / "videomae-minimal", "demo", "--out", "demo.png"], elsewhere)
    assert (elsewhere / "demo.png").stat().st_size > 10_000
    assert "8 of 8 correct" in demo.stdout, demo.stdout  # against the clips' own labels (labels.csv)

    clip = installed / "videos" / "synthetic_motion" / "004_rotate_clockwise.mp4"
    classify = run([fresh / "bin" / "videomae-minimal", "classify", clip, "--checkpoint",
                    installed / "checkpoints" / "tiny-finetuned", "--rate", "1", "--json"], elsewhere)  # the clip's 16 frames
    predictions = json.loads(classify.stdout)["predictions"]
    assert predictions[0]["label"] == "rotate_clockwise", predictions

    course = run([fresh / "bin" / "videomae-minimal", "course", "--out", "my-course"], elsewhere)
    copied = sorted(p.relative_to(elsewhere / "my-course").as_posix() for p in (elsewhere / "my-course").rglob("*.ipynb"))
    assert copied == sorted(n.removeprefix("videomae_minimal/notebooks/") for n in notebooks), course.stdout
    assert (elsewhere / "my-course" / "05_tube_masking.ipynb").read_bytes() == (NOTEBOOKS / "05_tube_masking.ipynb").read_bytes()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["demo.png", "my-course"]  # nothing else written there

"""The package outside a clone: `python -m build` makes an sdist and a wheel (from the sdist), the wheel installs into
a fresh virtual environment, and its commands run from an unrelated folder with only what the wheel carries. And the
other way in: an editable install of this checkout reads the checkout's top-level data/ and notebooks/.

Cheap by design (seconds): the fresh venv gets no copy of torch or transformers. Its one .pth line adds this
environment's site-packages for the dependencies; a plain path line does not run the .pth files found there, so
this checkout's editable install is not active in it, and the test checks that videomae_minimal is imported from
the fresh venv's own site-packages. pip installs with --no-index: nothing is downloaded, and the requirements of
the wheel's [course] extra must be met by what this environment already has.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

from conftest import ROOT

DATA = ROOT / "data"
NOTEBOOKS = ROOT / "notebooks"
WHERE = ("import json, videomae_minimal, videomae_minimal.bundled as b; "
         "print(json.dumps([videomae_minimal.__file__, str(b.DATA), str(b.course_notebooks())]))")


def run(argv, cwd, timeout=300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**env, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def fresh_venv(folder: Path) -> tuple[Path, Path]:
    "A venv without pip or any package of its own; this environment's site-packages lends it the dependencies."
    run([sys.executable, "-m", "venv", "--without-pip", folder], cwd=folder.parent)
    python = folder / "bin" / "python"
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], folder).stdout.strip())
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., and pip
    return python, purelib


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
    assert not any(name.startswith("data/") for name in shipped)  # inside the package, not a top-level 'data' module
    licence = [n for n in shipped if n.endswith(".dist-info/licenses/LICENSE")]
    assert len(licence) == 1 and zipfile.ZipFile(wheel).read(licence[0]) == (ROOT / "LICENSE").read_bytes(), licence
    metadata = zipfile.ZipFile(wheel).read(next(n for n in shipped if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "Provides-Extra: course" in metadata, metadata[:1500]
    in_sdist = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
    assert {"LICENSE", "CITATION.cff", "CHANGELOG.md", "data/README.md"} <= in_sdist
    assert not any(name.startswith("videomae_minimal/data") for name in in_sdist)  # the repository's one copy: data/

    fresh = tmp_path / "fresh"
    python, purelib = fresh_venv(fresh)
    run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", f"{wheel}[course]",
         "-c", ROOT / "constraints.txt"], tmp_path)  # README's install line, its requirements met from here

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = json.loads(run([python, "-c", WHERE], elsewhere).stdout)
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
    promised = re.search(r'course --out my-course +# "(copied \d+ notebooks and \d+ appendices to my-course)',
                         (ROOT / "README.md").read_text())
    assert promised and promised[1] in course.stdout, (promised, course.stdout)  # what the README says it prints
    assert sorted(p.name for p in elsewhere.iterdir()) == ["demo.png", "my-course"]  # nothing else written there


def test_an_editable_install_reads_the_checkouts_data_and_notebooks(tmp_path):
    python, purelib = fresh_venv(tmp_path / "fresh")
    run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", "--no-deps", "-e", ROOT],
        tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = [Path(p) for p in json.loads(run([python, "-c", WHERE], elsewhere).stdout)]
    assert where == [ROOT / "videomae_minimal" / "__init__.py", DATA, NOTEBOOKS], where
    assert any(purelib.glob("__editable__*videomae_minimal*")), sorted(p.name for p in purelib.iterdir())  # pip's own
    clip = DATA / "videos" / "synthetic_motion" / "006_grow.mp4"
    classify = run([tmp_path / "fresh" / "bin" / "videomae-minimal", "classify", clip.relative_to(ROOT),
                    "--checkpoint", "data/checkpoints/tiny-finetuned", "--rate", "1", "--json"], ROOT)  # as README says
    assert json.loads(classify.stdout)["predictions"][0]["label"] == "grow", classify.stdout

"""tools/course_stats.py: the course keeps its own rules (line budget, figures, opening blocks, try-it, next links),
and the check fails when a notebook breaks one."""
import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT

CORE = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
APPENDICES = sorted(p.name for p in (ROOT / "notebooks" / "appendix").glob("*.ipynb"))


def run(root, *args):
    return subprocess.run([sys.executable, str(root / "tools" / "course_stats.py"), *args], capture_output=True, text=True)


def test_the_course_keeps_its_rules():
    result = run(ROOT, "--check")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert CORE[0] == "00_overview.ipynb" and CORE[-1] == "10_train_tiny.ipynb" and len(CORE) == 11
    assert APPENDICES == ["A1_reading_real_videos.ipynb", "A2_checkpoint_formats_and_safety.ipynb",
                          "A3_training_runs_that_survive.ipynb", "A4_using_it_like_transformers.ipynb",
                          "A5_finetune_on_your_clips.ipynb"]
    for name in CORE + [f"appendix/{a}" for a in APPENDICES]:
        exported, figures, try_it = (int(v) for v in rows[name][1:4])
        assert int(rows[name][4]) > 0  # a reading time
        if name.startswith("appendix/"):
            assert exported > 0, name  # every appendix exports its module
        else:
            assert figures >= 1 and 2 <= try_it <= 4, name
    core_total = int(rows["core"][4])  # "core path in all  <lines> ..."
    assert core_total == sum(int(rows[name][1]) for name in CORE) <= 1200


@pytest.fixture
def scratch(tmp_path):
    "A copy of the course (notebooks and tools only) to break."
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def edit(path, change):
    nb = json.loads(path.read_text())
    change(nb["cells"])
    path.write_text(json.dumps(nb))


def test_a_missing_figure_opening_or_link_fails_the_check(scratch):
    def no_figures(cells):
        for cell in cells:
            for output in cell.get("outputs", []):
                output.get("data", {}).pop("image/png", None)

    def no_opening_or_next(cells):
        first = next(c for c in cells if c["cell_type"] == "markdown")
        first["source"] = "# 05 · Tube masking\n"
        for cell in cells:
            source = "".join(cell["source"])
            cell["source"] = source.replace("**Next:**", "Next:")

    edit(scratch / "notebooks" / "04_sinusoidal_positions.ipynb", no_figures)
    edit(scratch / "notebooks" / "05_tube_masking.ipynb", no_opening_or_next)
    result = run(scratch, "--check")
    assert result.returncode == 1
    assert "04_sinusoidal_positions.ipynb: no PNG figure" in result.stderr
    assert "05_tube_masking.ipynb: the opening block lacks **You will build**, **You need**, **Time**, **Paper**" in result.stderr
    assert "05_tube_masking.ipynb: its **Next:** link is None, expected '06_sdpa_encoder.ipynb'" in result.stderr


def test_the_line_budget_fails_the_check(scratch):
    path = scratch / "notebooks" / "04_sinusoidal_positions.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("#| export\n" + "\n".join(f"PADDING_{i} = {i}" for i in range(300))))
    nbformat.write(nb, path)
    result = run(scratch, "--check")
    assert result.returncode == 1
    assert "the core path exports" in result.stderr and "over the budget of 1200" in result.stderr

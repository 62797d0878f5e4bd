"""tools/course_stats.py: the course keeps its own rules (line budget, figures, opening blocks, try-it, next links),
and the check fails when a notebook breaks one."""
import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib

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
    assert core_total == sum(int(rows[name][1]) for name in CORE) <= 1225


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
    assert "the core path exports" in result.stderr and "over the budget of 1225" in result.stderr


# --- the core teaches VideoMAE only; the numbers the README and 00 state are the measured ones; install cells ---

ENGINEERING = ("torchrun", "gradient_checkpointing", "return_dict", "problem_type", "LOCAL_RANK")


def code_cells(path):
    "Each code cell's Python: without IPython magics and the exporter's `#|` directives."
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    return ["\n".join(line for line in s.splitlines() if not line.lstrip().startswith(("%", "!", "#|"))) for s in sources]


def test_no_core_code_cell_holds_engineering():
    "01-10 teach the model: running under torchrun and transformers' calling conventions live in A3 and A4."
    found = [(name, word) for name in CORE if name != "00_overview.ipynb"
             for source in code_cells(ROOT / "notebooks" / name) for word in ENGINEERING if word in source]
    assert not found, found
    appendix = "\n".join(s for a in ("A3_training_runs_that_survive.ipynb", "A4_using_it_like_transformers.ipynb")
                         for s in code_cells(ROOT / "notebooks" / "appendix" / a))
    assert all(word in appendix for word in ENGINEERING if word != "LOCAL_RANK")  # moved, not dropped


def test_engineering_in_a_core_code_cell_fails_the_check(scratch):
    def add_return_dict(cells):
        cell = next(c for c in cells if c["cell_type"] == "code" and "class VideoMAEModel" in "".join(c["source"]))
        cell["source"] = "".join(cell["source"]).replace("output_attentions: bool = False)", "return_dict=None)")

    edit(scratch / "notebooks" / "06_sdpa_encoder.ipynb", add_return_dict)
    result = run(scratch, "--check")
    assert result.returncode == 1
    assert "06_sdpa_encoder.ipynb: a core code cell uses return_dict" in result.stderr


def test_reading_time_is_the_stated_rate(scratch):
    "A notebook of 1,600 words of prose, 96 lines of code and 4 figures: 10 + 10 + 5 = 25 minutes at the stated rate."
    path = scratch / "notebooks" / "appendix" / "A9_measured.ipynb"
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A9\n**You are** here. **Adds to** 10.\n" + "word " * 1588),  # 1,600 words in all
        nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(96)),
                                  outputs=[nbformat.from_dict(png) for _ in range(4)])])
    nbformat.write(nb, path)
    result = run(scratch)
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith("appendix/A9_measured"))
    assert row[4:6] == ["25", "min"], row


def test_readme_and_overview_state_the_measured_numbers(scratch):
    "The README's and 00's times, the README's hours and exercise count: a wrong one fails the check, --write mends it."
    shutil.copy(ROOT / "README.md", scratch / "README.md")
    assert run(scratch, "--check").returncode == 0
    readme = (scratch / "README.md").read_text()
    readme = re.sub(r"(\(notebooks/05_tube_masking\.ipynb\).*\| )(\d+)( min \|)", lambda m: m[1] + "95" + m[3], readme)
    readme = readme.replace("Ten exercises", "Nine exercises")
    (scratch / "README.md").write_text(readme)

    def slow_map(cells):
        for cell in cells:
            cell["source"] = re.sub(r"(\(02_processing\.ipynb\).*\| )(\d+)( min \|)", lambda m: m[1] + "95" + m[3],
                                    "".join(cell["source"]))

    edit(scratch / "notebooks" / "00_overview.ipynb", slow_map)
    result = run(scratch, "--check")
    assert result.returncode == 1
    assert "README.md: notebooks/05_tube_masking.ipynb is listed at 95 min" in result.stderr
    assert "README.md: says Nine exercises (23 points); the notebooks have ten (23 points)" in result.stderr
    assert "00's course map: 02_processing.ipynb is listed at 95 min" in result.stderr
    assert run(scratch, "--write").returncode == 0
    assert run(scratch, "--check").returncode == 0
    assert "Ten exercises" in (scratch / "README.md").read_text()


def test_the_readme_counts_every_exercise():
    "Counted here from the nbgrader metadata, apart from the tool: the README's 'N exercises ... (P points)'."
    metas = [c["metadata"].get("nbgrader", {}) for name in CORE for c in json.loads((ROOT / "notebooks" / name).read_text())["cells"]
             if c["cell_type"] == "code"]  # a written "try it" answer is a markdown solution cell, not an exercise
    count, points = sum(bool(m.get("solution")) for m in metas), sum(m.get("points", 0) for m in metas if m.get("grade"))
    words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    text = " ".join((ROOT / "README.md").read_text().split())
    assert f"{words[count].capitalize()} exercises" in text and f"({points} points)" in text, (count, points)


def third_party_imports(path) -> set[str]:
    found = set()
    for source in code_cells(path):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names}


def install_cell_needs(path) -> dict:
    "The {module: pip package} the notebook's install cell checks for (its `notebook_needs = {...}`)."
    cell = next(s for s in code_cells(path) if '"pip", "install"' in s)
    tree = ast.parse(cell)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.targets[0].id == "notebook_needs")
    return ast.literal_eval(node.value)


NOTEBOOK_PATHS = [ROOT / "notebooks" / n for n in CORE] + [ROOT / "notebooks" / "appendix" / a for a in APPENDICES]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.stem)
def test_each_install_cell_installs_what_its_notebook_imports(path):
    "Downloaded alone (Colab), a notebook installs the package and every other module it imports, from PyPI."
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    provided = {re.split(r"[<>=\[ ;]", requirement)[0].replace("-", "_") for requirement in base}  # torch, numpy, av, ...
    needs = install_cell_needs(path)
    assert needs.get("videomae_minimal") == "videomae-minimal"
    assert third_party_imports(path) - provided - set(needs) == set()
    # nothing it does not use; onnx and onnxscript run under torch.onnx, accelerate under transformers' Trainer (A4)
    assert set(needs) - {"videomae_minimal", "onnx", "onnxscript", "accelerate"} <= third_party_imports(path)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.stem)
def test_each_install_cell_is_a_no_op_where_everything_is_installed(path, monkeypatch):
    "Here every module is present: the cell does not call pip (the tests run offline); a missing one it installs."
    cell = next(s for s in code_cells(path) if '"pip", "install"' in s)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **options: calls.append(argv))
    exec(compile(cell, str(path), "exec"), {})
    assert calls == []
    one_missing = cell.replace("notebook_needs = {", "notebook_needs = {'no_such_module_here': 'no-such-package', ", 1)
    exec(compile(one_missing, str(path), "exec"), {})
    assert len(calls) == 1 and calls[0][-3:] == ["install", "--quiet", "no-such-package"], calls

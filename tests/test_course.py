"""Course assignments: student versions of the notebooks, their package skeleton, and the grader.

The grading tests run real notebooks in real kernels (about a minute per full submission): the instructor's own
notebooks must score full marks, untouched student notebooks zero, and anything in between exactly what was solved.
"""
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import ROOT
from videomae_minimal import course

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GRADED = [p for p in NOTEBOOKS if course.exercises(course._read_notebook(p), p.name)]
CLI = [sys.executable, "-m", "videomae_minimal"]


def instructor(name):
    return course._read_notebook(ROOT / "notebooks" / name)


def write(nb: dict, path):
    path.write_text(json.dumps(nb), encoding="utf-8")


@pytest.fixture(scope="session")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("course") / "student"
    course.make_student(out)
    return out


def submission_from(student_dir, tmp_path, replace: dict):
    "A submission: the student notebooks, with some replaced by the given notebooks (name -> dict)."
    sub = tmp_path / "submission"
    shutil.copytree(student_dir / "notebooks", sub / "notebooks")
    for name, nb in replace.items():
        write(nb, sub / "notebooks" / name)
    return sub


def with_solution(nb: dict, grade_id: str, code: str) -> dict:
    "An instructor notebook whose solution region in cell `grade_id` is replaced by `code` (a student's answer)."
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            lines, out, inside = cell["source"].split("\n"), [], False
            for line in lines:
                if line.strip() == course.SOLUTION[0]:
                    inside = True
                    out += code.split("\n")
                elif line.strip() == course.SOLUTION[1]:
                    inside = False
                elif not inside:
                    out.append(line)
            cell["source"] = "\n".join(out)
            return nb
    raise AssertionError(f"no cell {grade_id}")


def by_notebook(report):
    return {e["notebook"]: e for e in report["exercises"]}


# ------------------------------------------------------------------------------------------------ authoring
def test_every_graded_notebook_has_a_solution_region_and_its_check():
    assert len(GRADED) == 8
    for path in GRADED:
        nb = instructor(path.name)
        solutions = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        assert solutions and all(course.solution_lines(c["source"]) for c in solutions), path.name
        for exercise in course.exercises(nb, path.name):
            assert exercise.points > 0


def test_student_notebooks_contain_no_line_of_any_solution_or_hidden_test(student_dir):
    checked = 0
    for path in NOTEBOOKS:
        nb = instructor(path.name)
        secret, public = set(), set()
        for cell in nb["cells"]:
            inside = None  # the marker pair of the region we are in, if any
            for line in cell["source"].split("\n"):
                marker = line.strip()
                if marker in (course.SOLUTION[0], course.HIDDEN_TESTS[0]):
                    inside = marker
                elif marker in (course.SOLUTION[1], course.HIDDEN_TESTS[1]):
                    inside = None
                elif marker:
                    (secret if inside else public).add(marker)
        secret -= public  # a line also written outside every region (say `return x`) gives nothing away
        student = json.loads((student_dir / "notebooks" / path.name).read_text())
        for cell in student["cells"]:
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            leaked = secret & {line.strip() for line in source.split("\n")}
            assert not leaked, f"{path.name}: {sorted(leaked)[:3]}"
            assert "### BEGIN" not in source and "### END" not in source
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        checked += len(secret)
    assert checked > 40  # the regions are real code (65 distinct lines when written), not a handful


def test_student_version_keeps_signature_docstring_and_indentation(student_dir):
    skeleton = (student_dir / "videomae_minimal" / "masking.py").read_text()
    assert 'def tube_mask(batch_size: int, grid: tuple[int, int, int], mask_ratio: float,' in skeleton
    assert '"""VideoMAE\'s tube masking' in skeleton
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in skeleton
    encoder = (student_dir / "videomae_minimal" / "encoder.py").read_text()
    assert "        B, N, D = x.shape\n        # YOUR CODE HERE\n        raise NotImplementedError()" in encoder


def test_student_source_markers():
    source = "answer = 41 + 1\ncount = answer * 2"
    top = "### BEGIN SOLUTION\n" + source + "\n### END SOLUTION"
    assert course.student_source(top, "cell") == "answer = ...  # YOUR CODE HERE\ncount = ...  # YOUR CODE HERE"
    nested = "def f(x):\n    'doc'\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert course.student_source(nested, "cell") == "def f(x):\n    'doc'\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert course.student_source("a\n### BEGIN HIDDEN TESTS\nassert a\n### END HIDDEN TESTS\nb", "cell") == "a\nb"
    assert course.student_source("### BEGIN SOLUTION\nwhy\n### END SOLUTION", "cell", markdown=True) == "YOUR ANSWER HERE"
    for broken in ("### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION", "### BEGIN HIDDEN TESTS\n### BEGIN SOLUTION"):
        with pytest.raises(course.CourseError, match="notebooks/x.ipynb, cell 3"):
            course.student_source(broken, "notebooks/x.ipynb, cell 3")


def test_two_checks_with_one_grade_id_are_refused():
    nb = instructor("05_tube_masking.ipynb")
    nb["cells"].append(json.loads(json.dumps(next(c for c in nb["cells"] if c["id"] == "check-tube-mask"))))
    with pytest.raises(course.CourseError, match="05_tube_masking.ipynb: two self-check cells share grade_id 'tube_mask'"):
        course.exercises(nb, "05_tube_masking.ipynb")


def test_exported_package_has_no_markers():
    for module in (ROOT / "videomae_minimal").glob("*.py"):
        if module.name != "course.py":
            assert "### BEGIN" not in module.read_text(), module.name


# ------------------------------------------------------------------------------------------ the student copy
def test_student_package_raises_until_the_notebook_is_exported(student_dir, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(student_dir, copy)
    probe = ("import torch, videomae_minimal as v; assert v.__file__.startswith(%r), v.__file__; "
             "m = v.tube_mask(2, (2, 3, 3), 0.5, generator=torch.Generator().manual_seed(0)); print(m.sum().item())")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    before = subprocess.run([sys.executable, "-c", probe % str(copy)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert before.returncode != 0 and "NotImplementedError" in before.stderr
    # The student solves notebook 05 (here: the instructor's answer) and exports it.
    shutil.copy(ROOT / "notebooks" / "05_tube_masking.ipynb", copy / "notebooks" / "05_tube_masking.ipynb")
    subprocess.run([sys.executable, str(copy / "tools" / "export.py")], check=True, capture_output=True)
    after = subprocess.run([sys.executable, "-c", probe % str(copy)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == str(2 * 2 * int(0.5 * 9))
    check = subprocess.run([sys.executable, str(copy / "tools" / "export.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_student_notebook_stops_at_its_first_exercise(student_dir, tmp_path):
    "In the student's own setup (their package first on the path), solving the notebooks in order."
    copy = tmp_path / "student"
    shutil.copytree(student_dir, copy)
    env = {**os.environ, "PYTHONPATH": str(copy)}
    for path in GRADED:
        nb = nbformat.read(copy / "notebooks" / path.name, as_version=4)
        solution = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
        client = NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(copy / "notebooks")}})
        with pytest.raises(CellExecutionError) as failed:
            client.execute(env=env)
        assert failed.value.ename == "NotImplementedError", (path.name, failed.value.ename)
        ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.execution_count is not None]
        first_error = min(i for i, c in enumerate(nb.cells)
                          if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs))
        assert first_error == max(ran) and first_error > solution, path.name  # every cell before it ran cleanly
        # The student solves this one (here: the instructor's answer) and exports it before the next notebook.
        shutil.copy(path, copy / "notebooks" / path.name)
        subprocess.run([sys.executable, str(copy / "tools" / "export.py")], check=True, capture_output=True)


def test_student_refuses_to_overwrite(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = subprocess.run(CLI + ["student", "--out", str(tmp_path / "taken")], capture_output=True, text=True)
    assert done.returncode == 2 and "--out" in done.stderr and "already exists" in done.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no partial directory left behind


# ------------------------------------------------------------------------------------------------ the grader
def test_instructor_notebooks_get_full_marks():
    report = course.grade(ROOT / "notebooks", jobs=2)  # two kernels side by side: the parallel path, checked
    assert [e["notebook"] for e in report["exercises"]] == [p.name for p in GRADED]
    failed = [(e["name"], e["message"]) for e in report["exercises"] if not e["passed"]]
    assert not failed
    assert report["total"] == report["max"] == 17


def test_untouched_student_notebooks_get_zero_on_every_exercise(student_dir):
    report = course.grade(student_dir)
    assert len(report["exercises"]) == 8 and report["max"] == 17
    for e in report["exercises"]:
        assert e["points"] == 0 and not e["passed"], e
        assert "NotImplementedError" in e["message"], e
    assert report["total"] == 0


def test_one_step_solved_gets_exactly_that_steps_points(student_dir, tmp_path):
    sub = submission_from(student_dir, tmp_path, {"05_tube_masking.ipynb": instructor("05_tube_masking.ipynb")})
    done = subprocess.run(CLI + ["grade", str(sub), "--json", "--jobs", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"total", "max", "exercises"}
    for e in report["exercises"]:
        assert set(e) == {"notebook", "name", "points", "max", "passed", "message"}
        assert isinstance(e["points"], float) and isinstance(e["max"], float) and isinstance(e["passed"], bool)
    solved = [e for e in report["exercises"] if e["passed"]]
    assert [(e["notebook"], e["name"]) for e in solved] == [("05_tube_masking.ipynb", "tube_mask")]
    assert report["total"] == solved[0]["max"] == 2.0 and report["max"] == 17.0


def test_a_hanging_cell_is_cut_off_and_costs_only_its_exercise(student_dir, tmp_path):
    hang_once = ("    import time\n"
                 "    if not getattr(sinusoid_table, 'waited', False):\n"
                 "        sinusoid_table.waited = True\n"
                 "        while True:  # a student's endless loop, on the first call only\n"
                 "            time.sleep(0.1)\n"
                 "    raise NotImplementedError()")
    solved_with_a_stuck_cell = instructor("05_tube_masking.ipynb")
    check = next(i for i, c in enumerate(solved_with_a_stuck_cell["cells"]) if c["id"] == "check-tube-mask")
    solved_with_a_stuck_cell["cells"].insert(check, {
        "cell_type": "code", "id": "mine", "metadata": {}, "outputs": [], "execution_count": None,
        "source": "import time\nwhile True:  # exploring, forgot to stop\n    time.sleep(0.1)"})
    sub = submission_from(student_dir, tmp_path, {
        "03_tubelet_patches.ipynb": instructor("03_tubelet_patches.ipynb"),
        "04_sinusoidal_positions.ipynb": with_solution(instructor("04_sinusoidal_positions.ipynb"), "sinusoid_table_solution", hang_once),
        "05_tube_masking.ipynb": solved_with_a_stuck_cell,
    })
    report = course.grade(sub, timeout=5, notebooks=["03", "04", "05"])
    results = by_notebook(report)
    assert results["03_tubelet_patches.ipynb"]["passed"]
    hung = results["04_sinusoidal_positions.ipynb"]
    assert not hung["passed"] and "5 s limit" in hung["message"], hung
    assert results["05_tube_masking.ipynb"]["passed"], results["05_tube_masking.ipynb"]  # the kernel went on after it
    assert report["total"] == 4.0 and report["max"] == 6.0


def test_a_wrong_answer_is_told_what_is_wrong_and_cannot_borrow_the_package(student_dir, tmp_path):
    wrong_tubes = ("    per_step = [random_mask(batch_size, h * w, mask_ratio, generator) for _ in range(t)]  # (B, H'W') each\n"
                   "    return torch.stack(per_step, dim=1).reshape(batch_size, t * h * w)")
    borrowed = ("    import videomae_minimal.positions\n"
                "    return videomae_minimal.positions.sinusoid_table(n_position, dim)")
    deleted_check = instructor("03_tubelet_patches.ipynb")
    deleted_check["cells"] = [c for c in deleted_check["cells"] if c["id"] != "check-to-tubelets"]
    sub = submission_from(student_dir, tmp_path, {
        "03_tubelet_patches.ipynb": deleted_check,
        "04_sinusoidal_positions.ipynb": with_solution(instructor("04_sinusoidal_positions.ipynb"), "sinusoid_table_solution", borrowed),
        "05_tube_masking.ipynb": with_solution(instructor("05_tube_masking.ipynb"), "tube_mask_solution", wrong_tubes),
    })
    results = by_notebook(course.grade(sub, notebooks=["03", "04", "05"], jobs=2))
    assert results["03_tubelet_patches.ipynb"]["passed"]  # a deleted self-check is put back, and it runs
    borrowing = results["04_sinusoidal_positions.ipynb"]
    assert not borrowing["passed"] and "NotImplementedError" in borrowing["message"], borrowing
    wrong = results["05_tube_masking.ipynb"]
    assert not wrong["passed"] and "your tube mask differs between time steps 0 and 1" in wrong["message"], wrong


def test_missing_and_unreadable_notebooks_cost_only_their_points(tmp_path):
    sub = tmp_path / "submission"
    sub.mkdir()
    shutil.copy(ROOT / "notebooks" / "04_sinusoidal_positions.ipynb", sub)
    (sub / "05_tube_masking.ipynb").write_text("{not json")
    report = course.grade(sub, notebooks=["03", "04", "05"])
    results = by_notebook(report)
    assert results["03_tubelet_patches.ipynb"]["message"] == \
        "notebook missing from the submission (found: 04_sinusoidal_positions.ipynb, 05_tube_masking.ipynb)"
    assert results["04_sinusoidal_positions.ipynb"]["passed"]
    assert "not a readable notebook" in results["05_tube_masking.ipynb"]["message"]
    assert report["total"] == 2.0


def test_grade_errors_name_the_argument(tmp_path):
    missing = subprocess.run(CLI + ["grade", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 2 and "nowhere" in missing.stderr and "no such submission directory" in missing.stderr
    unknown = subprocess.run(CLI + ["grade", str(tmp_path), "--notebook", "99"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "--notebook 99" in unknown.stderr


def test_a_kernel_that_ignores_the_interrupt_stops_only_its_notebook(tmp_path):
    cells = ["import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)  # deaf to the interrupt\nwhile True:\n    time.sleep(0.1)",
             "print('never')"]
    nb = {"cells": [{"cell_type": "code", "id": str(i), "metadata": {}, "outputs": [], "execution_count": None,
                     "source": source} for i, source in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "notebooks").mkdir()
    replies, stopped = course._run_notebook(nb, tmp_path, timeout=3)
    assert replies[0]["ename"] == "Timeout" and 1 not in replies
    assert stopped == "stopped: the kernel did not respond after a cell ran past the time limit"

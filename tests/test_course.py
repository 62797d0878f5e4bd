"""Course assignments: student versions of the notebooks, their package skeleton, and the grader.

The grading tests run real notebooks in real kernels (about a minute per full submission): the instructor's own
notebooks must score full marks, untouched student notebooks zero, and anything in between exactly what was solved.
"""
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tokenize

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import ROOT
from videomae_minimal import course
from videomae_minimal.course import grading, kernel, notebooks, submissions, trusted_checks
from videomae_minimal.bundled import TINY_FINETUNED, VIDEOS

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GRADED = [p for p in NOTEBOOKS if course.exercises(notebooks.read_notebook(p), p.name)]
CLI = [sys.executable, "-m", "videomae_minimal"]


def instructor(name):
    return notebooks.read_notebook(ROOT / "notebooks" / name)


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
    assert len(GRADED) == 10
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
        checked += len(secret)
    assert checked > 40  # the regions are real code (65 distinct lines when written), not a handful


def test_student_notebooks_keep_only_the_outputs_that_do_not_depend_on_the_student(student_dir):
    """Kept: the figures and numbers of cells that cannot depend on the student's code, as the instructor's run
    left them. Cleared: every solution and check cell, and every cell naming an exercise's function or class."""
    kept_figures = 0
    for path in NOTEBOOKS:
        nb = instructor(path.name)
        student = json.loads((student_dir / "notebooks" / path.name).read_text())
        exercise_names = {f["qualname"].split(".")[0] for f in course.exercise_functions(nb, path.stem)}
        for theirs, mine in zip(nb["cells"], student["cells"]):
            if mine["cell_type"] != "code" or not mine["outputs"]:
                continue
            source = theirs["source"]
            assert course.SOLUTION[0] not in source and not theirs["metadata"].get("nbgrader", {}).get("grade"), path.name
            names = {t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME}
            assert not exercise_names & names, (path.name, source[:80])  # names in the code, not words in strings
            assert mine["outputs"] == theirs["outputs"]
            kept_figures += sum("image/png" in o.get("data", {}) for o in mine["outputs"])
    assert kept_figures >= 10, kept_figures  # 00's, 01's, 03's, 06's, 09's and 10's figures, among others


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
    for module in (ROOT / "videomae_minimal").glob("*.py"):  # the generated modules (the course package is apart)
        assert "### BEGIN" not in module.read_text(), module.name


# ------------------------------------------------------------------------------------------ the student copy
def test_student_package_raises_until_the_notebook_is_exported(student_dir, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(student_dir, copy)
    probe = ("import torch, videomae_minimal as v; assert v.__file__.startswith(%r), v.__file__; "
             "m = v.tube_mask(2, (2, 3, 3), 0.5, generator=torch.Generator().manual_seed(0)); print(m.sum().item())")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    before = subprocess.run([sys.executable, "-c", probe % str(copy)], capture_output=True, text=True, env=env, cwd=tmp_path)
    # Unsolved: the course's reference stands in, and says so in one line.
    assert before.returncode == 0 and before.stdout.strip() == str(2 * 2 * int(0.5 * 9)), before.stderr
    assert before.stderr.strip() == ("videomae_minimal: tube_mask is not solved yet (05_tube_masking): "
                                     "using the course's reference"), before.stderr
    assert not list((copy / "videomae_minimal" / "_reference").glob("*.py"))[1:]  # bytecode only: no source but __init__
    # Without the reference (an instructor's choice), an unsolved step raises.
    (copy / "videomae_minimal" / "_reference" / "exercises.json").rename(tmp_path / "exercises.json")
    bare = subprocess.run([sys.executable, "-c", probe % str(copy)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bare.returncode != 0 and "NotImplementedError" in bare.stderr
    (tmp_path / "exercises.json").rename(copy / "videomae_minimal" / "_reference" / "exercises.json")
    # The student solves notebook 05 (here: the instructor's answer) and exports it.
    shutil.copy(ROOT / "notebooks" / "05_tube_masking.ipynb", copy / "notebooks" / "05_tube_masking.ipynb")
    subprocess.run([sys.executable, str(copy / "tools" / "export.py")], check=True, capture_output=True)
    after = subprocess.run([sys.executable, "-c", probe % str(copy)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert after.returncode == 0 and after.stderr == "", after.stderr  # the student's own tube_mask now
    assert after.stdout.strip() == str(2 * 2 * int(0.5 * 9))
    check = subprocess.run([sys.executable, str(copy / "tools" / "export.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # The command line comes with the edition: a package of its own (cli/), copied with the other hand-written modules.
    command = subprocess.run([sys.executable, "-m", "videomae_minimal", "--help"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert command.returncode == 0 and "check a checkpoint:" in command.stdout, command.stderr


def test_a_student_with_nothing_solved_gets_transformers_logits_through_the_reference(student_dir, tmp_path):
    """Every exercise on the classifier's path unsolved (02 resize, 04 positions, 06 attention, 08
    pooling): the student's package still classifies a real clip, with transformers' logits."""
    probe = f"""
import sys, numpy as np, torch, transformers
import videomae_minimal as v
checkpoint = {str(TINY_FINETUNED)!r}
ours = v.from_pretrained(checkpoint)
frames = v.read_video({str(VIDEOS / "mmaction2_test_cleaning_pool.mp4")!r}, np.arange(ours.config.num_frames))
pixel_values = v.preprocess(frames, size=ours.config.image_size, crop_size=ours.config.image_size)[None]
theirs = transformers.VideoMAEForVideoClassification.from_pretrained(checkpoint).eval()
with torch.no_grad():
    worst = (ours(pixel_values).logits - theirs(pixel_values).logits).abs().max().item()
print(f"{{worst:.1e}}", worst < 1e-4)
"""
    env = {**os.environ, "PYTHONPATH": str(student_dir)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.split()[-1] == "True", (done.stdout, done.stderr)
    told = [line for line in done.stderr.splitlines() if "is not solved yet" in line]
    assert {line.split()[1] for line in told} == {"resized_shape", "sinusoid_table", "SelfAttention.forward",
                                                  "VideoMAEForVideoClassification.forward"}, done.stderr


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


def test_student_copy_has_ordinary_permissions(student_dir):
    umask = os.umask(0)
    os.umask(umask)
    assert student_dir.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    readme = (student_dir / "README.md").read_text()
    assert "Keep exactly one self-check cell per exercise" in readme and "hidden tests" in readme


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
    assert list(dict.fromkeys(e["notebook"] for e in report["exercises"])) == [p.name for p in GRADED]
    failed = [(e["name"], e["message"]) for e in report["exercises"] if not e["passed"]]
    assert not failed
    assert report["total"] == report["max"] == 23


def test_one_step_solved_gets_exactly_that_steps_points(student_dir, tmp_path):
    "One notebook solved, the nine others as handed out: exactly that step's points."
    sub = submission_from(student_dir, tmp_path, {"05_tube_masking.ipynb": instructor("05_tube_masking.ipynb")})
    done = subprocess.run(CLI + ["grade", str(sub), "--json", "--jobs", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"total", "max", "sandbox", "warnings", "exercises", "notebooks"}
    for e in report["exercises"]:
        assert set(e) == {"notebook", "exercise", "name", "points", "max", "passed", "message"}
        assert isinstance(e["points"], float) and isinstance(e["max"], float) and isinstance(e["passed"], bool)
    solved = [e for e in report["exercises"] if e["passed"]]
    assert [(e["notebook"], e["name"]) for e in solved] == [("05_tube_masking.ipynb", "tube_mask")]
    assert report["total"] == solved[0]["max"] == 2.0 and report["max"] == 23.0
    untouched = [e for e in report["exercises"] if e["notebook"] != "05_tube_masking.ipynb"]
    assert len(untouched) == 10  # 9 untouched student notebooks: 06 has two checks
    for e in untouched:  # the student versions as handed out score 0, each for the step left undone
        assert e["points"] == 0 and not e["passed"] and "NotImplementedError" in e["message"], e


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
    report = course.grade(sub, timeout=10, notebooks=["03", "04", "05"])  # 10 s: room for a loaded machine
    results = by_notebook(report)
    assert results["03_tubelet_patches.ipynb"]["passed"]
    hung = results["04_sinusoidal_positions.ipynb"]
    assert not hung["passed"] and "10 s limit" in hung["message"], hung
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
    replies, stopped = kernel.run_notebook(nb, tmp_path, timeout=3)
    assert replies[0]["ename"] == "Timeout" and 1 not in replies
    assert stopped == ("not run: a cell ran past the 3 s limit and did not stop when interrupted, "
                       "so the notebook was stopped there")
    assert kernel.kernel_processes() == []  # the deaf kernel was killed, not left behind


# ------------------------------------------------------------------------------------ matching and graded copies
SANDBOX = course.sandbox_available()


def sandbox_or_skip():
    "The sandbox tests need bubblewrap: in CI (CI=true) its absence is a failure, elsewhere a skip that says why."
    if SANDBOX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap (bwrap) is missing or does not work here, and CI=true needs the sandbox tests")
        pytest.skip("bubblewrap (bwrap) is missing or does not work here: the sandbox tests need it "
                    "(apt-get install bubblewrap)")


def notebook_with_check_above_its_solution(name: str, check_id: str, solution_id: str) -> dict:
    nb = instructor(name)
    check = next(c for c in nb["cells"] if c["id"] == check_id)
    at = next(i for i, c in enumerate(nb["cells"]) if c["id"] == solution_id)
    nb["cells"].insert(at, {**json.loads(json.dumps(check)), "id": "pasted-copy"})
    return nb


@pytest.mark.parametrize("stem", ["05_tube_masking-Copy1", "05_tube_masking (1)", "05_tube_masking_jsmith",
                                  "05_Tube_Masking", "lastname_12345_67890_05_tube_masking", "tube_masking_jsmith",
                                  "5_tube_masking"])
def test_renamed_notebooks_are_matched_by_name(stem):
    assert submissions.named_after(stem, "05_tube_masking.ipynb")
    assert not submissions.named_after(stem, "04_sinusoidal_positions.ipynb")


def test_matching_by_nbgrader_metadata_nested_folders_and_ambiguity(tmp_path):
    paths = [ROOT / "notebooks" / n for n in ("04_sinusoidal_positions.ipynb", "05_tube_masking.ipynb")]
    nested = tmp_path / "student" / "notebooks"
    nested.mkdir(parents=True)
    write(instructor("05_tube_masking.ipynb"), nested / "Untitled3.ipynb")  # named nothing: its grade_ids tell
    write(instructor("04_sinusoidal_positions.ipynb"), tmp_path / "05_tube_masking.ipynb")  # misnamed: content wins
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write(instructor("05_tube_masking.ipynb"), tmp_path / ".ipynb_checkpoints" / "05_tube_masking-checkpoint.ipynb")
    found = course.match_submission(tmp_path, paths)
    assert found == {"04_sinusoidal_positions.ipynb": [tmp_path / "05_tube_masking.ipynb"],
                     "05_tube_masking.ipynb": [nested / "Untitled3.ipynb"]}
    (nested / "tube_masking_notes.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))  # named, but no cells
    assert course.match_submission(tmp_path, paths)["05_tube_masking.ipynb"] == [nested / "Untitled3.ipynb"]
    draft = instructor("05_tube_masking.ipynb")  # a second, different draft (identical copies are graded once)
    draft["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "my second try"})
    write(draft, nested / "05_tube_masking (1).ipynb")
    candidates = course.match_submission(tmp_path, paths)["05_tube_masking.ipynb"]
    record = course.grade_notebook(tmp_path, paths[1], ROOT, timeout=5, candidates=candidates)  # no kernel started
    assert record["results"][0].points == 0
    assert record["results"][0].message.startswith("ambiguous: 2 files could be 05_tube_masking.ipynb")


def test_a_check_pasted_above_the_solution_is_not_the_one_graded():
    nb = notebook_with_check_above_its_solution("05_tube_masking.ipynb", "check-tube-mask", "c005")
    graded, warnings = grading.graded_copy(nb, instructor("05_tube_masking.ipynb"), "05_tube_masking.ipynb")
    roles = [(c["id"], notebooks.grader_role(c)) for c in graded["cells"] if notebooks.grader_role(c)]
    assert roles == [("pasted-copy", "duplicate"), ("check-tube-mask", "check")]
    solution = next(i for i, c in enumerate(graded["cells"]) if c["id"] == "c005")
    assert notebooks.grader_role(graded["cells"][solution + 1]) == "check"  # the graded check runs after the solution
    assert len(warnings) == 1 and "cell 6 is a copy of the self-check 'tube_mask'" in warnings[0], warnings


def test_grade_exits_2_when_it_cannot_grade(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no notebooks")
    empty = subprocess.run(CLI + ["grade", str(tmp_path / "empty")], capture_output=True, text=True)
    assert empty.returncode == 2 and str(tmp_path / "empty") in empty.stderr and "no notebooks" in empty.stderr
    nobody = subprocess.run(CLI + ["grade-class", str(tmp_path / "empty"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert nobody.returncode == 2 and "no submissions" in nobody.stderr, nobody.stderr
    bad = subprocess.run(CLI + ["grade", str(tmp_path / "empty"), "--jobs", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--jobs" in bad.stderr


# --------------------------------------------------------------------------------------- a class of submissions
GRADED_IN_CLASS = ["04_sinusoidal_positions.ipynb", "05_tube_masking.ipynb"]  # two short notebooks: 4 points
WRONG_TUBES = ("    per_step = [random_mask(batch_size, h * w, mask_ratio, generator) for _ in range(t)]  # (B, H'W') each\n"
               "    return torch.stack(per_step, dim=1).reshape(batch_size, t * h * w)")
BROKEN_SYNTAX = "    return torch.zeros(batch_size, (t * h * w"
EXEC_INSTALLED_SOURCE = (  # the grader's own installed package, found the way pip records it
    "    import importlib.metadata, json, pathlib\n"
    "    url = json.loads(importlib.metadata.distribution('videomae-minimal').read_text('direct_url.json'))['url']\n"
    "    namespace = {}\n"
    "    exec((pathlib.Path(url[len('file://'):]) / 'videomae_minimal' / 'positions.py').read_text(), namespace)\n"
    "    return namespace['sinusoid_table'](n_position, dim)")
READ_INSTRUCTOR_NOTEBOOK = (  # the course tree on the grading machine, read for its solution cell
    "    import json, pathlib\n"
    f"    nb = json.loads((pathlib.Path({str(ROOT)!r}) / 'notebooks' / '04_sinusoidal_positions.ipynb').read_text())\n"
    "    cell = next(''.join(c['source']) for c in nb['cells'] if 'def sinusoid_table' in ''.join(c['source']))\n"
    "    namespace = {'torch': torch}\n"
    "    exec(cell, namespace)\n"
    "    return namespace['sinusoid_table'](n_position, dim)")
RETURN_THE_REFERENCE = ("    from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table\n"
                        "    return get_sinusoid_encoding_table(n_position, dim)[0]")
REWRITE_LATER_CELLS = ("def _skip_checks(lines):  # every later cell that calls the check becomes `pass`\n"
                       "    return ['pass\\n'] if any('check_tube_mask' in line for line in lines) else lines\n"
                       "get_ipython().input_transformers_post.append(_skip_checks)")
DEAF_LOOP = ("import time\nwhile True:  # a loop that swallows the interrupt\n    try:\n        time.sleep(0.1)\n"
             "    except KeyboardInterrupt:\n        pass")
CLASS_TIMEOUT = 15  # seconds per cell: the slowest check takes about 3 s alone, more beside other kernels


def code_cell(source: str, cell_id: str) -> dict:
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "outputs": [], "execution_count": None, "source": source}


def inserted_before(nb: dict, cell_id: str, cell: dict) -> dict:
    nb["cells"].insert(next(i for i, c in enumerate(nb["cells"]) if c["id"] == cell_id), cell)
    return nb


def student_05() -> dict:
    return course.student_notebook(instructor("05_tube_masking.ipynb"), "05")


# student -> ({file in the submission: notebook}, expected points per notebook, what the 05 message must contain)
def class_of_students():
    solved04, solved05 = instructor("04_sinusoidal_positions.ipynb"), instructor("05_tube_masking.ipynb")
    return {
        "ann": ({"notebooks/04_sinusoidal_positions.ipynb": solved04, "notebooks/05_tube_masking.ipynb": solved05},
                (2, 2)),
        "lee_12345": ({"lee_12345_67890_04_sinusoidal_positions.ipynb": solved04,  # an LMS zip, Canvas names
                       "lee_12345_67890_05_tube_masking.ipynb": with_solution(
                           instructor("05_tube_masking.ipynb"), "tube_mask_solution", WRONG_TUBES)}, (2, 0)),
        "kim": ({"student/notebooks/04_Sinusoidal_Positions (1).ipynb": solved04,  # renamed, nested
                 "student/notebooks/05_tube_masking-Copy1.ipynb": with_solution(
                     instructor("05_tube_masking.ipynb"), "tube_mask_solution", BROKEN_SYNTAX)}, (2, 0)),
        "dan": ({"04_sinusoidal_positions.ipynb": with_solution(
                    instructor("04_sinusoidal_positions.ipynb"), "sinusoid_table_solution", EXEC_INSTALLED_SOURCE),
                 "05_tube_masking.ipynb": notebook_with_check_above_its_solution(
                     "05_tube_masking.ipynb", "check-tube-mask", "c005")}, (0, 2)),
        "eve": ({"04_sinusoidal_positions.ipynb": with_solution(
                    instructor("04_sinusoidal_positions.ipynb"), "sinusoid_table_solution", READ_INSTRUCTOR_NOTEBOOK),
                 "05_tube_masking.ipynb": inserted_before(student_05(), "c005", code_cell(REWRITE_LATER_CELLS, "x"))},
                (0, 0)),
        "hal": ({"04_sinusoidal_positions_jsmith.ipynb": solved04,
                 "05_tube_masking.ipynb": inserted_before(instructor("05_tube_masking.ipynb"), "check-tube-mask",
                                                          code_cell(DEAF_LOOP, "deaf"))}, (2, 0)),
        "two_copies": ({"05_tube_masking.ipynb": solved05, "05_tube_masking (1).ipynb": {  # a different draft: ambiguous
                            **solved05, "cells": solved05["cells"] + [{"cell_type": "markdown", "metadata": {}, "source": "v2"}]},
                        "04_sinusoidal_positions.ipynb": with_solution(  # transformers' own table, returned
                            instructor("04_sinusoidal_positions.ipynb"), "sinusoid_table_solution", RETURN_THE_REFERENCE)},
                       (0, 0)),
    }


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    "One class graded once (in this process, so its kernels can be counted), shared by the tests below."
    import time
    import zipfile

    sandbox_or_skip()
    base = tmp_path_factory.mktemp("class")
    submissions, out = base / "submissions", base / "results"
    submissions.mkdir()
    for student, (files, _) in class_of_students().items():
        if student == "lee_12345":
            with zipfile.ZipFile(submissions / f"{student}.zip", "w") as archive:
                for name, nb in files.items():
                    archive.writestr(name, json.dumps(nb))
            continue
        for name, nb in files.items():
            (submissions / student / name).parent.mkdir(parents=True, exist_ok=True)
            write(nb, submissions / student / name)
    messages = []
    started = time.perf_counter()
    made = course.grade_class(submissions, out, notebooks=GRADED_IN_CLASS, timeout=CLASS_TIMEOUT, jobs=2,
                              progress=messages.append)
    seconds = time.perf_counter() - started
    print(f"\ngraded {made['students']} students in {seconds:.0f} s ({seconds * 2 / 6:.0f} s per student, 2 notebooks "
          f"each, 2 jobs)", file=sys.stderr)
    return {"out": out, "submissions": submissions, "made": made, "messages": messages,
            "kernels_after": kernel.kernel_processes()}


def class_report(graded_class, student):
    return json.loads((graded_class["out"] / "students" / f"{student}.json").read_text())["report"]


def test_class_gradebook_has_the_expected_points(graded_class):
    import csv

    rows = {r["student"]: r for r in csv.DictReader((graded_class["out"] / "gradebook.csv").open())}
    assert set(rows) == set(class_of_students())
    for student, (_, (points04, points05)) in class_of_students().items():
        row = rows[student]
        got = (float(row["04_sinusoidal_positions:sinusoid_table"]), float(row["05_tube_masking:tube_mask"]))
        assert got == (points04, points05), (student, got, class_report(graded_class, student))
        assert float(row["total"]) == points04 + points05 and float(row["max"]) == 4 and row["status"] == "graded"
        assert row["sandbox"] == "yes"
    assert graded_class["kernels_after"] == []  # every kernel of 12 notebooks shut down


def test_class_messages_point_at_the_cause(graded_class):
    def message(student, notebook):
        return next(e["message"] for e in class_report(graded_class, student)["exercises"] if e["notebook"] == notebook)

    nb = with_solution(instructor("05_tube_masking.ipynb"), "tube_mask_solution", BROKEN_SYNTAX)
    cell = next(i for i, c in enumerate(nb["cells"]) if c["id"] == "c005")
    line = nb["cells"][cell]["source"].split("\n").index(BROKEN_SYNTAX) + 1
    broken = message("kim", "05_tube_masking.ipynb")
    assert broken.startswith(f"cell {cell + 1}, line {line}: SyntaxError"), broken  # the cause, not the NameError
    assert "your tube mask differs between time steps 0 and 1" in message("lee_12345", "05_tube_masking.ipynb")
    deaf = next(i for i, c in enumerate(class_of_students()["hal"][0]["05_tube_masking.ipynb"]["cells"]) if c["id"] == "deaf")
    assert message("hal", "05_tube_masking.ipynb") == (
        f"not run: cell {deaf + 1} ran past the {CLASS_TIMEOUT} s limit and did not stop when interrupted, "
        "so the notebook was stopped there")
    assert message("two_copies", "05_tube_masking.ipynb").startswith("ambiguous: 2 files could be 05_tube_masking.ipynb")
    assert "ModuleNotFoundError" in message("two_copies", "04_sinusoidal_positions.ipynb")  # no reference in the kernel
    assert any("is a copy of the self-check 'tube_mask'" in w for w in class_report(graded_class, "dan")["warnings"])
    assert "NotImplementedError" in message("eve", "05_tube_masking.ipynb")  # the rewriting transformer was removed
    for cheat in ("dan", "eve"):  # the installed package's source and the instructor notebook are not visible
        assert "FileNotFoundError" in message(cheat, "04_sinusoidal_positions.ipynb"), message(cheat, "04_sinusoidal_positions.ipynb")


def test_class_feedback_and_summary_hide_the_hidden_tests(graded_class):
    hidden = set()
    for name in GRADED_IN_CLASS:
        for cell in instructor(name)["cells"]:
            inside = False
            for line in cell["source"].split("\n"):
                if line.strip() in course.HIDDEN_TESTS:
                    inside = line.strip() == course.HIDDEN_TESTS[0]
                elif inside and len(line.strip()) > 12:
                    hidden.add(line.strip())
    assert len(hidden) > 5
    for student in class_of_students():
        text = (graded_class["out"] / "feedback" / f"{student}.md").read_text()
        assert text.startswith(f"# Feedback for {student}") and "| check | points | result |" in text
        assert not [line for line in hidden if line in text], student
    assert "Graded file: `student/notebooks/05_tube_masking-Copy1.ipynb`" in \
        (graded_class["out"] / "feedback" / "kim.md").read_text()
    summary = (graded_class["out"] / "summary.md").read_text()
    assert "| 04_sinusoidal_positions:sinusoid_table | 1.14 |" in summary  # 4 students of 7 passed it: 8 / 7
    assert "| 05_tube_masking:tube_mask | 0.57 |" in summary  # ann and dan: 4 / 7
    assert "dan, eve, two_copies" in summary  # who failed 04
    assert any(m.startswith("ann: 4/4") for m in graded_class["messages"]), graded_class["messages"]


def test_class_is_rerun_without_grading_again(graded_class):
    before = {p.name: p.stat().st_mtime_ns for p in (graded_class["out"] / "students").iterdir()}
    messages = []
    made = course.grade_class(graded_class["submissions"], graded_class["out"], notebooks=GRADED_IN_CLASS,
                              progress=messages.append)
    assert made["graded_now"] == 0 and len([m for m in messages if "already graded, skipped" in m]) == 7
    assert {p.name: p.stat().st_mtime_ns for p in (graded_class["out"] / "students").iterdir()} == before
    assert not [p for p in graded_class["out"].rglob(".*")]  # no temporary file left behind


# ------------------------------------------------------------------------------------------------ partial points
RETURN_TRANSFORMERS_RESIZE = (  # 02's answer taken from transformers, which the checks compare with
    "    from transformers.image_transforms import get_resize_output_image_size\n"
    "    return tuple(get_resize_output_image_size(np.zeros((height, width, 3), np.uint8), size=size, "
    "default_to_square=False))")


PATCH_THE_CHECKS = (  # 03's tubelets left wrong, and torch's comparisons patched in the kernel to agree anyway
    "    torch.allclose = lambda *args, **kwargs: True\n"
    "    torch.equal = lambda *args, **kwargs: True\n"
    "    torch.Tensor.__eq__ = lambda *args, **kwargs: True\n"
    "    b, t, c, h, w = pixel_values.shape\n"
    "    n = (t // tubelet_size) * (h // patch_size) * (w // patch_size)\n"
    "    return torch.zeros(b, n, tubelet_size * patch_size * patch_size, c)")


def test_06_scores_each_implementation_and_02_and_03_cheats_do_not_pay(tmp_path):
    """06 has two graded checks, nbgrader's way: eager (2 points) and SDPA (1 point); a wrong SDPA costs only its
    point, with the grader's own comparison saying what differs. Under the sandbox, 02 returning transformers' own
    resize scores 0, and so does 03's zeros with torch's comparisons patched to say True (they pass in-kernel)."""
    sandbox_or_skip()  # without it both cheats pay: the checks run in the student's kernel
    fused = "y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attention_dropout if self.training else 0.0)"
    nb = instructor("06_sdpa_encoder.ipynb")
    cell = next(c for c in nb["cells"] if c["id"] == "c011")
    assert fused in cell["source"]
    cell["source"] = cell["source"].replace(fused, "y = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # wrong scale")
    (tmp_path / "sub").mkdir()
    write(nb, tmp_path / "sub" / "06_sdpa_encoder.ipynb")
    write(with_solution(instructor("02_processing.ipynb"), "resized_shape_solution", RETURN_TRANSFORMERS_RESIZE),
          tmp_path / "sub" / "02_processing.ipynb")
    write(with_solution(instructor("03_tubelet_patches.ipynb"), "to_tubelets_solution", PATCH_THE_CHECKS),
          tmp_path / "sub" / "03_tubelet_patches.ipynb")
    report = course.grade(tmp_path / "sub", ROOT, timeout=60, notebooks=["02", "03", "06"], jobs=2)
    assert report["sandbox"]
    assert [(e["exercise"], e["name"], e["points"], e["max"]) for e in report["exercises"]] == [
        ("resized_shape", "resized_shape", 0.0, 1.0), ("to_tubelets", "to_tubelets", 0.0, 2.0),
        ("attention", "attention_eager", 2.0, 2.0), ("attention", "attention_sdpa", 0.0, 1.0)]
    # compared in the grader's process; transformers is not in the kernel
    assert "ModuleNotFoundError" in report["exercises"][0]["message"] and "transformers" in report["exercises"][0]["message"]
    assert report["exercises"][1]["message"].startswith("your tubelets are not the pixels Conv3d sees"), report
    assert report["exercises"][3]["message"].startswith("sdpa: your attention differs from transformers' by up to"), report
    assert report["total"] == 2.0 and report["max"] == 6.0


def trusted_verdict(grade_id, tmp_path, **names):
    """A trusted check run the grader's way, in this process and without a kernel: its inputs made, its dump cell
    executed with `names` as the notebook's definitions, then compared in the grader."""
    import torch

    check = trusted_checks.TRUSTED_CHECKS[grade_id]
    inputs, expected = trusted_checks.prepared(check)
    results, given = tmp_path / f"{grade_id}.pt", tmp_path / f"{grade_id}-inputs.pt"
    if inputs is not None:
        torch.save(inputs, given)
    results.unlink(missing_ok=True)
    exec(check.source(results, given), dict(names))
    return check.verdict(results, expected)


def test_every_trusted_check_passes_the_reference_and_names_a_mistake(tmp_path):
    import numpy as np
    import torch
    from videomae_minimal import masking, patches, pretraining, sampling

    assert set(trusted_checks.TRUSTED_CHECKS) == {e.name for p in GRADED for e in course.exercises(instructor(p.name), p.name)}
    assert trusted_verdict("sample_frame_indices", tmp_path, sample_frame_indices=sampling.sample_frame_indices) is None
    stuck = lambda n, rate, length, rng=None: sampling.sample_frame_indices(n, rate, length, rng=np.random.RandomState(0))
    assert trusted_verdict("sample_frame_indices", tmp_path, sample_frame_indices=stuck).startswith(
        "seed 1, 8 frames every 2 of a 50-frame video: you give")

    tubelets = dict(to_tubelets=patches.to_tubelets, from_tubelets=patches.from_tubelets)
    assert trusted_verdict("to_tubelets", tmp_path, **tubelets) is None
    channels_first = lambda v, ts, p: patches.to_tubelets(v, ts, p).transpose(2, 3).reshape(v.shape[0], -1, ts * p * p, v.shape[2])
    assert trusted_verdict("to_tubelets", tmp_path, **{**tubelets, "to_tubelets": channels_first}).startswith(
        "your tubelets are not the pixels Conv3d sees for each token")

    assert trusted_verdict("tube_mask", tmp_path, tube_mask=masking.tube_mask) is None
    anywhere = lambda b, grid, ratio, generator=None: masking.random_mask(b, grid[0] * grid[1] * grid[2], ratio, generator)
    assert trusted_verdict("tube_mask", tmp_path, tube_mask=anywhere).startswith("your tube mask differs between time steps")

    assert trusted_verdict("reconstruction_targets", tmp_path, reconstruction_targets=pretraining.reconstruction_targets) is None
    def unnormalised(pixel_values, config):
        config = copy.copy(config)
        config.norm_pix_loss = False  # the normalisation forgotten
        return pretraining.reconstruction_targets(pixel_values, config)
    assert trusted_verdict("reconstruction_targets", tmp_path, reconstruction_targets=unnormalised).startswith(
        "norm_pix_loss=True: sample ")


def test_the_trusted_tube_mask_check_names_each_decision_left_to_the_student(tmp_path):
    """05's deepened exercise leaves the layout, the count and the generator to the student: each wrong decision
    loses the points with a message that names it."""
    import torch
    from videomae_minimal.masking import random_mask, tube_mask

    def position_major(batch_size, grid, mask_ratio, generator=None):  # each position's time steps side by side
        t, h, w = grid
        return random_mask(batch_size, h * w, mask_ratio, generator).repeat_interleave(t, dim=1)

    def rounded_up(batch_size, grid, mask_ratio, generator=None):  # ceil(ratio * H'W') instead of int()
        t, h, w = grid
        return tube_mask(batch_size, grid, min(0.999, (int(mask_ratio * h * w) + 1) / (h * w)), generator)

    def own_generator(batch_size, grid, mask_ratio, generator=None):  # the draws ignore the generator given
        return tube_mask(batch_size, grid, mask_ratio, torch.Generator().manual_seed(0))

    assert trusted_verdict("tube_mask", tmp_path, tube_mask=tube_mask) is None
    for wrong, named in ((position_major, "your tube mask differs between time steps"),
                         (rounded_up, "each sample should hide int(0.75 * 30) = 22 positions"),
                         (own_generator, "draw the positions with the generator you are given")):
        said = trusted_verdict("tube_mask", tmp_path, tube_mask=wrong)
        assert said is not None and named in said, (wrong.__name__, said)


def test_the_trusted_attention_and_classifier_comparisons_find_each_mistake():
    """The grader's own comparisons for 06 and 08 (run in its process, no kernel): the instructor's code passes, and
    each usual mistake is named."""
    import torch
    from videomae_minimal.checkpoints import load_weights
    from videomae_minimal.classifier import VideoMAEForVideoClassification
    from videomae_minimal.config import VideoMAEConfig
    from videomae_minimal.encoder import Attention

    inputs, expected = trusted_checks._prepare_attention()
    tokens = inputs["tokens"]

    def results(implementation, **change):
        ours = Attention(32, 4, attn_implementation=implementation)
        ours.load_state_dict(inputs["state"])
        plain = Attention(32, 4, qkv_bias=False, attn_implementation=implementation)
        plain.load_state_dict({k: v for k, v in inputs["state"].items() if not k.endswith(("query.bias", "value.bias"))})
        with torch.no_grad():
            output, probabilities = ours(tokens)
            asked_output, asked_probabilities = ours(tokens, output_attentions=True)
            saved = {"output": output, "probabilities": probabilities, "asked_output": asked_output,
                     "asked_probabilities": asked_probabilities, "no_bias_output": plain(tokens)[0]}
        return {k: v for k, v in {**saved, **change}.items() if v is not None}

    for implementation in ("eager", "sdpa"):
        assert trusted_checks._compare_attention(implementation)(results(implementation), expected) is None
    compare = trusted_checks._compare_attention("sdpa")
    wrong = results("sdpa", output=expected["output"] * 1.01)
    assert compare(wrong, expected).startswith("sdpa: your attention differs from transformers' by up to"), compare(wrong, expected)
    assert "return None" in compare(results("sdpa", probabilities=expected["probabilities"]), expected)
    assert "output_attentions=True" in compare(results("sdpa", asked_probabilities=None), expected)
    assert compare(results("sdpa", no_bias_output=expected["output"]), expected).startswith("sdpa, qkv_bias=False")
    assert "expected shape (2, 7, 32)" in compare(results("sdpa", output=expected["output"][:, :3]), expected)
    assert trusted_checks._compare_attention("eager")(results("eager", probabilities=None), expected).startswith(
        "eager: return the probabilities")

    inputs, expected = trusted_checks._prepare_classifier()
    saved = {}
    for pooling in ("mean", "cls"):
        ours = VideoMAEForVideoClassification(VideoMAEConfig(**trusted_checks.CLASSIFIER_SIZES, use_mean_pooling=pooling == "mean")).eval()
        load_weights(ours, inputs[f"state_{pooling}"])
        with torch.no_grad():
            out = ours(inputs["pixel_values"], labels=inputs["labels"])
        saved[f"logits_{pooling}"], saved[f"loss_{pooling}"] = out.logits, out.loss
    assert trusted_checks._compare_classifier(saved, expected) is None
    swapped = {**saved, "logits_cls": saved["logits_mean"]}  # mean pooling where token 0 belongs
    assert trusted_checks._compare_classifier(swapped, expected).startswith("use_mean_pooling=False: your logits differ"), \
        trusted_checks._compare_classifier(swapped, expected)
    assert "loss" in trusted_checks._compare_classifier({k: v for k, v in saved.items() if k != "loss_mean"}, expected)

    inputs, expected = trusted_checks._prepare_resized_shapes()
    assert expected["1080x1920@224"] == (224, 398)  # transformers' arithmetic: 1920 * 224 / 1080 = 398.2, truncated
    right = {key: torch.tensor([float(s) for s in shape]) for key, shape in expected.items()}
    right["explicit"] = torch.tensor([112.0, 160.0])
    assert trusted_checks._compare_resized_shapes(right, expected) is None
    rounded = {**right, "1080x1920@224": torch.tensor([224.0, 399.0])}
    assert trusted_checks._compare_resized_shapes(rounded, expected) == (
        "a 1080 x 1920 frame at size 224 should become (224, 398) (short side 224, the long side truncated), you give (224, 399)")


def test_without_bubblewrap_the_class_is_graded_and_the_gradebook_says_so(tmp_path, monkeypatch):
    import csv

    from videomae_minimal.course import grading

    monkeypatch.setattr(grading, "sandbox_available", lambda: None)  # as on macOS
    (tmp_path / "subs" / "solo").mkdir(parents=True)
    for n, name in enumerate(("05_tube_masking.ipynb", "05_tube_masking (1).ipynb")):  # two different copies: ambiguous,
        nb = instructor("05_tube_masking.ipynb")                                         # so graded without any kernel
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": f"draft {n}"})
        write(nb, tmp_path / "subs" / "solo" / name)
    course.grade_class(tmp_path / "subs", tmp_path / "out", notebooks=GRADED_IN_CLASS)
    [row] = list(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert (row["student"], row["total"], row["max"], row["status"], row["sandbox"]) == ("solo", "0", "4", "graded", "no")
    assert "Graded WITHOUT the sandbox" in (tmp_path / "out" / "summary.md").read_text()
    assert "(Graded without the sandbox.)" in (tmp_path / "out" / "feedback" / "solo.md").read_text()


def test_the_trusted_sinusoid_comparison_runs_in_the_grader():
    import torch
    from videomae_minimal.positions import sinusoid_table

    right = {f"{n}x{dim}": sinusoid_table(n, dim) for n, dim in trusted_checks.SINUSOID_CASES}
    assert trusted_checks._compare_sinusoid_tables(right) is None
    close = {**right, "1568x64": right["1568x64"] + 1e-7 * torch.ones(1568, 64)}
    assert trusted_checks._compare_sinusoid_tables(close).startswith("(1568, 64): your table differs from transformers' by up to")
    assert "float32" in trusted_checks._compare_sinusoid_tables({**right, "50x16": right["50x16"].double()})

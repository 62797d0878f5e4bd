"""What a class hands in, handled fairly: one student's broken or hostile submission (a zip bomb, a corrupt zip, a
link, a FIFO, an unreadable file) is that student's row and nobody else's; old notebook formats and identical
duplicates are graded; feedback shows only the student's own errors; stored reports are reused only when nothing
they were graded from has changed, and `--student` regrades one student.

Kernel runs are kept few: every graded notebook here is 05 (about 10 s) except the feedback test's two 08s."""
import csv
import json
import os
import shutil
import stat
import subprocess
import zipfile

import nbformat

from conftest import ROOT
from test_course import CLI, WRONG_TUBES, instructor, sandbox_or_skip, with_solution, write
import videomae_minimal
from videomae_minimal import course
from videomae_minimal.course import gradebook, submissions

TUBE_MASKING = "05_tube_masking.ipynb"


def gradebook_rows(out) -> dict:
    return {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}


def zip_with(path, members: dict) -> None:
    "A zip whose members are (name -> bytes, or (bytes, Unix mode) for what a zip tool records as a link)."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            data, mode = data if isinstance(data, tuple) else (data, None)
            if mode is None:
                archive.writestr(name, data)
            else:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                archive.writestr(info, data)


def solved_05() -> bytes:
    return json.dumps(instructor(TUBE_MASKING)).encode()


# ------------------------------------------------------------------------------- one student's fault is their row
def hostile_class(folder) -> dict[str, str]:
    """A class folder: three students whose 05 must score full marks (a plain folder, an nbformat 3 notebook, two
    byte-identical copies) and one per way a submission can refuse to be opened. Returns, for each refused
    student, the file their status must name."""
    folder.mkdir()
    (folder / "ann").mkdir()
    (folder / "ann" / TUBE_MASKING).write_bytes(solved_05())
    (folder / "old_format").mkdir()  # saved by an old Jupyter: nbformat 3, worksheets, `input` cells
    v3 = nbformat.convert(nbformat.from_dict(instructor(TUBE_MASKING)), 3)
    (folder / "old_format" / TUBE_MASKING).write_text(nbformat.writes(v3, version=3), encoding="utf-8")
    assert json.loads((folder / "old_format" / TUBE_MASKING).read_text())["nbformat"] == 3
    (folder / "twice").mkdir()  # a browser's second download of the same file
    for name in (TUBE_MASKING, "05_tube_masking (1).ipynb"):
        (folder / "twice" / name).write_bytes(solved_05())

    # 50 MiB of spaces in one member: 1000x its packed size
    zip_with(folder / "bomb.zip", {TUBE_MASKING: b" " * (50 << 20)})
    # 201 members of 1 MiB each, none past the ratio on its own size, 201 MiB in all
    zip_with(folder / "wide.zip", {f"part{i:03d}.ipynb": b" " * (1 << 20) for i in range(201)})
    (folder / "corrupt.zip").write_bytes(b"PK\x03\x04" + os.urandom(2000))  # a zip's magic, then noise
    zip_with(folder / "zlink.zip", {TUBE_MASKING: solved_05(), "extra/passwd.ipynb": (b"/etc/passwd", stat.S_IFLNK | 0o777)})
    (folder / "linky").mkdir()
    (folder / "linky" / TUBE_MASKING).write_bytes(solved_05())
    os.symlink("/etc/hostname", folder / "linky" / "notes.txt")  # a link anywhere, not only a notebook
    (folder / "piper" / "nested").mkdir(parents=True)
    (folder / "piper" / TUBE_MASKING).write_bytes(solved_05())
    os.mkfifo(folder / "piper" / "nested" / "pipe.ipynb")  # opened, it would block the grader for good
    os.symlink(folder / "ann", folder / "copycat")  # a class entry that is a link to a classmate's folder
    os.mkfifo(folder / "hanger.zip")  # a class entry that is a FIFO: opening it used to hang the whole class
    return {"bomb": f"bomb.zip: member {TUBE_MASKING}", "wide": "wide.zip: its notebooks unpack to more than 200 MiB",
            "corrupt": "corrupt.zip: not a readable zip", "zlink": "zlink.zip: member extra/passwd.ipynb is a symbolic link",
            "linky": "linky/notes.txt: a symbolic link", "piper": "piper/nested/pipe.ipynb: not a regular file",
            "copycat": "copycat: a symbolic link", "hanger": "hanger.zip: not a regular file"}


def test_each_refused_submission_is_its_own_row_and_the_class_is_graded(tmp_path):
    refused = hostile_class(tmp_path / "class")
    out = tmp_path / "out"
    done = subprocess.run(CLI + ["grade-class", str(tmp_path / "class"), "--out", str(out), "--notebook", "05",
                                 "--jobs", "2"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 3, (done.returncode, done.stderr[-3000:])  # written, but some were not graded
    assert "not graded (8" in done.stdout, done.stdout
    rows = gradebook_rows(out)
    assert set(rows) == {"ann", "old_format", "twice", *refused}
    for student in ("ann", "old_format", "twice"):  # nbformat 3 and identical copies score like a plain folder
        assert (rows[student]["status"], rows[student]["total"], rows[student]["max"]) == ("graded", "2", "2"), \
            (student, json.loads((out / "students" / f"{student}.json").read_text())["report"]["exercises"])
    assert json.loads((out / "students" / "twice.json").read_text())["report"]["notebooks"][0]["file"] == TUBE_MASKING
    summary = (out / "summary.md").read_text()
    for student, names in refused.items():
        status = rows[student]["status"]
        assert status.startswith(f"not graded: {names}"), (student, status)
        assert (rows[student]["total"], rows[student]["max"]) == ("0", "2")
        assert str(tmp_path) not in status  # the student reads it: no path of the grader's machine
        assert (out / "feedback" / f"{student}.md").read_text().startswith(
            f"# Feedback for {student}\n\nNot graded: {names}"), student
        assert f"- {student}: not graded: {names}" in summary
    assert rows["bomb"]["status"].endswith("x, the limit is 100x): refused as a zip bomb"), rows["bomb"]["status"]
    assert not (out / "copycat").exists() and len(list(out.rglob("*.ipynb"))) == 0  # nothing unpacked into results

    # The refused students leave; the stored reports of the others stand (no kernel runs): exit status 0.
    for student in refused:
        path = tmp_path / "class" / student
        path = path if os.path.lexists(path) else path.with_name(f"{student}.zip")
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    again = subprocess.run(CLI + ["grade-class", str(tmp_path / "class"), "--out", str(out), "--notebook", "05"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "3 students (0 graded now)" in again.stdout, (again.stdout, again.stderr[-2000:])
    unknown = subprocess.run(CLI + ["grade-class", str(tmp_path / "class"), "--out", str(out), "--student", "nobody"],
                             capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2 and "--student nobody: no such student" in unknown.stderr, unknown.stderr
    helped = subprocess.run(CLI + ["grade-class", "--help"], capture_output=True, text=True)
    assert "exit status:" in helped.stdout and "  3  the gradebook is written, but some students" in helped.stdout


def test_an_unreadable_notebook_is_that_students_row(tmp_path, monkeypatch):
    (tmp_path / "class" / "locked").mkdir(parents=True)
    locked = tmp_path / "class" / "locked" / TUBE_MASKING
    locked.write_bytes(solved_05())
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads whatever the mode says: the refusal the kernel would give, played here
        opened = os.open

        def refuse(path, *args, **kwargs):
            if os.fspath(path) == os.fspath(locked):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return opened(path, *args, **kwargs)

        monkeypatch.setattr(submissions.os, "open", refuse)
    made = course.grade_class(tmp_path / "class", tmp_path / "out", notebooks=["05"])  # no kernel: nothing to grade
    assert made["not_graded"] == ["locked"]
    status = gradebook_rows(tmp_path / "out")["locked"]["status"]
    assert status == f"not graded: locked/{TUBE_MASKING}: cannot be read (Permission denied)", status


# -------------------------------------------------------------------------------------------------- feedback
def test_full_marks_feedback_lists_no_error_the_grader_caused_and_keeps_real_ones(tmp_path):
    """08 as the instructor wrote it used to get four "errors in your cells" from the grader's own setup: transformers
    hidden by the sandbox (two cells), a NameError that follows from one of them, and the package's copy of 08's
    own step, the skeleton in the grader's tree, raising NotImplementedError. A student's own errors stay."""
    sandbox_or_skip()
    classifier = "08_classifier.ipynb"
    (tmp_path / "class" / "clean").mkdir(parents=True)
    write(instructor(classifier), tmp_path / "class" / "clean" / classifier)
    messy = instructor(classifier)
    mine = ["ratio = 1 / 0  # a real mistake", "print(undefined_name)", "from transformers import pipeline"]
    messy["cells"] += [{"cell_type": "code", "id": f"mine{i}", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": source} for i, source in enumerate(mine)]
    (tmp_path / "class" / "messy").mkdir()
    write(messy, tmp_path / "class" / "messy" / classifier)
    course.grade_class(tmp_path / "class", tmp_path / "out", notebooks=["08"])  # jobs=2 trips transformers' lazy import
    rows = gradebook_rows(tmp_path / "out")
    assert rows["clean"]["total"] == rows["clean"]["max"] == rows["messy"]["total"] == "2"
    clean = (tmp_path / "out" / "feedback" / "clean.md").read_text()
    assert "Errors in your cells" not in clean, clean
    report = json.loads((tmp_path / "out" / "students" / "messy.json").read_text())["report"]
    cells = len(messy["cells"])
    assert report["notebooks"][0]["student_errors"] == [  # the student's two; the hidden import is the grader's doing
        f"cell {cells - 2}, line 1: ZeroDivisionError: division by zero",
        f"cell {cells - 1}, line 1: NameError: name 'undefined_name' is not defined"]


# -------------------------------------------------------------------------------------------------- regrading
def test_a_stored_report_stands_only_for_what_it_was_graded_from(tmp_path):
    "Pure bookkeeping, no kernel: the submission's bytes, the notebook selection and the grader all count."
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / TUBE_MASKING).write_bytes(solved_05())
    only_05 = [ROOT / "notebooks" / TUBE_MASKING]
    version = gradebook.grader_version()
    record = {"graded_from": gradebook.graded_from(tmp_path / "sub", only_05, version)}
    assert gradebook.stale(record, gradebook.graded_from(tmp_path / "sub", only_05, version)) is None
    every = sorted((ROOT / "notebooks").glob("0[1-8]_*.ipynb"))
    assert gradebook.stale(record, gradebook.graded_from(tmp_path / "sub", every, version)).startswith(
        "graded for other notebooks")
    assert gradebook.stale(record, gradebook.graded_from(tmp_path / "sub", only_05, version + "x")) == \
        "graded by another version of the grader"
    assert version.startswith(f"{videomae_minimal.__version__}+")
    (tmp_path / "sub" / TUBE_MASKING).write_bytes(solved_05() + b" ")  # one byte more
    assert gradebook.stale(record, gradebook.graded_from(tmp_path / "sub", only_05, version)) == \
        "the submission is new or changed"
    assert gradebook.stale(None, {}) == "not graded yet"
    assert gradebook.stale({"report": None}, record["graded_from"]) == "the submission is new or changed"  # no stamp


def test_student_flag_regrades_one_and_a_partial_run_is_not_reused_by_a_full_one(tmp_path):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / TUBE_MASKING).write_bytes(solved_05())
    (tmp_path / "class" / "bob").mkdir()
    write(with_solution(instructor(TUBE_MASKING), "tube_mask_solution", WRONG_TUBES), tmp_path / "class" / "bob" / TUBE_MASKING)
    out = tmp_path / "out"
    course.grade_class(tmp_path / "class", out, notebooks=["05"], jobs=2)
    assert {s: r["total"] for s, r in gradebook_rows(out).items()} == {"ann": "2", "bob": "0"}
    ann_stored = (out / "students" / "ann.json").stat().st_mtime_ns

    (tmp_path / "class" / "bob" / TUBE_MASKING).write_bytes(solved_05())  # bob fixed it after the deadline
    messages = []
    made = course.grade_class(tmp_path / "class", out, notebooks=["05"], students=["bob"], progress=messages.append)
    assert made["graded_now"] == 1 and [m for m in messages if m.startswith("ann")] == []
    assert {s: r["total"] for s, r in gradebook_rows(out).items()} == {"ann": "2", "bob": "2"}  # ann's row kept
    assert (out / "students" / "ann.json").stat().st_mtime_ns == ann_stored

    messages = []  # a full run after the --notebook 05 runs: every report was partial, so both are graded again
    made = course.grade_class(tmp_path / "class", out, progress=messages.append)
    assert made["graded_now"] == 2, messages
    assert sum("grading again: graded for other notebooks" in m for m in messages) == 2, messages
    rows = gradebook_rows(out)
    assert [(rows[s]["total"], rows[s]["max"]) for s in ("ann", "bob")] == [("2", "23"), ("2", "23")]
    messages = []
    assert course.grade_class(tmp_path / "class", out, progress=messages.append)["graded_now"] == 0  # now it stands
    assert sum("already graded, skipped" in m for m in messages) == 2

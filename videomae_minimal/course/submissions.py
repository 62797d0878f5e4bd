"""Finding a student's notebooks: in a folder, a zip or a class's loose LMS files, matched to the course's notebooks
by their nbgrader cells or their names."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from .notebooks import CourseError, nbgrader_meta, read_notebook

__all__ = ['SKIPPED_DIRS', 'ZIP_LIMIT', 'LMS_SUFFIX', 'normalized', 'named_after', 'submitted_files', 'match_submission', 'class_submissions', 'unpack']

# -------------------------------------------------------------------------------------------- finding the files
SKIPPED_DIRS = ("__MACOSX",)  # what zip tools add; hidden folders (.ipynb_checkpoints) are skipped too


def normalized(stem: str) -> str:
    "A file name as words: lower case, every run of other characters one underscore ('05 Tube-Masking (1)' -> '05_tube_masking_1')."
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")


def named_after(stem: str, instructor_name: str) -> bool:
    """Whether a file name names this course notebook: its number and name anywhere in it, between word breaks
    ('05_tube_masking-Copy1', 'lastname_12345_67890_05_tube_masking', '05_Tube_Masking (1)'), or its name alone
    when no other number stands right before it ('tube_masking_jsmith')."""
    number, _, slug = Path(instructor_name).stem.partition("_")
    name = normalized(stem)
    for found in re.finditer(rf"(?:^|_)(?:(\d+)_)?{re.escape(normalized(slug))}(?=_|$)", name):
        if found.group(1) is None or int(found.group(1)) == int(number):
            return True
    return False


def submitted_files(submission: Path) -> list[Path]:
    "Every notebook in a submission, its subfolders included (not hidden folders such as .ipynb_checkpoints)."
    found = []
    for path in sorted(submission.rglob("*.ipynb")):
        parts = path.relative_to(submission).parts
        if path.is_file() and not any(p.startswith(".") or p in SKIPPED_DIRS for p in parts):
            found.append(path)
    return found


def _grade_ids(nb: dict) -> set[str]:
    return {str(nbgrader_meta(c)["grade_id"]) for c in nb["cells"] if nbgrader_meta(c).get("grade_id")}


def match_submission(submission: Path, instructor_paths: list[Path]) -> dict[str, list[Path]]:
    """The submitted files that could be each course notebook. A file carrying a notebook's nbgrader cells (their
    grade_id) is that notebook, whatever its name; a file carrying none is matched by its name, and only where no
    file carries the notebook's cells (so 'tube_masking_notes.ipynb' beside the real one is not a rival). Returns
    every candidate: more than one is an ambiguity for the caller to report, not to guess."""
    ids = {p.name: _grade_ids(read_notebook(p)) for p in instructor_paths}
    by_content: dict[str, list[Path]] = {p.name: [] for p in instructor_paths}
    by_name: dict[str, list[Path]] = {p.name: [] for p in instructor_paths}
    for path in submitted_files(submission):
        try:
            inside = _grade_ids(read_notebook(path))
        except CourseError:
            inside = set()  # unreadable: matched by name, and reported as unreadable when graded
        owners = [name for name, wanted in ids.items() if wanted & inside]
        for name in owners:
            by_content[name].append(path)
        if not owners:
            for name in ids:
                if named_after(path.stem, name):
                    by_name[name].append(path)
    return {name: by_content[name] or by_name[name] for name in ids}


# ------------------------------------------------------------------------------------------------------ a class
ZIP_LIMIT = 200 * 2**20  # bytes of notebooks one student's zip may unpack to
LMS_SUFFIX = re.compile(r"_assignsubmission_file_?$")  # Moodle's folder names: 'Ann Lee_123_assignsubmission_file_'



def _lms_student(stem: str, notebook_names: list[str]) -> str | None:
    """The student part of an LMS file name: what stands before the course notebook's number and name
    ('lastname_12345_67890_01_frame_sampling' -> 'lastname_12345_67890'), or None when it names no notebook."""
    name = normalized(stem)
    for notebook in notebook_names:
        number, _, slug = Path(notebook).stem.partition("_")
        found = re.search(rf"_(?:\d+_)?{re.escape(normalized(slug))}(?=_|$)", name)
        if found and found.start() > 0:
            return name[:found.start()]
    return None


def class_submissions(submissions: Path, notebook_names: list[str]) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Each student's submission in a class folder: a subfolder or a zip per student (named after it), and loose
    notebooks with LMS names (Canvas: 'lastname_12345_67890_01_frame_sampling.ipynb') grouped by their student part.
    Returns each student's source, and for loose notebooks the files that are theirs."""
    students: dict[str, Path] = {}
    loose: dict[str, list[Path]] = {}
    for path in sorted(submissions.iterdir()):
        if path.name.startswith(".") or path.name in SKIPPED_DIRS:
            continue
        if path.is_dir() or path.suffix.lower() == ".zip":
            student = LMS_SUFFIX.sub("", path.stem if path.is_file() else path.name).strip() or path.name
            if student in students:
                raise CourseError(f"{submissions}: two submissions for student {student!r} "
                                  f"({students[student].name}, {path.name}); keep one")
            students[student] = path
        elif path.suffix == ".ipynb":
            loose.setdefault(_lms_student(path.stem, notebook_names) or path.stem, []).append(path)
    for student, files in loose.items():
        if student in students:
            raise CourseError(f"{submissions}: student {student!r} has both {students[student].name} and loose files "
                              f"({', '.join(p.name for p in files)}); keep one")
        students[student] = files[0] if len(files) == 1 else submissions  # resolved per student when unpacked
    return students, loose


def unpack(source: Path, into: Path, files: list[Path] | None) -> Path:
    "A student's notebooks as a folder: a folder as it is, a zip's notebooks unpacked (safely), loose files copied."
    if files:
        for path in files:
            shutil.copy2(path, into / path.name)
        return into
    if source.is_dir():
        return source
    import zipfile

    try:
        with zipfile.ZipFile(source) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".ipynb") and not m.is_dir()]
            if sum(m.file_size for m in members) > ZIP_LIMIT:
                raise CourseError(f"{source}: its notebooks unpack to more than {ZIP_LIMIT // 2**20} MiB")
            for member in members:
                parts = [p for p in Path(member.filename.replace("\\", "/")).parts if p not in ("", ".", "/")]
                if not parts or ".." in parts or Path(member.filename).is_absolute():
                    continue  # a path that would leave the folder: not a notebook we unpack
                target = into.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as e:
        raise CourseError(f"{source}: not a readable zip ({e})") from e
    return into

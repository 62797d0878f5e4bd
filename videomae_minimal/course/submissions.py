"""Finding a student's notebooks: in a folder, a zip or a class's loose LMS files, matched to the course's notebooks
by their nbgrader cells or their names."""
from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from .notebooks import CourseError, nbgrader_meta, read_notebook

__all__ = ['SKIPPED_DIRS', 'SUBMISSION_LIMIT', 'ZIP_RATIO_LIMIT', 'ZIP_RATIO_FROM', 'LMS_SUFFIX', 'SubmissionError',
           'normalized', 'named_after', 'submitted_files', 'match_submission', 'class_submissions', 'unpack',
           'submission_digest']

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
    every candidate (byte-identical copies once): more than one is an ambiguity for the caller to report, not to
    guess."""
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
    return {name: _distinct(by_content[name] or by_name[name]) for name in ids}


def _distinct(paths: list[Path]) -> list[Path]:
    """The files with different bytes, of identical ones the shortest name kept: 'x.ipynb' and a byte-identical
    'x (1).ipynb' (a browser's second download) are one notebook handed in twice, not an ambiguity."""
    seen: dict[bytes, Path] = {}
    for path in sorted(paths, key=lambda p: (len(p.name), p)):
        try:
            seen.setdefault(hashlib.sha256(path.read_bytes()).digest(), path)
        except OSError:
            seen[str(path).encode()] = path  # unreadable: a candidate of its own, reported when graded
    return list(seen.values())


# ------------------------------------------------------------------------------------------------------ a class
SUBMISSION_LIMIT = 200 * 2**20  # bytes of notebooks one student's submission (a zip: once unpacked) may hold
ZIP_RATIO_LIMIT = 100  # a zip member's unpacked size over its packed size: notebooks pack 1.3-20x, a zip bomb 1000x
ZIP_RATIO_FROM = 2**20  # bytes: a member smaller than this unpacks to too little to matter, whatever its ratio
LMS_SUFFIX = re.compile(r"_assignsubmission_file_?$")  # Moodle's folder names: 'Ann Lee_123_assignsubmission_file_'


class SubmissionError(CourseError):
    """A student's submission the grader will not open, named with its file: a link, a special file, an unreadable
    file, a corrupt zip or a zip bomb. That student is not graded; the rest of the class is."""


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
    A link or a special file (a FIFO) stands for a student too, so that `unpack` reports it on their row: nothing is
    followed. Returns each student's source, and for loose notebooks the files that are theirs."""
    students: dict[str, Path] = {}
    loose: dict[str, list[Path]] = {}
    for path in sorted(submissions.iterdir()):
        if path.name.startswith(".") or path.name in SKIPPED_DIRS:
            continue
        mode = path.lstat().st_mode
        if path.suffix.lower() == ".ipynb" and not stat.S_ISDIR(mode):
            loose.setdefault(_lms_student(path.stem, notebook_names) or path.stem, []).append(path)
        elif stat.S_ISDIR(mode) or path.suffix.lower() == ".zip" or not stat.S_ISREG(mode):
            named = path.name if stat.S_ISDIR(mode) or path.suffix.lower() != ".zip" else path.stem
            student = LMS_SUFFIX.sub("", named).strip() or path.name
            if student in students:
                raise CourseError(f"{submissions}: two submissions for student {student!r} "
                                  f"({students[student].name}, {path.name}); keep one")
            students[student] = path
    for student, files in loose.items():
        if student in students:
            raise CourseError(f"{submissions}: student {student!r} has both {students[student].name} and loose files "
                              f"({', '.join(p.name for p in files)}); keep one")
        students[student] = files[0] if len(files) == 1 else submissions  # resolved per student when unpacked
    return students, loose


def _refused(path: Path, mode: int) -> str | None:
    "Why an entry of a submission is not opened (a link is never followed), or None for a file or folder."
    if stat.S_ISLNK(mode):
        return f"{path}: a symbolic link (links are not followed; hand in the file itself)"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"{path}: not a regular file (a FIFO, socket or device); hand in notebooks only"
    return None


def _open_regular(path: Path):
    """A file opened for reading without following a link and without blocking on a FIFO put in its place since it
    was looked at, and only when it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        if os.path.islink(path):
            raise SubmissionError(_refused(path, stat.S_IFLNK)) from e
        raise SubmissionError(f"{path}: cannot be read ({e.strerror})") from e
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SubmissionError(_refused(path, mode) or f"{path}: a folder where a notebook was expected")
    return os.fdopen(fd, "rb")


def _folder_notebooks(folder: Path) -> list[Path]:
    """A submitted folder's notebooks (as `submitted_files` picks them), after looking at every entry under it
    without following anything: a link or a special file anywhere, or a folder that cannot be listed, refuses the
    submission."""
    found, pending = [], [folder]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as e:
            raise SubmissionError(f"{current}: cannot be listed ({e.strerror})") from e
        for entry in entries:
            path = Path(entry.path)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as e:  # gone since it was listed
                raise SubmissionError(f"{path}: cannot be read ({e.strerror})") from e
            reason = _refused(path, mode)
            if reason:
                raise SubmissionError(reason)
            if stat.S_ISDIR(mode):
                pending.append(path)
            elif path.suffix == ".ipynb":
                found.append(path)
    return [p for p in sorted(found) if not any(part.startswith(".") or part in SKIPPED_DIRS
                                                for part in p.relative_to(folder).parts)]


def _copy_checked(files: list[tuple[Path, Path]]) -> None:
    """Each (source, target): read without following links, within SUBMISSION_LIMIT in all (its size looked at before
    a byte is read), written to its target."""
    total = 0
    for source, target in files:
        with _open_regular(source) as f:
            total += os.fstat(f.fileno()).st_size
            if total > SUBMISSION_LIMIT:
                raise SubmissionError(f"{source}: the submission's notebooks hold more than "
                                      f"{SUBMISSION_LIMIT // 2**20} MiB (the limit per student)")
            try:
                data = f.read(SUBMISSION_LIMIT + 1)  # a file still growing stops at the limit too
            except OSError as e:
                raise SubmissionError(f"{source}: cannot be read ({e.strerror})") from e
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _zip_member_path(name: str) -> tuple[str, ...] | None:
    "A member's path inside the folder it unpacks to, or None when it would leave the folder."
    parts = tuple(p for p in Path(name.replace("\\", "/")).parts if p not in ("", ".", "/"))
    return None if not parts or ".." in parts or name.startswith(("/", "\\")) or ":" in parts[0] else parts


def _unpack_zip(source: Path, into: Path) -> None:
    """A zip's notebooks unpacked into `into`, after its table is checked: no member may be a link (its external
    attributes, as Unix zip tools write them), no notebook may unpack to more than ZIP_RATIO_LIMIT times its packed
    size, and all of them to no more than SUBMISSION_LIMIT. zipfile never writes more than a member's declared size,
    so the declared sizes bound what unpacking writes."""
    import zipfile
    import zlib

    try:
        with _open_regular(source) as opened, zipfile.ZipFile(opened) as archive:
            members = archive.infolist()
            for member in members:
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise SubmissionError(f"{source}: member {member.filename} is a symbolic link "
                                          "(links are not followed; zip the file itself)")
            notebooks = [m for m in members if m.filename.lower().endswith(".ipynb") and not m.is_dir()]
            for member in notebooks:
                if member.file_size > ZIP_RATIO_FROM and member.file_size > ZIP_RATIO_LIMIT * max(member.compress_size, 1):
                    raise SubmissionError(f"{source}: member {member.filename} unpacks to {member.file_size} bytes from "
                                          f"{member.compress_size} ({member.file_size // max(member.compress_size, 1)}x, "
                                          f"the limit is {ZIP_RATIO_LIMIT}x): refused as a zip bomb")
            if sum(m.file_size for m in notebooks) > SUBMISSION_LIMIT:
                raise SubmissionError(f"{source}: its notebooks unpack to more than {SUBMISSION_LIMIT // 2**20} MiB "
                                      "(the limit per student): refused as a zip bomb")
            for member in notebooks:
                parts = _zip_member_path(member.filename)
                if parts is None:
                    continue  # a path that would leave the folder: not a notebook we unpack
                target = into.joinpath(*parts)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))
                except (FileExistsError, IsADirectoryError, NotADirectoryError) as e:  # 'a.ipynb' and 'a.ipynb/b.ipynb'
                    raise SubmissionError(f"{source}: member {member.filename} cannot be unpacked ({e.strerror})") from e
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise SubmissionError(f"{source}: not a readable zip ({e})") from e
    except (RuntimeError, NotImplementedError) as e:  # zipfile's words for an encrypted or unsupported member
        raise SubmissionError(f"{source}: a member cannot be unpacked ({e}); zip it without a password") from e


def unpack(source: Path, into: Path, files: list[Path] | None = None) -> Path:
    """A student's notebooks copied into the empty folder `into` (their paths kept), the only copy graded: a
    folder's notebooks, a zip's (checked first), or the given loose files. Raises SubmissionError, naming the file,
    for a link or special file anywhere, an unreadable file or folder, a corrupt zip or a zip bomb."""
    if files:
        _copy_checked([(path, into / path.name) for path in files])
        return into
    try:
        mode = source.lstat().st_mode
    except OSError as e:
        raise SubmissionError(f"{source}: cannot be read ({e.strerror})") from e
    reason = _refused(source, mode)
    if reason:
        raise SubmissionError(reason)
    if stat.S_ISDIR(mode):
        _copy_checked([(path, into / path.relative_to(source)) for path in _folder_notebooks(source)])
    elif source.suffix.lower() == ".ipynb":
        _copy_checked([(source, into / source.name)])
    else:
        _unpack_zip(source, into)
    return into


def submission_digest(folder: Path) -> str:
    "A hash of a (copied) submission's notebooks, their paths and bytes: what a stored report was graded from."
    digest = hashlib.sha256()
    for path in submitted_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()

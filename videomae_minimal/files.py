"""Writing a file whole or not at all: the package's one atomic writer. Hand-written (no notebook), standard library
only, so that every layer may use it: the checkpoints (appendix A2 explains why a half-written file is a hazard), the
training runs (A3), the command line's figures and features, and the grader's gradebook.

A file is written under a temporary name in its own folder and renamed into place: a crash leaves the old file or
the new one, never half of one. The temporary name keeps the file's suffix (`.x.partial.mp4`), since some writers
choose their format by it. The result gets ordinary permissions (0666 less the umask), not mkstemp's 0600. A disk
that fills up on the way (or a quota, or `ulimit -f`) is reported as a WriteError naming the file."""
from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path

__all__ = ["WriteError", "NO_ROOM", "raise_if_no_room", "replace_atomic", "write_atomic", "write_text_atomic",
           "write_json_atomic"]


class WriteError(OSError):
    "A file that could not be written for want of room: the disk is full, the quota spent, or `ulimit -f` reached."

    def __str__(self) -> str:
        return self.strerror


NO_ROOM = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
           errno.EFBIG: "file size limit (ulimit -f) exceeded"}


def raise_if_no_room(error: BaseException, path) -> None:
    "Re-raise `error` as a WriteError naming `path` when it says there was no room to write; else return."
    code = getattr(error, "errno", None)
    if code is None:  # safetensors reports the OS error inside its message: "... (os error 28)"
        found = re.search(r"os error (\d+)", str(error))
        code = int(found.group(1)) if found else None
    if code in NO_ROOM:
        raise WriteError(code, f"{NO_ROOM[code]} while writing {path}") from error


def replace_atomic(tmp: Path, path: Path) -> None:
    "Give `tmp` (a file or a folder) ordinary permissions, as the umask says, and rename it onto `path`."
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if Path(tmp).is_dir() else 0o666) & ~umask)
    os.replace(tmp, path)


def write_atomic(path, write) -> Path:
    """Call `write(tmp_path)` on a temporary file next to `path`, then rename it into place: complete or absent.
    A full disk is reported as such, naming `path` (the old file, if any, is untouched)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial" + path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        replace_atomic(Path(tmp), path)
    except BaseException as e:  # a Ctrl-C too: the temporary file goes, the old file stays
        raise_if_no_room(e, path)
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_text_atomic(path, text: str) -> Path:
    "UTF-8 text with '\\n' line ends, written atomically (its folder made first)."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: tmp.write_bytes(text.encode("utf-8")))


def write_json_atomic(path, data, indent: int = 1) -> Path:
    "A JSON document (UTF-8, not ASCII-escaped, a final newline), written atomically."
    return write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")

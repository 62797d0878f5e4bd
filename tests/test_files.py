"""The package's one atomic writer (videomae_minimal/files.py): every file the package writes goes through it."""
import ast
import os
import stat

import pytest

from conftest import ROOT
from videomae_minimal.files import write_atomic, write_json_atomic, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_text("old")
    seen = []

    def fails_halfway(tmp):
        seen.append(tmp.name)
        tmp.write_text("half")
        raise RuntimeError("the writer broke")

    with pytest.raises(RuntimeError, match="the writer broke"):
        write_atomic(target, fails_halfway)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert seen[0].startswith(".model.safetensors.") and seen[0].endswith(".partial.safetensors")  # the suffix is kept


def test_files_get_ordinary_permissions_and_unix_text(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "deep" / "notes.md", "a\nb\n")
        write_json_atomic(tmp_path / "r.json", {"é": 1})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert path.read_bytes() == b"a\nb\n" and (tmp_path / "r.json").read_text(encoding="utf-8") == '{\n "é": 1\n}\n'


def test_no_module_writes_a_file_in_place_by_itself():
    "No package module renames temporary files of its own: os.replace and mkstemp live in files.py only."
    for path in sorted((ROOT / "videomae_minimal").rglob("*.py")):
        if path.name == "files.py":
            continue
        calls = {f"{n.func.value.id}.{n.func.attr}" for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)}
        assert not calls & {"os.replace", "tempfile.mkstemp", "os.rename"}, path.name


def test_the_version_is_the_one_pyproject_states():
    import tomllib

    from videomae_minimal.version import __version__
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == __version__

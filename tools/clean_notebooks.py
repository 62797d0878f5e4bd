#!/usr/bin/env python3
"""Strip the notebook metadata that executing a notebook rewrites on every run, so that re-running an unchanged
notebook (`make execute-notebooks`) leaves git clean. What nbval compares stays: outputs and execution counts.

    python tools/clean_notebooks.py notebooks            # clean every *.ipynb under the folder, in place
    python tools/clean_notebooks.py --check notebooks    # exit 1 naming each notebook that is not clean

Stripped, as nbstripout and nbdev_clean do: each cell's `execution` timestamps (nbclient's), `ExecuteTime` (the
classic ExecuteTime extension's) and the view state JupyterLab saves when a cell is folded or scrolled (`collapsed`,
`scrolled`); the notebook's trust `signature` and `widgets` state; `language_info.version`, the Python patch
version of whichever machine ran it last. Everything else (nbgrader's cell metadata, tags, the kernelspec nbval
starts a kernel from) is kept. The file is written the way nbformat writes it (sorted keys, indent 1, UTF-8), under a
temporary name and renamed; an already clean notebook is not rewritten. Standard library only (and export.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export import write_atomic  # noqa: E402  the exporter's atomic write (temporary file, then rename)

__all__ = ["CELL_METADATA_VOLATILE", "NOTEBOOK_METADATA_VOLATILE", "clean", "clean_file", "main"]

CELL_METADATA_VOLATILE = ("execution", "ExecuteTime", "collapsed", "scrolled")
NOTEBOOK_METADATA_VOLATILE = ("signature", "widgets")


class NotANotebook(ValueError):
    pass


def clean(notebook: dict) -> dict:
    "The notebook without its volatile metadata (changed in place, and returned)."
    for cell in notebook["cells"]:
        metadata = cell.get("metadata")
        if isinstance(metadata, dict):
            for key in CELL_METADATA_VOLATILE:
                metadata.pop(key, None)
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict):
        for key in NOTEBOOK_METADATA_VOLATILE:
            metadata.pop(key, None)
        if isinstance(metadata.get("language_info"), dict):
            metadata["language_info"].pop("version", None)
    return notebook


def as_written(notebook: dict) -> str:
    "The text nbformat (and so `jupyter nbconvert --inplace`) writes for this notebook: a clean file round-trips."
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def clean_file(path: Path, check: bool = False) -> bool:
    "Clean one notebook file (unless `check`); whether it was not clean."
    try:
        text = path.read_text(encoding="utf-8")
        notebook = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotANotebook(f"{path}: not a Jupyter notebook (expected UTF-8 JSON): {e}") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotANotebook(f"{path}: not a Jupyter notebook (expected a JSON object with a 'cells' list)")
    cleaned = as_written(clean(notebook))
    if cleaned == text:
        return False
    if not check:
        write_atomic(path, cleaned)
    return True


def _notebooks(paths: list[Path]) -> list[Path]:
    "The notebooks named, folders expanded to every *.ipynb under them (checkpoints folders left out)."
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.is_file():
            found.append(path)
        else:
            raise NotANotebook(f"{path}: no such file or folder (expected notebooks or folders holding them)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks, or folders holding them")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is not clean")
    args = parser.parse_args(argv)
    try:
        changed = [path for path in _notebooks(args.paths) if clean_file(path, check=args.check)]
    except NotANotebook as e:
        print(f"clean_notebooks: {e}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{path}: {'not clean (volatile metadata): run tools/clean_notebooks.py' if args.check else 'cleaned'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())

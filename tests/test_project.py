"""The files every project has, checked against what they must say: the licence text, the citation, the package
metadata and its [course] extra against the notebooks' own imports, environment.yml against constraints.txt, and
tools/clean_notebooks.py (volatile metadata stripped; the committed notebooks already clean).
"""
from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "appendix").glob("*.ipynb"))
CLEAN = [sys.executable, str(ROOT / "tools" / "clean_notebooks.py")]
# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the licence's canonical text
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def pins(lines) -> dict[str, str]:
    "name -> version of every `name==version` line (comments and blank lines skipped)."
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            found[canonicalize_name(name)] = version.strip()
    return found


def test_the_licence_is_the_apache_2_text_the_metadata_names():
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]


def test_citation_cites_this_project_and_the_videomae_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["message"] and cff["authors"]
    assert cff["version"] == PROJECT["version"] and cff["license"] == PROJECT["license"]
    assert "videomae-minimal" in cff["title"]
    (paper,) = [r for r in cff["references"] if "VideoMAE" in r["title"]]
    assert paper["title"] == ("VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised Video "
                              "Pre-Training")
    assert [a["family-names"] for a in paper["authors"]] == ["Tong", "Song", "Wang", "Wang"]
    assert [a["given-names"] for a in paper["authors"]] == ["Zhan", "Yibing", "Jue", "Limin"]
    assert paper["year"] == 2022 and paper["conference"]["name"] == "NeurIPS 2022"
    assert "2203.12602" in paper["url"] and paper["doi"] == "10.48550/arXiv.2203.12602"


def test_package_metadata_has_authors_keywords_classifiers_and_links():
    assert PROJECT["authors"] and "videomae" in PROJECT["keywords"]
    classifiers = PROJECT["classifiers"]
    assert all(re.fullmatch(r"[A-Z][\w /.-]*( :: [\w /.()-]+)+", c) for c in classifiers), classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the SPDX expression says it
    assert "Programming Language :: Python :: 3.11" in classifiers  # the version the tests run on
    assert PROJECT["urls"]["Paper"] == "https://arxiv.org/abs/2203.12602"


def notebook_imports(notebook) -> set[str]:
    "The top-level modules a notebook's code cells import (IPython's magics and shell lines left out)."
    found = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        code = "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def course_requirements() -> set[str]:
    "The distributions `pip install videomae-minimal[course]` brings: the dependencies and the extra, self-references followed."
    names, todo = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}, ["course"]
    while todo:
        for requirement in map(Requirement, PROJECT["optional-dependencies"][todo.pop()]):
            if canonicalize_name(requirement.name) == canonicalize_name(PROJECT["name"]):
                todo += requirement.extras
            else:
                names.add(canonicalize_name(requirement.name))
    return names


def test_the_course_extra_brings_every_module_the_notebooks_import():
    distributions = importlib.metadata.packages_distributions()  # module -> the installed distributions providing it
    needed = {}
    for notebook in NOTEBOOKS:
        for module in notebook_imports(notebook) - set(sys.stdlib_module_names) - {"videomae_minimal"}:
            assert module in distributions, f"{notebook.name} imports {module}, which no installed distribution provides"
            needed.setdefault(canonicalize_name(distributions[module][0]), set()).add(notebook.name)
    assert {"transformers", "torch", "numpy"} <= set(needed)  # the scan found the imports it is about
    missing = {name: sorted(where) for name, where in needed.items() if name not in course_requirements()}
    assert not missing, f"imported by the notebooks, not in the dependencies or the [course] extra: {missing}"
    assert "jupyterlab" in course_requirements()  # `jupyter lab my-course`, as the README says


def test_environment_yml_pins_every_constraint_at_the_same_version():
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip_section,) = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(constraints) >= 30 and pins(pip_section) == constraints
    python = next(d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert f"Programming Language :: Python :: {python.split('=')[1]}" in PROJECT["classifiers"]


def executed_notebook() -> dict:
    "A notebook as `jupyter nbconvert --execute --inplace` leaves it: timestamps, a Python version, outputs."
    timestamps = {"iopub.execute_input": "2026-12-02T04:19:59.996822Z", "iopub.status.busy": "2026-12-02T04:19:59.99Z",
                  "iopub.status.idle": "2026-12-02T04:20:00.003875Z", "shell.execute_reply": "2026-12-02T04:20:00.0Z"}
    return {
        "cells": [
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# Title ü"]},
            {"cell_type": "code", "execution_count": 1, "id": "c1",
             "metadata": {"execution": timestamps, "tags": ["keep"], "nbgrader": {"grade": True, "points": 2},
                          "scrolled": True, "collapsed": False},
             "outputs": [{"name": "stdout", "output_type": "stream", "text": ["2\n"]}], "source": ["print(1 + 1)"]},
            {"cell_type": "code", "execution_count": 2, "id": "c2", "metadata": {"ExecuteTime": {"end_time": "x"}},
             "outputs": [{"data": {"text/plain": ["3"]}, "execution_count": 2, "metadata": {},
                          "output_type": "execute_result"}], "source": ["3"]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "pygments_lexer": "ipython3", "version": "3.11.7"},
                     "widgets": {"state": {}}, "signature": "sha256:0"},
        "nbformat": 4, "nbformat_minor": 5,
    }


def test_an_executed_notebook_comes_out_clean_with_its_outputs_and_counts(tmp_path):
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps(executed_notebook(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert subprocess.run([*CLEAN, "--check", path], capture_output=True).returncode == 1
    assert subprocess.run([*CLEAN, tmp_path], capture_output=True).returncode == 0
    cleaned = json.loads(path.read_text(encoding="utf-8"))

    expected = executed_notebook()  # written out by hand: what stays
    expected["cells"][1]["metadata"] = {"tags": ["keep"], "nbgrader": {"grade": True, "points": 2}}
    expected["cells"][2]["metadata"] = {}
    expected["metadata"] = {"kernelspec": expected["metadata"]["kernelspec"],
                            "language_info": {"name": "python", "pygments_lexer": "ipython3"}}
    assert cleaned == expected
    text = path.read_text(encoding="utf-8")
    assert "# Title ü" in text and text.endswith("}\n")  # UTF-8 kept as is, nbformat's layout
    assert subprocess.run([*CLEAN, "--check", path], capture_output=True).returncode == 0
    before = path.stat().st_mtime_ns
    assert subprocess.run([*CLEAN, path], capture_output=True).returncode == 0
    assert path.stat().st_mtime_ns == before and path.read_text(encoding="utf-8") == text  # clean: not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["executed.ipynb"]  # no temporary file left


def test_clean_notebooks_names_a_file_that_is_not_a_notebook(tmp_path):
    (tmp_path / "broken.ipynb").write_text('{"cells": ')
    done = subprocess.run([*CLEAN, tmp_path / "broken.ipynb"], capture_output=True, text=True)
    assert done.returncode == 2 and "broken.ipynb: not a Jupyter notebook" in done.stderr, done.stderr
    done = subprocess.run([*CLEAN, tmp_path / "missing"], capture_output=True, text=True)
    assert done.returncode == 2 and "missing: no such file or folder" in done.stderr, done.stderr



def test_re_executing_an_unchanged_notebook_leaves_the_same_bytes(tmp_path):
    path = tmp_path / "small.ipynb"
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                   "source": ["print(sum(range(10)))"]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    texts = []
    for _ in range(2):  # what `make execute-notebooks` does to one notebook, twice
        execute = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace", path]
        subprocess.run(execute, check=True, capture_output=True, timeout=120)
        assert '"iopub.execute_input"' in path.read_text()  # nbconvert wrote its timestamps
        subprocess.run([*CLEAN, path], check=True, capture_output=True)
        texts.append(path.read_text(encoding="utf-8"))
    assert texts[0] == texts[1] and '"execution"' not in texts[0], texts
    assert json.loads(texts[0])["cells"][0]["outputs"][0]["text"] == ["45\n"]  # the output stays


def test_the_committed_notebooks_carry_no_volatile_metadata():
    assert len(NOTEBOOKS) >= 16
    for notebook in NOTEBOOKS:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        stale = [cell.get("id") for cell in nb["cells"] if {"execution", "ExecuteTime"} & set(cell.get("metadata", {}))]
        assert not stale, f"{notebook.name}: execution timestamps in cells {stale[:5]}: run tools/clean_notebooks.py"
        assert "version" not in nb["metadata"].get("language_info", {}), notebook.name

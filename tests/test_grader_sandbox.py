"""The grading kernel sees only what it needs, and it cannot exhaust the grader.

Reads: a student cell tries to read what belongs to a classmate, the instructor or the grader, and raises whatever it
found: the report must hold none of it. Limits: memory, file size, printing, processes, disk and the notebook's time
budget, each run in a small kernel (no torch) for a few seconds.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT
from test_course import instructor, sandbox_or_skip, with_solution, write
from videomae_minimal import course
from videomae_minimal.course import kernel, notebooks

SECRETS = {"classmate": "classmate-answer-7f3a", "var_tmp": "var-tmp-gradebook-91c2", "token": "grader-token-5d8e"}

# 05's solution, turned into a thief: what it reads it raises, so it would land in the report. Each attempt names
# what it got: the secret (a leak) or the error (nothing to read).
STEAL = """    import os, pathlib, videomae_minimal
    got = []
    for what, path, secret in [("classmate", {classmate!r}, {classmate_secret!r}),
                               ("var_tmp", {var_tmp!r}, {var_tmp_secret!r}),
                               ("instructor", {instructor!r}, "### BEGIN SOLUTION"),
                               ("positions", str(pathlib.Path(videomae_minimal.__file__).parent / "positions.py"),
                                "def sinusoid_table")]:
        try:
            text = pathlib.Path(path).read_text()
            got.append(f"{{what}}: " + (text[:40] if secret in text else "LEAK " + what))
        except OSError as e:
            got.append(f"{{what}}: {{type(e).__name__}}")
    got.append("token: " + os.environ.get("GRADER_TOKEN", "none"))
    raise RuntimeError("; ".join(got))"""


def test_a_student_cell_reads_nothing_of_the_class_the_instructor_or_the_grader(tmp_path, monkeypatch):
    sandbox_or_skip()
    classmate = tmp_path / "class" / "bob" / "05_tube_masking.ipynb"  # a folder outside the scratch tree
    classmate.parent.mkdir(parents=True)
    classmate.write_text(SECRETS["classmate"])
    var_tmp = Path(tempfile.mkdtemp(dir="/var/tmp")) if os.access("/var/tmp", os.W_OK) else tmp_path / "var_tmp"
    try:
        var_tmp.mkdir(exist_ok=True)
        (var_tmp / "gradebook.csv").write_text(SECRETS["var_tmp"])
        monkeypatch.setenv("GRADER_TOKEN", SECRETS["token"])
        steal = STEAL.format(classmate=str(classmate), classmate_secret=SECRETS["classmate"],
                             var_tmp=str(var_tmp / "gradebook.csv"), var_tmp_secret=SECRETS["var_tmp"],
                             instructor=str(ROOT / "notebooks" / "05_tube_masking.ipynb"))
        (tmp_path / "sub").mkdir()
        write(with_solution(instructor("05_tube_masking.ipynb"), "tube_mask_solution", steal),
              tmp_path / "sub" / "05_tube_masking.ipynb")
        assert classmate.read_text() == SECRETS["classmate"]  # all of it is readable here, in the grader
        report = course.grade(tmp_path / "sub", ROOT, timeout=60, notebooks=["05"])
    finally:
        if var_tmp.is_relative_to("/var/tmp"):
            shutil.rmtree(var_tmp)
    text = json.dumps(report)
    assert report["sandbox"] and report["total"] == 0, report
    # The attack ran (its four reads failed, its message is in the report) and got nothing.
    for what in ("classmate", "var_tmp", "instructor", "positions"):
        assert f"{what}: FileNotFoundError" in text, text
    assert "token: none" in text, text
    assert "LEAK" not in text and "BEGIN SOLUTION" not in text
    for secret in SECRETS.values():
        assert secret not in text


def test_the_kernel_environment_is_an_allow_list(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_TOKEN", "secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = kernel.kernel_env(tmp_path)
    assert "GRADER_TOKEN" not in env and env["LANG"] == "C.UTF-8"
    assert env["PYTHONPATH"] == str(tmp_path) and env["HOME"] == str(tmp_path / "home")
    assert set(env) <= set(kernel.KERNEL_ENV_PASSED) | {"PYTHONPATH", "HOME", "TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR",
                                                        "PYTHONNOUSERSITE"}


def test_other_steps_are_bytecode_only_in_the_scratch_tree(tmp_path):
    path = ROOT / "notebooks" / "05_tube_masking.ipynb"
    kernel.scratch_tree(tmp_path, ROOT, path, notebooks.read_notebook(path))
    package = tmp_path / "videomae_minimal"
    sources = {p.name: p.read_text(encoding="utf-8").split("\n", 1)[0] for p in package.glob("*.py")}
    generated = {name: line for name, line in sources.items() if line.startswith(notebooks.GENERATED_HEADER)}
    assert set(generated) == {"masking.py"}, generated  # 05's own module, the student skeleton: the only source
    assert "raise NotImplementedError()" in (package / "masking.py").read_text()
    assert (package / "positions.pyc").exists() and not (package / "course").exists()
    for name in ("positions", "encoder", "classifier", "pretraining"):
        assert not (package / f"{name}.py").exists()
    probe = ("import inspect, videomae_minimal.positions as p\n"
             "print(tuple(p.sinusoid_table(4, 8).shape))\n"
             "try:\n    inspect.getsource(p.sinusoid_table)\nexcept (OSError, TypeError):\n    print('no source')")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0 and done.stdout.split("\n")[:2] == ["(4, 8)", "no source"], done.stderr


def position(argv: list[str], *sequence: str) -> int:
    "Where `sequence` starts in `argv` (a bubblewrap command line)."
    return next(i for i in range(len(argv)) if tuple(argv[i:i + len(sequence)]) == sequence)


def test_sandbox_argv_mounts_an_environment_under_tmp_after_the_fresh_tmp(tmp_path, monkeypatch):
    "No bubblewrap needed: the command line only. A venv under /tmp is bound after /tmp's tmpfs, not hidden by it."
    venv = tmp_path / "venv"
    hidden_inside = venv / "lib" / "python3" / "site-packages" / "transformers"
    hidden_inside.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(venv))
    tree = tmp_path / "tree"
    (tree / "notebooks").mkdir(parents=True)
    argv = kernel.sandbox_argv("bwrap", tree, [hidden_inside, ROOT])
    fresh_tmp = position(argv, "--tmpfs", "/tmp")
    bind_venv = position(argv, "--ro-bind", str(venv), str(venv))
    hide = position(argv, "--tmpfs", str(hidden_inside))
    bind_tree = position(argv, "--bind", str(tree), str(tree))
    assert fresh_tmp < bind_venv < hide and fresh_tmp < bind_tree, argv
    assert position(argv, "--ro-bind", str(Path(sys.base_prefix).resolve()))  # the interpreter a venv links to
    binds = [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    assert not {"/", str(ROOT), str(ROOT / "notebooks"), str(ROOT / "videomae_minimal"), str(Path.home())} & set(binds)


def test_a_grader_in_a_venv_under_tmp_gives_full_marks(tmp_path):
    """The grader run from a virtual environment under /tmp (its packages: this project's, through a .pth file):
    the sandbox binds it after its fresh /tmp, so the kernel starts and the instructor's 05 scores 2/2."""
    sandbox_or_skip()
    venv = Path(tempfile.mkdtemp(prefix="grader-venv-", dir="/tmp"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
        [site_packages] = list(venv.glob("lib/python*/site-packages"))
        ours = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").exists())
        (site_packages / "project.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
        (tmp_path / "sub").mkdir()
        write(instructor("05_tube_masking.ipynb"), tmp_path / "sub" / "05_tube_masking.ipynb")
        script = ("import json, sys; from videomae_minimal import course; "
                  f"r = course.grade({str(tmp_path / 'sub')!r}, {str(ROOT)!r}, timeout=60, notebooks=['05']); "
                  "print(json.dumps([sys.prefix, r['sandbox'], r['total'], r['max'], r['notebooks']]))")
        started = time.perf_counter()
        done = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                              cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        print(f"\ngraded 05 from a venv under /tmp in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        shutil.rmtree(venv)
    assert done.returncode == 0, done.stderr
    prefix, sandboxed, total, most, records = json.loads(done.stdout.splitlines()[-1])
    assert Path(prefix).resolve() == venv.resolve() and sandboxed, (prefix, sandboxed)
    assert (total, most) == (2.0, 2.0), records


# ------------------------------------------------------------------------------------------------------ limits
def small_notebook(*sources: str) -> dict:
    return {"cells": [{"cell_type": "code", "id": str(i), "metadata": {}, "outputs": [], "execution_count": None,
                       "source": source} for i, source in enumerate(sources)],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def run_small(tmp_path, limits, *sources, timeout=30):
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    bwrap = course.sandbox_available()
    argv = kernel.sandbox_argv(bwrap, tmp_path, kernel.hidden_paths(ROOT)) if bwrap else None
    return kernel.run_notebook(small_notebook(*sources), tmp_path, timeout, argv, limits)


# 50 messages of 1 MB, paced so that the grader keeps up: what it keeps shows, not what queues in its sockets
PRINT_50_MB = "import sys, time\nfor _ in range(50):\n    print('x' * (1 << 20))\n    sys.stdout.flush()\n    time.sleep(0.03)"


def test_memory_file_size_and_printing_stop_the_cell_not_the_grader(tmp_path):
    import importlib

    import psutil

    for module in ("jupyter_client", "nbclient", "nbformat", "zmq"):  # before measuring: the grader's own modules
        importlib.import_module(module)

    me, peak, running = psutil.Process(), [0], threading.Event()
    running.set()

    def sample():
        while running.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.02)

    limits = kernel.Limits(memory=1 << 30, file_size=16 << 20, output=64 << 10)
    before = me.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        replies, stopped = run_small(
            tmp_path, limits,
            "x = bytearray(3 << 30)  # three times the limit",
            "open('big.bin', 'wb').write(b'0' * (32 << 20))  # twice the largest file allowed",
            PRINT_50_MB,
            "print('still here')")
    finally:
        running.clear()
        sampler.join()
    assert stopped is None, stopped
    assert replies[0]["ename"] == "MemoryError", replies[0]
    assert replies[1]["ename"] == "OSError" and "too large" in replies[1]["evalue"], replies[1]
    assert replies[2]["status"] == "ok" and replies[3]["status"] == "ok"  # the class goes on: the kernel lives
    assert (tmp_path / "notebooks" / "big.bin").stat().st_size <= 16 << 20
    grew = (peak[0] - before) / 2**20
    print(f"\nthe grader grew by {grew:.1f} MB while the kernel printed 50 MB", file=sys.stderr)
    assert grew < 30, grew  # keeping the 50 MB would have grown it by 50 MB at least


def test_output_kept_per_cell_is_capped_with_a_note():
    kept = []
    keep = kernel.capped_output(lambda outs, msg, display_id, cell_index: outs.append(msg["content"]["text"]),
                                cap=10_000)
    for _ in range(50):
        keep(kept, {"content": {"name": "stdout", "text": "x" * 1000}}, None, 0)
    assert 9_000 <= sum(len(o) for o in kept if isinstance(o, str)) <= 10_000  # whole messages, up to the cap
    notes = [o for o in kept if not isinstance(o, str)]
    assert len(notes) == 1 and notes[0]["text"] == kernel.TRUNCATED
    other = []
    keep(other, {"content": {"name": "stdout", "text": "y"}}, None, 1)  # another cell starts afresh
    assert other == ["y"]


@pytest.mark.parametrize("limit, source, stopped_by", [
    ("memory", "import subprocess, sys, time\n"
               "children = [subprocess.Popen([sys.executable, '-c', 'import time; b = b\"x\" * (250 << 20); "
               "time.sleep(60)']) for _ in range(4)]\ntime.sleep(60)",
     "not run: the kernel used more than 600 MB of memory and was stopped"),
    ("disk", "import time\nfor i in range(12):\n    open(f'f{i}.bin', 'wb').write(b'0' * (10 << 20))\ntime.sleep(60)",
     "not run: the kernel wrote more than 50 MB of files and was stopped"),
    ("processes", "import threading, time\n"
                  "for _ in range(200):\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
                  "time.sleep(60)",
     "not run: the kernel ran more than 64 processes and threads and was stopped"),
])
def test_the_watchdog_stops_a_kernel_past_its_limits(tmp_path, limit, source, stopped_by):
    """What one process's rlimits do not see: four children holding 1 GB together under a 600 MB limit, 120 MB of
    files of 10 MB each under a 50 MB limit, 200 threads under 64."""
    limits = {"memory": kernel.Limits(memory=600 << 20), "disk": kernel.Limits(disk=50 << 20),
              "processes": kernel.Limits(processes=64)}[limit]
    started = time.perf_counter()
    replies, stopped = run_small(tmp_path, limits, source, "print('never')", timeout=60)
    if limit == "processes" and stopped is None:  # as a user other than root, RLIMIT_NPROC stops the threads first
        assert "can't start new thread" in replies[0].get("evalue", ""), replies[0]
        return
    assert stopped == stopped_by and 1 not in replies, (stopped, replies)
    assert time.perf_counter() - started < 45  # stopped by the watchdog, not the cell's 60 s limit
    assert kernel.kernel_processes() == []


def test_a_notebook_past_its_budget_is_stopped_with_the_message(tmp_path):
    replies, stopped = run_small(tmp_path, kernel.Limits(budget=5), "import time\ntime.sleep(2)", "time.sleep(2)",
                                 "time.sleep(4)", "print('never')", timeout=30)
    assert stopped == "not run: the notebook ran past its 5 s limit", stopped
    assert replies[0]["status"] == replies[1]["status"] == "ok" and 2 not in replies and 3 not in replies, replies

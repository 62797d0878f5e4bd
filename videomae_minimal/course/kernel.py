"""Running a submitted notebook: its scratch copy of the course tree, the bubblewrap sandbox around its kernel, and
the kernel itself, cell by cell with a time limit, shut down for good afterwards."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .notebooks import (CourseError, GradingError, grader_cell_number, grader_role, student_notebook,
                        write_json_atomic)

__all__ = ['KERNEL_GUARD', 'sandbox_available', 'hidden_paths', 'sandbox_argv', 'kernel_processes', 'run_notebook', 'scratch_tree']

# ------------------------------------------------------------------------------------------------- the sandbox
# Loaded in every grading kernel before the first cell. A student's input or AST transformer could rewrite every
# later cell, the instructor's checks included: before each cell runs, the kernel's transformers are put back to
# what they were at start.
KERNEL_GUARD = '''\
def _videomae_grader_guard():
    shell = get_ipython()
    cleanup, post, ast_transformers = list(shell.input_transformers_cleanup), list(shell.input_transformers_post), list(shell.ast_transformers)
    transform = type(shell).transform_cell

    def transform_cell(raw_cell):
        shell.input_transformers_cleanup[:] = cleanup
        shell.input_transformers_post[:] = post
        shell.ast_transformers[:] = ast_transformers
        return transform(shell, raw_cell)

    shell.transform_cell = transform_cell


_videomae_grader_guard()
del _videomae_grader_guard
'''

_BWRAP_WORKS: dict[str, bool] = {}


def sandbox_available() -> str | None:
    "The bubblewrap executable when it runs here (Linux, user namespaces allowed), else None."
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return None
    if bwrap not in _BWRAP_WORKS:
        try:
            probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
                                    "--unshare-pid", "--die-with-parent", "true"], capture_output=True, timeout=30)
            _BWRAP_WORKS[bwrap] = probe.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_WORKS[bwrap] = False
    return bwrap if _BWRAP_WORKS[bwrap] else None


def hidden_paths(root: Path) -> list[Path]:
    """What a student kernel must not see: the instructor's checkout, the checkout this package runs from, and the
    target of an editable install (found the way a cheat would find it, through importlib.metadata)."""
    hidden = {Path(root).resolve(), Path(__file__).resolve().parents[2], Path(__file__).resolve().parents[1]}
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        url = json.loads(distribution("videomae-minimal").read_text("direct_url.json") or "{}").get("url", "")
        if url.startswith("file://"):
            hidden.add(Path(url[len("file://"):]).resolve())
    except (PackageNotFoundError, ValueError, OSError):
        pass
    return sorted(p for p in hidden if p != Path("/") and p.exists())


def _kernel_python() -> str:
    "This interpreter, by its environment's real folder (a symlinked venv may sit inside a hidden checkout)."
    candidate = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
    return str(candidate) if candidate.exists() else sys.executable


def sandbox_argv(bwrap: str, tree: Path, hidden: list[Path]) -> list[str]:
    "bubblewrap around the kernel: the system read-only, no network, the course hidden, only `tree` writable."
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-net",
            "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    environment = Path(sys.prefix).resolve()  # the interpreter and its packages, even when inside a hidden folder
    inside = [p for p in hidden if p.is_relative_to(environment)]  # hidden packages: after the environment's bind
    for path in hidden:
        if path not in inside:
            argv += ["--tmpfs", str(path)]
    if any(environment.is_relative_to(h) for h in hidden):
        argv += ["--ro-bind", str(environment), str(environment)]
    for path in inside:
        argv += ["--tmpfs", str(path)]
    return argv + ["--bind", str(tree), str(tree), "--chdir", str(tree / "notebooks")]


# ------------------------------------------------------------------------------------------------ running cells
def kernel_processes() -> list:
    "This process's live descendants that are Jupyter kernels (what a leak would leave behind)."
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("ipykernel_launcher" in part for part in child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.Error:
            pass
    return found


def _shut_down(client, km, pid: int | None) -> None:
    """Stop a kernel for good: its channels, the kernel (killed, not asked: a stuck one would not answer), whatever
    it started, and the manager's files. nbclient leaves a kernel running when it was handed its manager."""
    import psutil
    from jupyter_core.utils import run_sync

    family = []
    if pid is not None:
        try:
            parent = psutil.Process(pid)
            family = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            pass
    try:
        if getattr(client, "kc", None) is not None:
            client.kc.stop_channels()
            client.kc = None
    except Exception:
        pass
    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:
        pass
    finally:
        try:
            run_sync(km.cleanup_resources)()
        except Exception:
            pass
    for process in family:  # anything that outlived the kernel's process group (a setsid child, say)
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(family, timeout=5)


def run_notebook(nb: dict, tree: Path, timeout: float, sandbox: list[str] | None = None
                  ) -> tuple[dict[int, dict], str | None]:
    """Execute every code cell in a fresh kernel (this interpreter, PYTHONPATH the scratch `tree` only), in order,
    errors allowed; the kernel is shut down afterwards whatever happens. `sandbox` is a command to run the kernel
    under (bubblewrap), or None. Cells whose grader role is 'duplicate' are not run. Returns each executed cell's
    reply content by index, and why execution stopped early (None when every cell ran)."""
    import nbformat
    from jupyter_client import AsyncKernelManager  # nbclient drives it from its event loop
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    for folder in ("home", "tmp", "ipython", "matplotlib", "ipc", "kernels/grader"):
        (tree / folder).mkdir(parents=True, exist_ok=True)
    guard = tree / "grader_guard.py"
    guard.write_text(KERNEL_GUARD, encoding="utf-8")
    # A kernelspec of our own: the kernel runs this interpreter, whatever `python3` kernels the user has installed.
    (tree / "kernels" / "grader" / "kernel.json").write_text(json.dumps({
        "argv": [*(sandbox or []), _kernel_python(), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 f"--IPKernelApp.exec_files={guard}",
                 # In its own PID namespace the kernel sees its parent as PID 1 and would take that for the
                 # grader having exited: no parent polling (bubblewrap kills it with the grader instead).
                 *(["--IPKernelApp.parent_handle=0"] if sandbox else [])],
        # A signal to the kernel's process group would reach bubblewrap and end the sandbox: under it, interrupts
        # go as a message, and the kernel signals itself.
        **({"interrupt_mode": "message"} if sandbox else {}),
        "display_name": "videomae-minimal grader", "language": "python"}))
    # Under the sandbox the kernel has no network, not even loopback: it talks over Unix sockets in the tree.
    transport = {"transport": "ipc", "ip": str(tree / "ipc" / "k")} if sandbox else {}
    km = AsyncKernelManager(kernel_name="grader", connection_file=str(tree / "connection.json"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tree / "kernels")]), **transport)
    # The kernel imports the scratch tree's package, never an editable install or the grader's PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": str(tree), "HOME": str(tree / "home"), "TMPDIR": str(tree / "tmp"),
           "IPYTHONDIR": str(tree / "ipython"), "MPLCONFIGDIR": str(tree / "matplotlib"), "PYTHONNOUSERSITE": "1"}
    node = nbformat.from_dict(nb)
    replies: dict[int, dict] = {}
    timeout_reply = {"ename": "Timeout", "evalue": f"the cell ran past the {timeout:g} s limit and was stopped",
                     "traceback": []}
    client = NotebookClient(node, km=km, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                            error_on_timeout=timeout_reply, record_timing=False,
                            resources={"metadata": {"path": str(tree / "notebooks")}})
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(
        cell_index, execute_reply.get("content", {}))
    stopped, cells, pid, started = None, list(node.cells), None, False
    try:
        # The kernel's own stdout and stderr (its banner, say) must not mix into the grader's output (`--json`).
        with client.setup_kernel(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            started = True
            pid = getattr(km.provisioner, "pid", None)
            for index, cell in enumerate(cells):
                if cell.cell_type != "code" or grader_role(cell) == "duplicate":
                    continue
                client.execute_cell(cell, index)
                if replies.get(index, {}).get("ename") == "Timeout":
                    # The kernel was interrupted. Code that ignores the interrupt (stuck in C, or catching
                    # KeyboardInterrupt) keeps it busy, and then nothing after it can run: check with an empty cell
                    # (appended, then removed) first.
                    node.cells.append(nbformat.v4.new_code_cell("pass"))
                    client.execute_cell(node.cells[-1], len(node.cells) - 1)
                    alive = replies.pop(len(node.cells) - 1, {}).get("status") == "ok"
                    node.cells.pop()
                    if not alive:
                        number = grader_cell_number(cell)
                        stopped = (f"not run: {'cell ' + str(number) if number else 'a cell'} ran past the "
                                   f"{timeout:g} s limit and did not stop when interrupted, so the notebook was "
                                   "stopped there")
                        break
    except DeadKernelError as e:
        stopped = f"not run: the kernel died ({e})"
    except Exception as e:  # the kernel would not start, or the notebook is malformed: this notebook only
        if not started:
            raise GradingError(f"could not start a grading kernel ({type(e).__name__}: {e})") from e
        stopped = f"could not run the notebook ({type(e).__name__}: {e})"
    finally:
        _shut_down(client, km, pid)
    return replies, stopped



def scratch_tree(tree: Path, root: Path, instructor_path: Path, instructor: dict) -> None:
    """A course tree to grade one notebook in: pyproject.toml and README.md, a copy of the package (its data
    included: the notebooks read their clips and checkpoints through it) in which this notebook's own module is the student skeleton. Its other steps
    are the instructor's, so an unsolved step elsewhere costs nothing here, and calling the package's version of
    the exercise gets NotImplementedError, not the answer. No instructor notebook is left in it."""
    for name in ("pyproject.toml", "README.md"):
        if (root / name).exists():
            shutil.copy2(root / name, tree / name)
    # Not the course package: its checks' cases and comparisons stay out of a student's kernel.
    shutil.copytree(root / "videomae_minimal", tree / "videomae_minimal",
                    ignore=shutil.ignore_patterns("__pycache__", ".*", "course"))
    shutil.copytree(root / "tools", tree / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "notebooks").mkdir()
    write_json_atomic(tree / "notebooks" / instructor_path.name, student_notebook(instructor, instructor_path.name))
    done = subprocess.run([sys.executable, str(tree / "tools" / "export.py")], capture_output=True, text=True)
    if done.returncode != 0:
        raise CourseError(f"exporting the student version of {instructor_path.name} failed: {done.stderr.strip()}")
    (tree / "notebooks" / instructor_path.name).unlink()

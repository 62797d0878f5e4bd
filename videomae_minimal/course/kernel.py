"""Running a submitted notebook: its scratch copy of the course tree, the bubblewrap sandbox around its kernel, the
kernel's limits, and the kernel itself, cell by cell with a time limit, shut down for good afterwards.

The sandbox shows the kernel the system's libraries and executables (/usr), the few /etc files an interpreter reads,
the Python environment (read-only), a fresh /dev, /proc and /tmp, and its scratch tree (the only thing it can write):
no home folder, no other submission, no gradebook, no instructor checkout. The kernel's environment holds only what a
kernel needs (`kernel_env`), with or without the sandbox, so no token of the grader's can reach a student's feedback.
"""
from __future__ import annotations

import functools
import json
import math
import os
import py_compile
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .notebooks import (GENERATED_HEADER, CourseError, GradingError, grader_cell_number, grader_role,
                        student_notebook, write_json_atomic)

__all__ = ['KERNEL_MEMORY', 'KERNEL_PROCESSES', 'KERNEL_FILE_SIZE', 'KERNEL_DISK', 'KERNEL_OUTPUT', 'NOTEBOOK_BUDGET',
           'SANDBOX_TMPFS', 'KERNEL_ENV_PASSED', 'TRUNCATED', 'KERNEL_GUARD', 'KERNEL_LAUNCH', 'Limits',
           'sandbox_available', 'hidden_paths', 'environment_paths', 'sandbox_argv', 'kernel_env', 'kernel_processes',
           'capped_output', 'Watchdog', 'run_notebook', 'scratch_tree']

# -------------------------------------------------------------------------------------------------- the limits
# What one grading kernel may use. Measured on the course's own notebooks (instructor versions, CPU torch): a
# kernel's data segment peaks under 1.5 GiB and its resident memory under 1 GiB, so 4 GiB leaves room for a slower
# student solution while two or three kernels side by side (`--jobs`) still fit a 16 GB machine.
KERNEL_MEMORY = 4 << 30  # bytes: the kernel's data segment (RLIMIT_DATA), and its processes' summed resident memory
KERNEL_PROCESSES = 512  # processes and threads the kernel and its children may add (torch starts one per core)
KERNEL_FILE_SIZE = 1 << 30  # bytes: the largest file a kernel may write (RLIMIT_FSIZE)
KERNEL_DISK = 2 << 30  # bytes a kernel may add to its scratch tree in all
KERNEL_OUTPUT = 1 << 20  # bytes of output the grader keeps per cell (it reads none of it: it grades the replies)
NOTEBOOK_BUDGET = 1800.0  # seconds for a whole notebook, on top of each cell's own limit
SANDBOX_TMPFS = 64 << 20  # bytes of the sandbox's memory-backed /tmp and /dev/shm (the kernel's TMPDIR is its tree)
WATCH_EVERY = 0.25  # seconds between the watchdog's looks at a kernel
TRUNCATED = "\n[output truncated by the grader]\n"


@dataclass(frozen=True)
class Limits:
    "What one grading kernel may use (the defaults are the module's constants above); 0 turns a limit off."
    memory: int = KERNEL_MEMORY
    processes: int = KERNEL_PROCESSES
    file_size: int = KERNEL_FILE_SIZE
    disk: int = KERNEL_DISK
    output: int = KERNEL_OUTPUT
    budget: float = NOTEBOOK_BUDGET


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

# The kernel's own first lines (`python -c KERNEL_LAUNCH DATA NPROC FSIZE -f connection.json ...`): the limits are
# set in the kernel's process before ipykernel starts, so no student code runs without them. Hard limits: an
# unprivileged kernel cannot raise them again.
KERNEL_LAUNCH = '''\
import resource, runpy, sys
for name, value in zip(("RLIMIT_DATA", "RLIMIT_NPROC", "RLIMIT_FSIZE"), sys.argv[1:4]):
    limit, (_, hard) = int(value), resource.getrlimit(getattr(resource, name))
    if limit > 0:
        limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(getattr(resource, name), (limit, limit))
del sys.argv[1:4]
runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
'''

# The grader's environment variables a kernel is given (with its own PYTHONPATH, HOME, TMPDIR and config folders);
# nothing else (tokens, the grader's paths) reaches student code.
KERNEL_ENV_PASSED = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "OPENBLAS_NUM_THREADS")


# ------------------------------------------------------------------------------------------------- the sandbox
_BWRAP_WORKS: dict[str, tuple[bool, bool]] = {}  # bwrap -> (it runs here, it knows --size)
SYSTEM_ROOTS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # links into /usr on merged-/usr systems
SYSTEM_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")  # what the loader and
# libraries read (Debian's BLAS and LAPACK go through /etc/alternatives); no passwd, hosts or certificates


def _probe(bwrap: str) -> tuple[bool, bool]:
    if bwrap not in _BWRAP_WORKS:
        try:
            probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
                                    "--unshare-pid", "--die-with-parent", "true"], capture_output=True, timeout=30)
            usage = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
            _BWRAP_WORKS[bwrap] = (probe.returncode == 0, "--size" in usage)
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_WORKS[bwrap] = (False, False)
    return _BWRAP_WORKS[bwrap]


def sandbox_available() -> str | None:
    "The bubblewrap executable when it runs here (Linux, user namespaces allowed), else None."
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return None
    return bwrap if _probe(bwrap)[0] else None


def hidden_paths(root: Path) -> list[Path]:
    """What a student kernel must not see: the instructor's checkout, this package's folder and the checkout it runs
    from, and the target of an editable install (found the way a cheat would find it, through importlib.metadata).
    The sandbox binds none of them; one inside a folder it does bind gets an empty folder over it."""
    package = Path(__file__).resolve().parents[1]
    hidden = {Path(root).resolve(), package}
    if (package.parent / "pyproject.toml").exists():  # a checkout; an installed wheel's parent is site-packages
        hidden.add(package.parent)
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        url = json.loads(distribution("videomae-minimal").read_text("direct_url.json") or "{}").get("url", "")
        if url.startswith("file://"):
            hidden.add(Path(url[len("file://"):]).resolve())
    except (PackageNotFoundError, ValueError, OSError):
        pass
    return sorted(p for p in hidden if p != Path("/") and p.exists())


@functools.lru_cache(maxsize=None)
def _kernel_sys_path(python: str) -> tuple[str, ...]:
    "The kernel interpreter's own sys.path, as its site machinery and .pth files make it (isolated: no PYTHONPATH)."
    done = subprocess.run([python, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"], capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise GradingError(f"{python} would not start as a kernel's interpreter: {done.stderr.strip()[-400:]}")
    return tuple(json.loads(done.stdout.splitlines()[-1]))


def environment_paths(hidden: list[Path]) -> list[Path]:
    """The Python environment a kernel runs from: this interpreter's prefix and base prefix, resolved (a virtual
    environment's python is a link into its base, and either may live anywhere, /tmp included), and the folders the
    kernel's own sys.path holds outside them (a .pth file's site-packages elsewhere). Not the grader's working folder,
    script folder or PYTHONPATH, and inside a hidden path (a checkout) only an environment's site-packages, never
    the checkout's source (an editable install's path)."""
    found = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    for entry in _kernel_sys_path(_kernel_python()):
        path = Path(entry).resolve() if entry and os.path.isabs(entry) else None
        if path is None or not path.exists():
            continue  # '' and the editable finder's hook are no folders
        if path.name in ("site-packages", "dist-packages") or not any(path.is_relative_to(h) for h in hidden):
            found.add(path)
    found = {p for p in found if len(p.parts) > 1}  # never "/" itself
    return sorted(p for p in found if not any(p != q and p.is_relative_to(q) for q in found))


def sandbox_argv(bwrap: str, tree: Path, hidden: list[Path], tmpfs_size: int = SANDBOX_TMPFS) -> list[str]:
    """bubblewrap around the kernel: no network, its own PIDs and IPC; the system (/usr), the loader's /etc files and
    the Python environment read-only, a fresh /dev, /proc and /tmp (memory-backed, `tmpfs_size` bytes each where
    bwrap can bound them, read-only where it cannot), and only `tree` writable. Nothing else of the machine is there."""
    sized = _probe(bwrap)[1]
    size = ["--size", str(tmpfs_size)] if sized else []
    argv = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent",
            "--dev", "/dev", *size, "--tmpfs", "/dev/shm", "--proc", "/proc", "--ro-bind", "/usr", "/usr"]
    for name in SYSTEM_ROOTS:
        path = Path("/") / name
        if path.is_symlink():  # merged /usr: /bin -> usr/bin
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    for name in SYSTEM_ETC:
        if (Path("/etc") / name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # The rest by depth, so that a mount inside another comes after it: /tmp's tmpfs before an environment or the
    # tree under /tmp, an environment before the hidden packages inside it (transformers, for the trusted checks).
    bound = [Path("/usr"), *(p for p in environment_paths(hidden) if not p.is_relative_to("/usr"))]
    mounts = {Path("/tmp"): [*size, "--tmpfs", "/tmp"]}
    mounts.update({p: ["--ro-bind", str(p), str(p)] for p in bound[1:]})
    mounts.update({h: ["--tmpfs", str(h)] for h in hidden if any(h != b and h.is_relative_to(b) for b in bound)})
    mounts[Path(tree)] = ["--bind", str(tree), str(tree)]
    for path in sorted(mounts, key=lambda p: len(p.parts)):
        argv += mounts[path]
    if not sized:  # an old bwrap cannot bound a tmpfs: then none is writable (the kernel writes in its tree)
        argv += ["--remount-ro", "/tmp", "--remount-ro", "/dev/shm"]
    return argv + ["--remount-ro", "/dev", "--chdir", str(Path(tree) / "notebooks")]


def kernel_env(tree: Path) -> dict[str, str]:
    """A kernel's whole environment: the few variables of KERNEL_ENV_PASSED, and its own PYTHONPATH (the scratch
    tree's package only, never an editable install or the grader's PYTHONPATH), HOME, TMPDIR and config folders."""
    passed = {name: os.environ[name] for name in KERNEL_ENV_PASSED if name in os.environ}
    return {"PATH": os.defpath, **passed, "PYTHONPATH": str(tree), "HOME": str(tree / "home"),
            "TMPDIR": str(tree / "tmp"), "IPYTHONDIR": str(tree / "ipython"), "MPLCONFIGDIR": str(tree / "matplotlib"),
            "PYTHONNOUSERSITE": "1"}


def _kernel_python() -> str:
    "This interpreter, by its environment's real folder (a symlinked venv may sit inside a hidden checkout)."
    candidate = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
    return str(candidate) if candidate.exists() else sys.executable


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


def _family(pid: int | None) -> list:
    "A process and everything it started (the sandbox, the kernel inside it, the kernel's children)."
    import psutil

    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except (psutil.Error, TypeError, ValueError):
        return []


def _kill(family: list) -> None:
    import psutil

    for process in family:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(family, timeout=5)


def _shut_down(client, km, pid: int | None) -> None:
    """Stop a kernel for good: its channels, the kernel (killed, not asked: a stuck one would not answer), whatever
    it started, and the manager's files. nbclient leaves a kernel running when it was handed its manager."""
    from jupyter_core.utils import run_sync

    family = _family(pid) if pid is not None else []
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
    _kill(family)  # anything that outlived the kernel's process group (a setsid child, say)


def _content_bytes(content) -> int:
    "About how many bytes an output message's content holds (its strings), without copying it."
    total, stack = 0, [content]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            total += 8
    return total


def capped_output(output, cap: int):
    """nbclient's output hook (`output(outs, msg, display_id, cell_index)`) keeping at most `cap` bytes of each cell's
    outputs, then one TRUNCATED note and nothing more. nbclient keeps every output in the notebook it runs, so
    without this whatever a student prints would stay in the grader's memory; the grader reads none of it."""
    import nbformat

    kept: dict[int, int] = {}

    def keep(outs, msg, display_id, cell_index):
        so_far, size = kept.get(cell_index, 0), _content_bytes(msg.get("content"))
        if so_far + size <= cap:
            kept[cell_index] = so_far + size
            return output(outs, msg, display_id, cell_index)
        if so_far <= cap:
            kept[cell_index] = cap + 1
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=TRUNCATED))
        return None

    return keep


def _tree_bytes(tree: Path) -> int:
    "Disk space the files under `tree` take (links not followed)."
    total, stack = 0, [str(tree)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:
            pass  # removed while we looked
    return total


class Watchdog:
    """Watches a kernel from the grader's side, every WATCH_EVERY s: the summed resident memory and the number of
    threads of its processes (the rlimits bind each process alone), and how much its scratch tree grew. Past a limit
    it kills them all and keeps the reason, for the notebook's record."""

    def __init__(self, pid: int | None, tree: Path, limits: Limits):
        self.pid, self.tree, self.limits, self.reason = pid, tree, limits, None
        self.disk_before = _tree_bytes(tree)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="grader-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def over(self) -> str | None:
        "Which limit the kernel is past now, in words, or None."
        import psutil

        memory = threads = 0
        for process in _family(self.pid):
            try:
                memory, threads = memory + process.memory_info().rss, threads + process.num_threads()
            except psutil.Error:
                pass
        limits = self.limits
        if limits.memory and memory > limits.memory:
            return f"the kernel used more than {limits.memory / 2**20:.0f} MB of memory"
        if limits.processes and threads > limits.processes:
            return f"the kernel ran more than {limits.processes} processes and threads"
        if limits.disk and _tree_bytes(self.tree) - self.disk_before > limits.disk:
            return f"the kernel wrote more than {limits.disk / 2**20:.0f} MB of files"
        return None

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_EVERY):
            reason = self.over()
            if reason:
                self.reason = reason
                _kill(_family(self.pid))
                return


def _user_threads() -> int:
    "How many processes and threads this user runs now: RLIMIT_NPROC counts them all, not the kernel's alone."
    import psutil

    uid, count = os.getuid(), 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        uids = process.info.get("uids")
        if uids is not None and uids.real == uid:
            count += process.info.get("num_threads") or 0
    return count


def _kernel_spec(tree: Path, sandbox: list[str] | None, limits: Limits) -> dict:
    "Our own kernelspec: this interpreter under the sandbox, its limits set before ipykernel starts."
    processes = _user_threads() + limits.processes if limits.processes else 0
    return {
        "argv": [*(sandbox or []), _kernel_python(), "-c", KERNEL_LAUNCH, str(limits.memory), str(processes),
                 str(limits.file_size), "-f", "{connection_file}", f"--IPKernelApp.exec_files={tree / 'grader_guard.py'}",
                 # In its own PID namespace the kernel sees its parent as PID 1 and would take that for the
                 # grader having exited: no parent polling (bubblewrap kills it with the grader instead).
                 *(["--IPKernelApp.parent_handle=0"] if sandbox else [])],
        # A signal to the kernel's process group would reach bubblewrap and end the sandbox: under it, interrupts
        # go as a message, and the kernel signals itself.
        **({"interrupt_mode": "message"} if sandbox else {}),
        "display_name": "videomae-minimal grader", "language": "python"}


def run_notebook(nb: dict, tree: Path, timeout: float, sandbox: list[str] | None = None, limits: Limits = Limits()
                 ) -> tuple[dict[int, dict], str | None]:
    """Execute every code cell in a fresh kernel (this interpreter, PYTHONPATH the scratch `tree` only, the
    environment `kernel_env`), in order, errors allowed, each cell within `timeout` s and the whole notebook within
    `limits.budget`; the kernel is shut down afterwards whatever happens. `sandbox` is a command to run the kernel
    under (bubblewrap), or None. Cells whose grader role is 'duplicate' are not run. Returns each executed cell's
    reply content by index, and why execution stopped early (None when every cell ran)."""
    import nbformat
    from jupyter_client import AsyncKernelManager  # nbclient drives it from its event loop
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    for folder in ("home", "tmp", "ipython", "matplotlib", "ipc", "kernels/grader"):
        (tree / folder).mkdir(parents=True, exist_ok=True)
    (tree / "grader_guard.py").write_text(KERNEL_GUARD, encoding="utf-8")
    # A kernelspec of our own: the kernel runs this interpreter, whatever `python3` kernels the user has installed.
    (tree / "kernels" / "grader" / "kernel.json").write_text(json.dumps(_kernel_spec(tree, sandbox, limits)))
    # Under the sandbox the kernel has no network, not even loopback: it talks over Unix sockets in the tree.
    transport = {"transport": "ipc", "ip": str(tree / "ipc" / "k")} if sandbox else {}
    km = AsyncKernelManager(kernel_name="grader", connection_file=str(tree / "connection.json"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tree / "kernels")]), **transport)
    node = nbformat.from_dict(nb)
    replies: dict[int, dict] = {}
    timeout_reply = {"ename": "Timeout", "evalue": f"the cell ran past the {timeout:g} s limit and was stopped",
                     "traceback": []}
    client = NotebookClient(node, km=km, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                            error_on_timeout=timeout_reply, record_timing=False,
                            resources={"metadata": {"path": str(tree / "notebooks")}})
    if limits.output:
        client.output = capped_output(client.output, limits.output)
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(
        cell_index, execute_reply.get("content", {}))
    stopped, pid, started, watchdog = None, None, False, None
    try:
        # The kernel's own stdout and stderr (its banner, say) must not mix into the grader's output (`--json`).
        with client.setup_kernel(env=kernel_env(tree), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            started = True
            pid = getattr(km.provisioner, "pid", None)
            with Watchdog(pid, tree, limits) as watchdog:
                stopped = _run_cells(client, node, replies, timeout, limits.budget)
    except DeadKernelError as e:
        stopped = f"not run: {watchdog.reason} and was stopped" if watchdog and watchdog.reason else \
            f"not run: the kernel died ({e})"
    except Exception as e:  # the kernel would not start, or the notebook is malformed: this notebook only
        if not started:
            raise GradingError(f"could not start a grading kernel ({type(e).__name__}: {e})") from e
        stopped = f"could not run the notebook ({type(e).__name__}: {e})"
    finally:
        _shut_down(client, km, pid)
    return replies, stopped


def _run_cells(client, node, replies: dict[int, dict], timeout: float, budget: float) -> str | None:
    "run_notebook's loop: each code cell within `timeout` s and what is left of `budget`; why it stopped, or None."
    import nbformat

    deadline = time.monotonic() + budget if budget else None
    for index, cell in enumerate(list(node.cells)):
        if cell.cell_type != "code" or grader_role(cell) == "duplicate":
            continue
        left = deadline - time.monotonic() if deadline else timeout
        if left <= 0:
            return f"not run: the notebook ran past its {budget:g} s limit"
        client.timeout = math.ceil(min(timeout, left))  # nbclient takes whole seconds
        client.execute_cell(cell, index)
        if replies.get(index, {}).get("ename") == "Timeout" and left < timeout:
            del replies[index]  # cut short by the notebook's limit, not its own: it did not run in full
            return f"not run: the notebook ran past its {budget:g} s limit"
        if replies.get(index, {}).get("ename") == "Timeout":
            # The kernel was interrupted. Code that ignores the interrupt (stuck in C, or catching KeyboardInterrupt)
            # keeps it busy, and then nothing after it can run: check with an empty cell (appended, then removed).
            node.cells.append(nbformat.v4.new_code_cell("pass"))
            client.execute_cell(node.cells[-1], len(node.cells) - 1)
            alive = replies.pop(len(node.cells) - 1, {}).get("status") == "ok"
            node.cells.pop()
            if not alive:
                number = grader_cell_number(cell)
                return (f"not run: {'cell ' + str(number) if number else 'a cell'} ran past the {timeout:g} s limit "
                        "and did not stop when interrupted, so the notebook was stopped there")
    return None


def scratch_tree(tree: Path, root: Path, instructor_path: Path, instructor: dict) -> None:
    """A course tree to grade one notebook in: pyproject.toml and README.md, a copy of the package and of data/
    (the notebooks read their clips and checkpoints through the package) in which this notebook's own module is the
    student skeleton. Its other steps are the instructor's, as bytecode only (imported sourceless: the kernel gets
    no instructor source), so an unsolved step elsewhere costs nothing here, and calling the package's version of
    the exercise gets NotImplementedError, not the answer. No instructor notebook, and no grader, is left in it."""
    for name in ("pyproject.toml", "README.md"):
        if (root / name).exists():
            shutil.copy2(root / name, tree / name)
    # Not the course package: its checks' cases and comparisons stay out of a student's kernel.
    shutil.copytree(root / "videomae_minimal", tree / "videomae_minimal",
                    ignore=shutil.ignore_patterns("__pycache__", ".*", "course"))
    shutil.copytree(root / "tools", tree / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "data", tree / "data", ignore=shutil.ignore_patterns(".*"))  # read through bundled.py
    (tree / "notebooks").mkdir()
    write_json_atomic(tree / "notebooks" / instructor_path.name, student_notebook(instructor, instructor_path.name))
    done = subprocess.run([sys.executable, str(tree / "tools" / "export.py")], capture_output=True, text=True)
    if done.returncode != 0:
        raise CourseError(f"exporting the student version of {instructor_path.name} failed: {done.stderr.strip()}")
    (tree / "notebooks" / instructor_path.name).unlink()
    own = f"{GENERATED_HEADER}notebooks/{instructor_path.name} "
    for module in sorted((tree / "videomae_minimal").glob("*.py")):
        with module.open(encoding="utf-8") as f:
            first = f.readline()
        if first.startswith(GENERATED_HEADER) and not first.startswith(own):  # another notebook's step
            py_compile.compile(str(module), cfile=str(module.with_suffix(".pyc")),
                               dfile=f"<the course's reference: {module.name}>", doraise=True)
            module.unlink()

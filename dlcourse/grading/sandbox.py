"""Run a grading kernel under bubblewrap: no network, no view of other processes, a read-only file system.

The kernel (this environment's ipykernel) gets its own PID, network, IPC and UTS namespaces. It sees the
host's file system read-only, except its working folder (read-write) and a fresh /tmp. Hidden folders (the
course root, the grader's output folder, the package of exercise references `dlcourse/checks`) are covered by
empty read-only tmpfs mounts; what the kernel needs to run (the interpreter, the virtual environment, the
`dlcourse` package, the datasets) is bound back on top. The most specific rule wins: mounts are applied from
the shallowest path to the deepest. As the sandbox has no shared network, the kernel talks to the grader
through ZeroMQ unix sockets placed in its working folder (Jupyter's "ipc" transport).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from typing import Any, NamedTuple, Sequence

import ipykernel.kernelspec
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from jupyter_core.utils import run_sync

BUBBLEWRAP_NAME = "bwrap"
PROBE_SECONDS = 10
NAMESPACE_ARGUMENTS = ("--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                       "--unshare-cgroup-try")
SOCKET_BASE_NAME = "kernel"  # the ipc sockets are <working folder>/kernel-1, kernel-2, ...
CONNECTION_FILE_NAME = "kernel.json"
UNIX_SOCKET_PATH_BYTES = 107  # sun_path holds 108 bytes, the last one a NUL
LONGEST_SOCKET_SUFFIX = "-99999"
# Variables that could point the kernel's caches and runtime files at read-only places; unset, they follow HOME.
WRITABLE_LOCATION_VARIABLES = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
                               "XDG_RUNTIME_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR",
                               "MPLCONFIGDIR")
# ipykernel exits when its parent process seems gone: inside the PID namespace its parent is always pid 1 (bwrap's
# init), which it takes for a dead parent. --die-with-parent does that job instead.
PARENT_PID_VARIABLE = "JPY_PARENT_PID"
KERNEL_NAME = "dlcourse-sandboxed-current-environment"
HIDE, READ, WRITE, SCRATCH = "hide", "read", "write", "scratch"


class Mount(NamedTuple):
    """One rule of the sandbox's file system view: hide, read (read-only), write, or scratch (a fresh tmpfs)."""

    path: str
    kind: str


@functools.cache
def sandbox_problem() -> str:
    """'' when bubblewrap exists and can create the namespaces we need; else a one-paragraph explanation (cached)."""
    bubblewrap = shutil.which(BUBBLEWRAP_NAME)
    if bubblewrap is None:
        return ("bubblewrap (bwrap) is not installed or not on PATH, so grading kernels can't be sandboxed: "
                "install the Debian/Ubuntu package `bubblewrap` (`apt-get install bubblewrap`; Fedora: "
                "`dnf install bubblewrap`), or grade without the sandbox.")
    return _probe_problem(bubblewrap)


def _probe_problem(bubblewrap: str) -> str:
    """'' when this bwrap runs `true` with our namespace flags; else why not."""
    command = [bubblewrap, *NAMESPACE_ARGUMENTS, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
               "--tmpfs", "/tmp", "--", "true"]
    try:
        completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=PROBE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return f"bubblewrap ({bubblewrap}) did not finish a trial run within {PROBE_SECONDS} s, so it can't be used."
    except OSError as error:
        return f"bubblewrap ({bubblewrap}) could not be started: {error}."
    if completed.returncode != 0:
        reason = completed.stderr.decode(errors="replace").strip() or f"exit status {completed.returncode}"
        return (f"bubblewrap cannot create namespaces here ({reason}): allow unprivileged user namespaces "
                "(e.g. `sysctl kernel.unprivileged_userns_clone=1`, or on Ubuntu 24.04+ "
                "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`), make bwrap setuid root, or run "
                "the grader in a container that permits namespaces and mounting /proc; "
                "or grade without the sandbox.")
    return ""


def bubblewrap_arguments(working_directory: str, hidden_paths: Sequence[str], current_folder: str = "") -> list[str]:
    """The `bwrap ... --` prefix that runs a command in the sandbox described in the module docstring.

    The command starts in current_folder (a folder inside the working folder), or in the working folder itself.
    """
    bubblewrap = shutil.which(BUBBLEWRAP_NAME)
    if bubblewrap is None:
        raise RuntimeError(sandbox_problem())
    working = os.path.realpath(working_directory)
    arguments = [bubblewrap, *NAMESPACE_ARGUMENTS, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    hidden_tmpfs: list[str] = []
    for mount in _effective_mounts(_mount_rules(working, hidden_paths)):
        if mount.kind == SCRATCH:
            arguments += ["--tmpfs", mount.path]
        elif mount.kind == READ:
            arguments += ["--ro-bind", mount.path, mount.path]
        elif mount.kind == WRITE:
            arguments += ["--bind", mount.path, mount.path]
        elif os.path.isdir(mount.path):
            arguments += ["--tmpfs", mount.path]
            hidden_tmpfs.append(mount.path)
        else:
            arguments += ["--ro-bind", "/dev/null", mount.path]
    for variable in (*WRITABLE_LOCATION_VARIABLES, PARENT_PID_VARIABLE):
        arguments += ["--unsetenv", variable]
    start_folder = os.path.realpath(current_folder) if current_folder else working
    arguments += ["--setenv", "HOME", working, "--chdir", start_folder]
    for path in hidden_tmpfs:  # last: bwrap had to create mount points inside them first
        arguments += ["--remount-ro", path]
    return arguments + ["--"]


def _mount_rules(working: str, hidden_paths: Sequence[str]) -> list[Mount]:
    """Every rule before simplification: scratch /tmp, the hidden folders, what the kernel needs, the working folder."""
    hidden = _hidden_folders(hidden_paths)
    rules = [Mount(path, HIDE) for path in hidden]
    rules.append(Mount("/tmp", SCRATCH))
    masked = hidden + ["/tmp"]
    needed = _runtime_paths()
    rules += [Mount(path, READ) for path in needed if _inside_any(path, masked)]
    rules += [Mount(path, READ) for path in _kernel_import_paths()
              if path not in hidden and path not in needed and _inside_any(path, masked)]
    rules.append(Mount(working, WRITE))
    return rules


def _effective_mounts(rules: list[Mount]) -> list[Mount]:
    """The rules in mount order (shallow paths first), one per path, without those that change nothing."""
    by_path: dict[str, Mount] = {}
    for rule in rules:  # on the same path, the later rule wins (needed paths and the working folder beat hiding)
        by_path[rule.path] = rule
    mounts: list[Mount] = []
    for rule in sorted(by_path.values(), key=lambda mount: (mount.path.count(os.sep), mount.path)):
        ancestors = [mount for mount in mounts if _inside(rule.path, mount.path)]
        enclosing = max(ancestors, key=lambda mount: len(mount.path)).kind if ancestors else READ
        if rule.kind == enclosing and rule.kind in (READ, WRITE):
            continue  # already visible the same way
        if rule.kind == HIDE and enclosing in (HIDE, SCRATCH):
            continue  # already absent: its parent is an empty tmpfs
        mounts.append(rule)
    return mounts


def _hidden_folders(hidden_paths: Sequence[str]) -> list[str]:
    """The existing hidden paths, resolved, plus the folder of the exercise references (dlcourse.checks)."""
    folders = []
    for path in [*hidden_paths, *_checks_folders()]:
        resolved = os.path.realpath(path)
        if resolved == os.sep:
            raise ValueError("the sandbox can't hide the root folder /; name narrower folders to hide.")
        if os.path.lexists(resolved) and resolved not in folders:
            folders.append(resolved)
    return folders


def _checks_folders() -> list[str]:
    """The folder(s) of the dlcourse.checks package, found without importing it."""
    spec = importlib.util.find_spec("dlcourse.checks")
    return list(spec.submodule_search_locations or []) if spec is not None else []


def _runtime_paths() -> list[str]:
    """What the kernel needs to start: the interpreter, its environments, the dlcourse package and the datasets."""
    package_spec = importlib.util.find_spec("dlcourse")
    package_folders = list(package_spec.submodule_search_locations or []) if package_spec is not None else []
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable)),
                  *package_folders, *[os.path.join(os.path.dirname(folder), "datasets") for folder in package_folders]]
    data_override = os.environ.get("DLCOURSE_DATA_DIR")
    if data_override:
        candidates.append(os.path.expanduser(data_override))
    return _existing_resolved(candidates)


@functools.cache
def _kernel_import_paths() -> tuple[str, ...]:
    """The sys.path of a fresh interpreter like the kernel's (not the grader's, which pytest or scripts extend)."""
    command = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"]
    try:
        completed = subprocess.run(command, cwd=os.sep, stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=60, check=True)
        entries = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        entries = []
    return tuple(_existing_resolved([entry for entry in entries if os.path.isabs(entry)]))


def _existing_resolved(paths: Sequence[str]) -> list[str]:
    """Each existing path as given (made absolute) and resolved, without duplicates, in order."""
    result: list[str] = []
    for path in paths:
        for variant in (os.path.abspath(path), os.path.realpath(path)):
            if os.path.exists(variant) and variant not in result:
                result.append(variant)
    return result


def _inside(path: str, folder: str) -> bool:
    """Whether path is folder or lies below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _inside_any(path: str, folders: Sequence[str]) -> bool:
    """Whether path is or lies below any of the folders."""
    return any(_inside(path, folder) for folder in folders)


class SandboxedKernelManager(KernelManager):
    """A KernelManager for this environment's ipykernel, run under bubblewrap and reached by ipc sockets."""

    def __init__(self, working_directory: str, hidden_paths: Sequence[str], current_folder: str = "",
                 **kwargs: Any) -> None:
        """Prepare the sandbox for a kernel whose writable folder (and sockets) is working_directory, started in
        current_folder (default: working_directory)."""
        working = os.path.realpath(working_directory)
        socket_base = os.path.join(working, SOCKET_BASE_NAME)
        if len(os.fsencode(socket_base + LONGEST_SOCKET_SUFFIX)) > UNIX_SOCKET_PATH_BYTES:
            longest = UNIX_SOCKET_PATH_BYTES - len(os.sep + SOCKET_BASE_NAME + LONGEST_SOCKET_SUFFIX)
            raise ValueError(f"the working folder {working} is too long for unix socket paths (at most {longest} "
                             "bytes once symbolic links are resolved); use a shorter one, e.g. tempfile.mkdtemp().")
        super().__init__(kernel_name=KERNEL_NAME, transport="ipc", ip=socket_base,
                         connection_file=os.path.join(working, CONNECTION_FILE_NAME), **kwargs)
        self.sandbox_prefix = bubblewrap_arguments(working, hidden_paths, current_folder)

    @property
    def kernel_spec(self) -> KernelSpec:
        """The spec of this environment's ipykernel (never a named, possibly missing, kernel)."""
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES,
                                           **ipykernel.kernelspec.get_kernel_dict())
        return self._kernel_spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel command, prefixed by bwrap."""
        return self.sandbox_prefix + super().format_kernel_cmd(extra_arguments)

    async def _async_signal_kernel(self, signum: int) -> None:
        """Like KernelManager's, but SIGINT spares bubblewrap, which it would kill, and the kernel with it."""
        if signum == signal.SIGINT and self.has_kernel and self.provisioner is not None:
            process = getattr(self.provisioner, "process", None)
            if process is not None and _interrupt_sandboxed_processes(process.pid):
                return
        await super()._async_signal_kernel(signum)

    signal_kernel = run_sync(_async_signal_kernel)


def _interrupt_sandboxed_processes(bubblewrap_pid: int) -> bool:
    """SIGINT to the processes in bwrap's process group inside the sandbox; False if none was found.

    Process tree: bwrap (the Popen'ed process) -> bwrap as the namespace's init (pid 1) -> the kernel -> ...
    The outer bwrap dies of SIGINT (and its death kills the sandbox), and an init ignores signals it has no
    handler for, so both are left out; everything below them in the same process group gets the signal,
    like killpg would deliver it.
    """
    import psutil

    try:
        outer = psutil.Process(bubblewrap_pid)
        group = os.getpgid(bubblewrap_pid)
        bubblewrap_processes = {outer.pid, *(child.pid for child in outer.children())}
        targets = [process for process in outer.children(recursive=True) if process.pid not in bubblewrap_processes]
    except (psutil.Error, OSError):
        return False
    delivered = False
    for process in targets:
        try:
            if os.getpgid(process.pid) == group:
                os.kill(process.pid, signal.SIGINT)
                delivered = True
        except OSError:
            continue
    return delivered


def sandboxed_kernel_manager(working_directory: str, hidden_paths: Sequence[str],
                             current_folder: str = "") -> KernelManager:
    """A KernelManager whose kernel (this environment's ipykernel) runs under bubblewrap, connected by ipc sockets."""
    problem = sandbox_problem()
    if problem:
        raise RuntimeError(problem)
    return SandboxedKernelManager(working_directory, hidden_paths, current_folder)

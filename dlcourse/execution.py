"""Execute notebooks the way nbval does: a fresh kernel of the current Python environment, shut down afterwards."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
import subprocess
import tempfile
import time
from typing import Iterator

CURRENT_ENVIRONMENT_KERNEL = "dlcourse-current-environment"
# Like the grader's sandbox: kernels talk over unix sockets <folder>/kernel-1, kernel-2, ... (Jupyter's "ipc" transport)
SOCKET_BASE_NAME = "kernel"
CONNECTION_FILE_NAME = "kernel.json"
UNIX_SOCKET_PATH_BYTES = 107  # sun_path holds 108 bytes, the last one a NUL
LONGEST_SOCKET_SUFFIX = "-99999"
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass
class ExecutionOutcome:
    """What happened when a notebook ran: seconds, and the first error if any."""

    seconds: float
    error: str = ""

    @property
    def succeeded(self) -> bool:
        """True when every cell ran without an error."""
        return not self.error


def current_environment_kernel_manager(socket_folder: str = ""):
    """A KernelManager whose kernel runs with this process's Python (never a named, possibly missing, kernel).

    With socket_folder, it talks to the kernel over unix sockets there (ipc) instead of loopback TCP ports.
    """
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    class CurrentEnvironmentKernelSpecManager(KernelSpecManager):
        """Resolves our kernel name to ipykernel in the current environment."""

        def get_kernel_spec(self, kernel_name):
            """The spec for the current environment's ipykernel, or a named kernel."""
            if kernel_name == CURRENT_ENVIRONMENT_KERNEL:
                return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                              **ipykernel.kernelspec.get_kernel_dict())
            return super().get_kernel_spec(kernel_name)

    connection = {}
    if socket_folder:
        connection = {"transport": "ipc", "ip": os.path.join(socket_folder, SOCKET_BASE_NAME),
                      "connection_file": os.path.join(socket_folder, CONNECTION_FILE_NAME)}
    return KernelManager(kernel_name=CURRENT_ENVIRONMENT_KERNEL,
                         kernel_spec_manager=CurrentEnvironmentKernelSpecManager(), **connection)


def ipc_available(folder: str) -> bool:
    """Whether unix sockets can live in folder: not on Windows, and its socket paths fit in sun_path."""
    longest_socket = os.path.join(folder, SOCKET_BASE_NAME + LONGEST_SOCKET_SUFFIX)
    return os.name != "nt" and len(os.fsencode(longest_socket)) <= UNIX_SOCKET_PATH_BYTES


@contextlib.contextmanager
def fresh_kernel_manager() -> Iterator:
    """A KernelManager for one kernel of this environment over ipc sockets in a temporary folder (TCP where ipc can't
    work); on leaving, its kernel, if still running, is shut down and the folder removed."""
    with tempfile.TemporaryDirectory(prefix="dlcourse-kernel-") as folder:
        manager = current_environment_kernel_manager(folder if ipc_available(folder) else "")
        try:
            yield manager
        finally:
            shut_down_kernel(manager)


def shut_down_kernel(manager) -> None:
    """Kill the manager's kernel if it still runs, and remove its connection files; never raises."""
    try:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()
    except Exception:
        pass


def start_quiet_kernel(manager, cwd: str) -> None:
    """Start the manager's kernel in cwd with its stdout and stderr (TensorFlow's C++ lines among them) discarded."""
    manager.start_kernel(cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def execute_notebook(path: pathlib.Path, cell_timeout_seconds: int = 600) -> ExecutionOutcome:
    """Run every cell of a notebook in its own folder, like nbval, in a kernel that is shut down when the notebook
    ends, whatever the outcome; the kernel's own output is discarded and the file itself is not modified."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    with fresh_kernel_manager() as manager:
        return run_notebook(notebook, manager, str(path.parent), cell_timeout_seconds)


def run_notebook(notebook, manager, folder: str, cell_timeout_seconds: int) -> ExecutionOutcome:
    """Execute the notebook's cells in a new kernel of manager started in folder, and stop that kernel's client."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(notebook, timeout=cell_timeout_seconds, km=manager, shutdown_kernel="immediate",
                            resources={"metadata": {"path": folder}})
    start = time.perf_counter()
    try:
        client.execute(cleanup_kc=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except CellExecutionError as error:
        return ExecutionOutcome(time.perf_counter() - start, first_error_line(str(error), notebook))
    except (CellTimeoutError, DeadKernelError) as error:
        return ExecutionOutcome(time.perf_counter() - start, f"{type(error).__name__}: {str(error).splitlines()[0]}")
    return ExecutionOutcome(time.perf_counter() - start)


def first_error_line(message: str, notebook) -> str:
    """A one-line description of a cell error: the cell number and the exception line."""
    cell_number = next((index + 1 for index, cell in enumerate(notebook.cells)
                        if cell.cell_type == "code" and any(output.get("output_type") == "error"
                                                            for output in cell.get("outputs", []))), None)
    lines = [line for line in _ANSI_ESCAPE.sub("", message).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "error"
    return f"cell {cell_number}: {last}" if cell_number else last

"""Execute notebooks the way nbval does: a fresh kernel of the current Python environment."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import time

CURRENT_ENVIRONMENT_KERNEL = "dlcourse-current-environment"
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


def current_environment_kernel_manager():
    """A KernelManager whose kernel runs with this process's Python (never a named, possibly missing, kernel)."""
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

    return KernelManager(kernel_name=CURRENT_ENVIRONMENT_KERNEL, kernel_spec_manager=CurrentEnvironmentKernelSpecManager())


def execute_notebook(path: pathlib.Path, cell_timeout_seconds: int = 600) -> ExecutionOutcome:
    """Run every cell of a notebook in its own folder, like nbval; the file itself is not modified."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(str(path), as_version=4)
    client = NotebookClient(notebook, timeout=cell_timeout_seconds, km=current_environment_kernel_manager(),
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
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

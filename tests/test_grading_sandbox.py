"""The bubblewrap sandbox of grading kernels: hidden folders, no network, no view of the grader (no TensorFlow)."""

import ast
import errno
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import psutil
import pytest

from dlcourse import course
from dlcourse.grading import sandbox

PROBLEM = sandbox.sandbox_problem()
pytestmark = pytest.mark.skipif(bool(PROBLEM), reason=f"the grading sandbox can't run here: {PROBLEM}")

ROOT = course.repository_root()
CHECKS_FOLDER = str(ROOT / "dlcourse" / "checks")
REPOSITORY_UNDER_TMP = os.path.realpath(ROOT).startswith("/tmp/")
KERNEL_HELPERS = textwrap.dedent("""
    import os, socket, site

    def _error_of(function):
        try:
            function()
        except BaseException as error:
            return type(error).__name__, isinstance(error, OSError), getattr(error, "errno", None)
        return None
""")


def scratch_folder(prefix: str) -> str:
    """A new folder outside /tmp when possible (the sandbox replaces /tmp, so hiding is really exercised there)."""
    parent = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=parent)


def kernel_environment() -> dict[str, str]:
    """The environment the grader gives its kernels."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DLCOURSE_METRICS")}
    environment["MPLBACKEND"] = "Agg"
    return environment


def start(working_directory: str, hidden_paths: list[str]):
    """A started sandboxed kernel and its ready client, the way the grader starts them."""
    manager = sandbox.sandboxed_kernel_manager(working_directory, hidden_paths)
    manager.start_kernel(cwd=working_directory, env=kernel_environment(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return manager, client


def host_processes(manager) -> list[psutil.Process]:
    """The kernel's process tree as the host sees it: bwrap, bwrap's init in the sandbox, the kernel, ..."""
    outer = psutil.Process(manager.provisioner.process.pid)
    return [outer] + outer.children(recursive=True)


def is_gone(pid: int) -> bool:
    """Whether the process ended (a zombie that nobody reaped yet counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until_gone(pids: list[int], seconds: float) -> list[int]:
    """The pids still running after waiting up to `seconds` for all of them to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(is_gone(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if not is_gone(pid)]


def evaluate(client, expressions: dict[str, str], code: str = "") -> dict:
    """Run code in the kernel, then the expressions; their values, read back with literal_eval."""
    reply = client.execute_interactive(code, user_expressions=expressions, timeout=30, output_hook=lambda _: None)
    assert reply["content"]["status"] == "ok", reply["content"]
    values = {}
    for name, result in reply["content"]["user_expressions"].items():
        assert result["status"] == "ok", (name, result)
        values[name] = ast.literal_eval(result["data"]["text/plain"])
    return values


@pytest.fixture
def fresh_probe():
    """Clear sandbox_problem's cache before and after a test that changes what it finds."""
    sandbox.sandbox_problem.cache_clear()
    yield
    sandbox.sandbox_problem.cache_clear()


@pytest.fixture(scope="module")
def course_folder():
    """A stand-in course root with a secret solution."""
    folder = scratch_folder("dlcourse-course-")
    os.makedirs(os.path.join(folder, "solutions"))
    with open(os.path.join(folder, "solutions", "secret.txt"), "w", encoding="utf-8") as stream:
        stream.write("the answer")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def out_folder():
    """A stand-in for the grader's --out folder, with a report in it."""
    folder = scratch_folder("dlcourse-out-")
    with open(os.path.join(folder, "report.json"), "w", encoding="utf-8") as stream:
        stream.write("{}")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the host's loopback; its port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def kernel(course_folder, out_folder):
    """One sandboxed kernel for the module: (manager, client, working folder)."""
    working_directory = tempfile.mkdtemp(prefix="dlcourse-sandbox-")
    manager, client = start(working_directory, [course_folder, out_folder, str(ROOT)])
    evaluate(client, {}, KERNEL_HELPERS)
    yield manager, client, working_directory
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    shutil.rmtree(working_directory, ignore_errors=True)


def test_sandbox_problem_is_empty_here():
    assert sandbox.sandbox_problem() == ""


def test_sandbox_problem_names_bubblewrap_when_it_is_missing(fresh_probe, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = sandbox.sandbox_problem()
    assert problem.startswith("bubblewrap (bwrap) is not installed") and "`bubblewrap`" in problem
    with pytest.raises(RuntimeError, match="bubblewrap"):
        sandbox.sandboxed_kernel_manager(str(tmp_path), [])


def test_sandbox_problem_quotes_bubblewrap_when_it_fails(fresh_probe, monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    problem = sandbox.sandbox_problem()
    assert problem.startswith("bubblewrap cannot create namespaces here "
                              "(bwrap: No permissions to create new namespace)")


def test_arguments_hide_the_repository_but_bind_back_the_package_and_datasets(course_folder, out_folder):
    working_directory = tempfile.mkdtemp(prefix="dlcourse-sandbox-")
    try:
        arguments = sandbox.bubblewrap_arguments(working_directory, [course_folder, out_folder, str(ROOT)])
    finally:
        os.rmdir(working_directory)
    pairs = list(zip(arguments, arguments[1:]))
    assert arguments[0] == shutil.which("bwrap") and arguments[-1] == "--"
    assert {"--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"} <= set(arguments)
    assert "--new-session" not in arguments and "--share-net" not in arguments
    assert arguments[arguments.index("--ro-bind"):][:3] == ["--ro-bind", "/", "/"]
    assert ("--bind", working_directory) in pairs and ("--chdir", working_directory) in pairs
    assert ("--setenv", "HOME") in pairs and ("--unsetenv", "JPY_PARENT_PID") in pairs
    # A repository under /tmp is already hidden by the sandbox's own empty /tmp, so it gets no mount of its own.
    hiding_mount = ("--tmpfs", "/tmp") if REPOSITORY_UNDER_TMP else ("--tmpfs", str(ROOT))
    hide_root = pairs.index(hiding_mount)
    bind_package = pairs.index(("--ro-bind", str(ROOT / "dlcourse")))
    hide_checks = pairs.index(("--tmpfs", CHECKS_FOLDER))
    assert hide_root < bind_package < hide_checks
    assert ("--ro-bind", str(ROOT / "datasets")) in pairs and ("--ro-bind", str(ROOT)) not in pairs
    for folder in (course_folder, out_folder):
        resolved = os.path.realpath(folder)
        assert ("--tmpfs", resolved) in pairs or resolved.startswith("/tmp/"), folder
    assert (("--remount-ro", str(ROOT)) in pairs) is not REPOSITORY_UNDER_TMP
    assert ("--remount-ro", "/tmp") not in pairs


def test_arguments_always_hide_the_checks_package():
    arguments = sandbox.bubblewrap_arguments("/tmp", [])
    assert ("--tmpfs", CHECKS_FOLDER) in list(zip(arguments, arguments[1:]))


def test_arguments_refuse_to_hide_the_root_folder():
    with pytest.raises(ValueError, match="root folder"):
        sandbox.bubblewrap_arguments("/tmp", ["/"])


def test_kernel_runs_code_and_answers_over_unix_sockets(kernel):
    manager, client, working_directory = kernel
    assert evaluate(client, {"sum": "1 + 1"}) == {"sum": 2}
    assert manager.transport == "ipc"
    assert os.path.dirname(manager.connection_file) == os.path.realpath(working_directory)
    assert os.path.exists(os.path.join(os.path.realpath(working_directory), "kernel-1"))


def test_kernel_cannot_see_the_grader_or_other_processes(kernel):
    _, client, _ = kernel
    grader = os.getpid()
    values = evaluate(client, {"signal": f"_error_of(lambda: os.kill({grader}, 0))", "pid": "os.getpid()",
                               "processes": "[name for name in os.listdir('/proc') if name.isdigit()]"})
    assert values["signal"][0] == "ProcessLookupError"
    assert values["pid"] <= 3  # bwrap's init is pid 1, the kernel comes right after it
    assert str(grader) not in values["processes"] and len(values["processes"]) <= 3


def test_kernel_has_no_network(kernel, listener):
    _, client, _ = kernel
    with socket.create_connection(("127.0.0.1", listener), timeout=2):
        pass  # the host itself can connect
    values = evaluate(client, {
        "connect": f"_error_of(lambda: socket.create_connection(('127.0.0.1', {listener}), timeout=2))",
        "interfaces": "sorted(name for _, name in socket.if_nameindex())"})
    assert values["connect"] is not None and values["connect"][1], values["connect"]  # an OSError
    assert values["interfaces"] == ["lo"]


def test_kernel_cannot_see_hidden_folders(kernel, course_folder, out_folder):
    _, client, _ = kernel
    secret = os.path.join(course_folder, "solutions", "secret.txt")
    assert os.path.isfile(secret) and os.listdir(out_folder) == ["report.json"]
    for visible_on_host in ("tests", ".git", "solutions", "dlcourse/checks/ch01.py"):
        assert (ROOT / visible_on_host).exists()
    values = evaluate(client, {
        "secret": f"_error_of(lambda: open({secret!r}).read())",
        "out": f"os.listdir({out_folder!r}) if os.path.isdir({out_folder!r}) else 'missing'",
        "checks": "_error_of(lambda: __import__('dlcourse.checks.ch01'))",
        "checks_files": f"os.listdir({CHECKS_FOLDER!r})",
        "tests": f"_error_of(lambda: os.listdir({str(ROOT / 'tests')!r}))",
        "git": f"os.path.exists({str(ROOT / '.git')!r})",
        "solutions": f"os.path.exists({str(ROOT / 'solutions')!r})",
        "root": f"sorted(os.listdir({str(ROOT)!r}))"})
    assert values["secret"][0] == "FileNotFoundError"
    assert values["out"] in ([], "missing")
    assert values["checks"][0] == "ModuleNotFoundError" and values["checks_files"] == []
    assert values["tests"][0] == "FileNotFoundError"
    assert values["git"] is False and values["solutions"] is False
    assert set(values["root"]) <= {"dlcourse", "datasets", ".venv"}, values["root"]


def test_kernel_can_import_the_package_and_load_a_dataset(kernel):
    _, client, _ = kernel
    values = evaluate(client, {"shape": "iris[0].shape", "classes": "len(iris[3])", "package": "dlcourse.__file__"},
                      "import dlcourse, dlcourse.datasets, numpy\niris = dlcourse.datasets.load_iris()")
    assert values == {"shape": (150, 4), "classes": 3, "package": str(ROOT / "dlcourse" / "__init__.py")}


def test_kernel_writes_only_in_its_working_folder(kernel):
    _, client, working_directory = kernel
    scratch_name = f"/tmp/dlcourse-sandbox-scratch-{os.getpid()}"
    values = evaluate(client, {
        "working": "open('note.txt', 'w').write('kept')",
        "home": "os.path.expanduser('~')",
        "site_packages": "_error_of(lambda: open(os.path.join(site.getsitepackages()[0], 'intruder.txt'), 'w'))",
        "package": f"_error_of(lambda: open({str(ROOT / 'dlcourse' / 'intruder.py')!r}, 'w'))",
        "hidden_root": f"_error_of(lambda: open({str(ROOT / 'intruder.txt')!r}, 'w'))",
        "scratch": f"open({scratch_name!r}, 'w').write('gone')"})
    assert values["working"] == 4 and values["scratch"] == 4
    with open(os.path.join(working_directory, "note.txt"), encoding="utf-8") as stream:
        assert stream.read() == "kept"
    assert values["home"] == os.path.realpath(working_directory)
    for name in ("site_packages", "package") + (() if REPOSITORY_UNDER_TMP else ("hidden_root",)):
        assert values[name] == ("OSError", True, errno.EROFS), (name, values[name])
    assert not (ROOT / "intruder.txt").exists()  # under /tmp the write lands in the sandbox's own /tmp
    assert not os.path.exists(scratch_name)  # the sandbox's /tmp is its own


def test_interrupt_stops_an_infinite_loop(kernel):
    manager, client, _ = kernel
    message_id = client.execute("while True:\n    pass", stop_on_error=False)
    time.sleep(0.5)
    interrupted_at = time.monotonic()
    manager.interrupt_kernel()
    while True:
        reply = client.get_shell_msg(timeout=max(0.1, interrupted_at + 5 - time.monotonic()))
        if reply["parent_header"].get("msg_id") == message_id:
            break
    assert time.monotonic() - interrupted_at < 5
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    assert manager.is_alive()
    assert evaluate(client, {"after": "40 + 2"}) == {"after": 42}


def test_kernel_process_is_a_host_descendant_of_the_provisioner_process(kernel):
    manager, client, _ = kernel
    processes = host_processes(manager)
    kernels = [process for process in processes
               if process.name() != "bwrap" and "ipykernel_launcher" in process.cmdline()]
    assert len(kernels) == 1 and kernels[0].memory_info().rss > 10 * 2**20
    assert kernels[0].pid != evaluate(client, {"pid": "os.getpid()"})["pid"]  # the host's pid, not the sandbox's


def test_shutdown_leaves_no_process_or_socket_behind():
    working_directory = tempfile.mkdtemp(prefix="dlcourse-sandbox-")
    try:
        manager, client = start(working_directory, [])
        evaluate(client, {}, "import subprocess\nsleeper = subprocess.Popen(['sleep', '300'])")
        pids = [process.pid for process in host_processes(manager)]
        assert len(pids) == 4  # bwrap, its init, the kernel, sleep
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        assert wait_until_gone(pids, 5) == []
        assert not manager.is_alive()
        assert sorted(os.listdir(working_directory)) == [".ipython"]  # connection file and sockets removed
    finally:
        shutil.rmtree(working_directory, ignore_errors=True)


HELPER = textwrap.dedent("""
    import os, subprocess, sys, time
    import psutil
    from dlcourse.grading import sandbox

    manager = sandbox.sandboxed_kernel_manager(sys.argv[1], [])
    manager.start_kernel(cwd=sys.argv[1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    outer = psutil.Process(manager.provisioner.process.pid)
    print(" ".join(str(process.pid) for process in [outer] + outer.children(recursive=True)), flush=True)
    time.sleep(600)
""")


def test_kernel_dies_with_the_grading_process():
    working_directory = tempfile.mkdtemp(prefix="dlcourse-sandbox-")
    helper = subprocess.Popen([sys.executable, "-c", HELPER, working_directory], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(helper.stdout.readline()), daemon=True).start()
        pids = [int(pid) for pid in lines.get(timeout=60).split()]
        assert len(pids) == 3  # bwrap, its init, the kernel
        helper.send_signal(signal.SIGKILL)
        helper.wait(timeout=10)
        assert wait_until_gone(pids, 10) == []
    finally:
        helper.kill()
        helper.wait()
        for pid in pids:
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(working_directory, ignore_errors=True)

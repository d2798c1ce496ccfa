"""The student's path in a real browser: headless Chromium drives JupyterLab through chapter 01.

JupyterLab runs from a scratch copy of the repository, with a scratch DLCOURSE_HOME and scratch Jupyter
settings, on a free loopback port. The test opens the chapter as a student does, runs it from the Run menu,
types answers into an exercise cell and reads the boxes its check cell shows. It needs Playwright
(`pip install -r requirements-dev.txt`) and a Chromium browser (Debian/Ubuntu: `apt-get install chromium`),
and skips, saying so, where either is missing. Screenshots go to `test-artefacts/` in the repository, or to
$DLCOURSE_TEST_ARTEFACTS; the test prints where.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import psutil
import pytest
from browser_helpers import browser  # noqa: F401 (the headless Chromium fixture)

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
CHAPTER = "01_neurons_and_activations.ipynb"
NOTEBOOK = json.loads((REPOSITORY / "chapters" / CHAPTER).read_text(encoding="utf-8"))
EXERCISE_IDS = NOTEBOOK["metadata"]["dlcourse"]["exercises"]
NUMBER_OF_CODE_CELLS = sum(cell["cell_type"] == "code" for cell in NOTEBOOK["cells"])
CORRECT_RELU = ("def relu(x):", "return np.maximum(x, 0)")
WRONG_RELU = ("def relu(x):", "return max(x, 0)")
GREEN, RED = "rgb(30, 126, 52)", "rgb(176, 42, 55)"  # the check boxes' border colours (checks/framework.py)
RUN_ALL_TIMEOUT_MS = 600_000  # the chapter runs in about a minute; generous for a busy 2-core machine
CHECK_TIMEOUT_MS = 120_000
# The texts of the notebook's input prompts: "[ ]:" not run, "[*]:" running or queued, "[7]:" run.
PROMPTS_JS = ("[...document.querySelectorAll('.jp-NotebookPanel-notebook .jp-CodeCell .jp-InputPrompt')]"
              ".map(prompt => prompt.textContent.trim())")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "*.egg-info", "__pycache__",
                                     ".ipynb_checkpoints", ".pytest_cache", "test-artefacts")
# Variables that the test run sets (conftest.py) but a student's JupyterLab doesn't have.
TEST_ONLY_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND", "MPLBACKEND", "DLCOURSE_TEST_HOME_SET",
                       "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_PATH")


@pytest.fixture(scope="module")
def artefacts() -> pathlib.Path:
    folder = pathlib.Path(os.environ.get("DLCOURSE_TEST_ARTEFACTS") or REPOSITORY / "test-artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("ch01-relu-passed.png", "ch01-relu-failed.png", "failure.png", "jupyterlab.log"):
        (folder / stale).unlink(missing_ok=True)
    print(f"\nbrowser test artefacts (screenshots, server log): {folder}")
    return folder


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_tree(process: subprocess.Popen) -> None:
    """Stop JupyterLab (it shuts its kernels down), then anything of it that is still running."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, artefacts):
    """`jupyter lab` on a free loopback port, from a scratch copy of the repository, auth off.

    Returns the base URL, the copy and the scratch DLCOURSE_HOME.
    """
    scratch = tmp_path_factory.mktemp("browser")
    course = scratch / "course"
    shutil.copytree(REPOSITORY, course, ignore=COPY_IGNORE)
    home = scratch / "dlcourse-home"
    environment = {name: value for name, value in os.environ.items() if name not in TEST_ONLY_VARIABLES}
    environment.update({
        "DLCOURSE_HOME": str(home),
        # a first-run JupyterLab: no settings, workspaces or kernels of the user's own
        "JUPYTER_CONFIG_DIR": str(scratch / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(scratch / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "jupyter-runtime"),
        "IPYTHONDIR": str(scratch / "ipython"),
    })
    port = free_loopback_port()
    log_path = artefacts / "jupyterlab.log"
    log = log_path.open("w", encoding="utf-8")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
               "--ServerApp.password=", f"--ServerApp.root_dir={course}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers often run as root
    process = subprocess.Popen(
        command, cwd=course, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {base} within 120 s:\n{log_path.read_text()}")
                time.sleep(0.5)
        yield {"url": base, "course": course, "home": home}
    finally:
        stop_process_tree(process)
        log.close()


def wait_for_idle_kernel(page, url: str, notebook_path: str, timeout: float = 120) -> None:
    """Until the notebook's kernel has started and is idle (the page's indicator says "idle" before that too)."""
    deadline = time.monotonic() + timeout
    while True:
        sessions = page.request.get(f"{url}/api/sessions").json()
        states = [session["kernel"]["execution_state"] for session in sessions
                  if session["path"] == notebook_path and session.get("kernel")]
        if states == ["idle"]:
            break
        assert time.monotonic() < deadline, f"the kernel of {notebook_path} did not start: {sessions}"
        page.wait_for_timeout(250)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()


def cell_with(notebook, text: str):
    """The one code cell whose source contains text."""
    cells = notebook.locator(".jp-CodeCell").filter(has=notebook.page.locator(".jp-InputArea-editor", has_text=text))
    assert cells.count() == 1, f"expected one code cell containing {text!r}, found {cells.count()}"
    return cells


def type_into_cell(page, cell, lines: tuple[str, str]) -> None:
    """Replace a cell's code by typing it: select all in its editor, type, and let the editor indent."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.type(lines[0])
    page.keyboard.press("Enter")  # CodeMirror indents the function body
    page.keyboard.type(lines[1])
    typed = cell.locator(".cm-line").all_text_contents()
    assert typed == [lines[0], "    " + lines[1]], f"the cell editor holds {typed}"


def run_cell_and_next(page) -> None:
    """Shift+Enter twice: runs the exercise cell, then the check cell under it."""
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")


def box_colour(output) -> str:
    """The border colour of the check's box, as the browser computes it."""
    return output.locator("div[style*='border-left']").first.evaluate("box => getComputedStyle(box).borderLeftColor")


def screenshot_cells(page, cells, path: pathlib.Path) -> None:
    """One screenshot of a run of cells (from the first's top to the last's bottom)."""
    cells[-1].scroll_into_view_if_needed()
    boxes = [cell.bounding_box() for cell in cells]
    top = min(box["y"] for box in boxes)
    bottom = max(box["y"] + box["height"] for box in boxes)
    left = min(box["x"] for box in boxes)
    right = max(box["x"] + box["width"] for box in boxes)
    page.screenshot(path=path, clip={"x": left, "y": top, "width": right - left, "height": bottom - top})


def test_student_runs_chapter_01_and_checks_relu_in_jupyterlab(browser, lab, artefacts):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    try:
        # 2. `/` opens JupyterLab on chapters/.
        page.goto(lab["url"] + "/")
        landed = urllib.parse.urlsplit(page.url).path
        assert landed.rstrip("/").endswith("/lab/tree/chapters"), f"/ led to {page.url}, not to chapters/"
        listing = page.locator(".jp-DirListing-item", has_text=CHAPTER)
        expect(listing).to_be_visible()

        # 3. Open chapter 01 from the file browser, wait for its kernel, run all cells from the Run menu.
        listing.dblclick()
        notebook = page.locator(".jp-NotebookPanel-notebook")
        expect(notebook).to_be_visible()
        expect(notebook.locator(".jp-CodeCell")).to_have_count(NUMBER_OF_CODE_CELLS)  # all cells rendered
        wait_for_idle_kernel(page, lab["url"], f"chapters/{CHAPTER}")
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        started = time.monotonic()
        # Run All marks every code cell [*] at once, and each gets its number when it has run; after an
        # exception the cells below go back to [ ] (Run All stops there).
        page.wait_for_function(f"() => {PROMPTS_JS}.some(text => /^\\[(\\*|\\d+)\\]:$/.test(text))")
        page.wait_for_function(f"() => !{PROMPTS_JS}.includes('[*]:')", timeout=RUN_ALL_TIMEOUT_MS)
        not_run = [text for text in page.evaluate(f"() => {PROMPTS_JS}") if not re.fullmatch(r"\[\d+\]:", text)]
        errors = notebook.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents()
        assert not not_run, f"Run All stopped with {len(not_run)} code cells not run; stderr: {errors}"
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1)
        print(f"Run All Cells: {NUMBER_OF_CODE_CELLS} code cells in {time.monotonic() - started:.0f} s")

        # 4. Every exercise is "not attempted", and nothing raised.
        for exercise_id in EXERCISE_IDS:
            check_output = cell_with(notebook, f'checks.check("{exercise_id}"').locator(".jp-OutputArea")
            expect(check_output).to_contain_text(f"{exercise_id}: not attempted")
        all_output = "\n".join(notebook.locator(".jp-OutputArea").all_text_contents())
        assert "Traceback" not in all_output  # an exception's output (JupyterLab shows it as stderr)
        # A student sees no stderr at all: `import dlcourse` before Keras keeps TensorFlow's start-up lines out,
        # without the test run's TF_CPP_MIN_LOG_LEVEL (this JupyterLab doesn't have it).
        stderr = notebook.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_text_contents()
        assert not stderr, f"a student's notebook shows stderr: {stderr[:3]}"

        # 5. A correct relu: the check cell shows the green "passed" box.
        exercise = cell_with(notebook, "def relu(x):")
        check = cell_with(notebook, 'checks.check("ch01.relu"')
        check_output = check.locator(".jp-OutputArea")
        type_into_cell(page, exercise, CORRECT_RELU)
        run_cell_and_next(page)
        expect(check_output).to_contain_text("ch01.relu: passed", timeout=CHECK_TIMEOUT_MS)
        assert box_colour(check_output) == GREEN
        screenshot_cells(page, [exercise, check], artefacts / "ch01-relu-passed.png")

        # 6. A wrong relu, Python's max on a whole array: a red box that names the mistake.
        type_into_cell(page, exercise, WRONG_RELU)
        run_cell_and_next(page)
        expect(check_output).to_contain_text("ch01.relu: error", timeout=CHECK_TIMEOUT_MS)
        expect(check_output).to_contain_text("You used Python's built-in `max`")
        expect(check_output).to_contain_text("np.maximum(x, 0)")
        assert box_colour(check_output) == RED
        screenshot_cells(page, [exercise, check], artefacts / "ch01-relu-failed.png")

        # The student fixes it again: the latest check is what `dlcourse progress` reports.
        type_into_cell(page, exercise, CORRECT_RELU)
        run_cell_and_next(page)
        expect(check_output).to_contain_text("ch01.relu: passed", timeout=CHECK_TIMEOUT_MS)

        # A first run asks nothing: no "official Jupyter news" toast, the course's settings say never.
        expect(page.locator(".Toastify__toast", has_text="Jupyter news")).to_have_count(0)
        schema = page.request.get(lab["url"] + "/lab/api/settings/@jupyterlab/apputils-extension:notification").json()
        assert schema["schema"]["properties"]["fetchNews"]["default"] == "false"
    except Exception:
        page.screenshot(path=artefacts / "failure.png", full_page=True)
        raise
    finally:
        context.close()

    # 7. `dlcourse progress` lists ch01.relu as passed.
    dlcourse = pathlib.Path(sys.executable).with_name("dlcourse")
    progress = subprocess.run([str(dlcourse), "progress"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DLCOURSE_HOME": str(lab["home"])})
    assert progress.returncode == 0, progress.stderr
    chapter_one = next(line for line in progress.stdout.splitlines() if line.startswith("ch01"))
    assert chapter_one.split()[-3:] == ["1", "0", str(len(EXERCISE_IDS) - 1)], progress.stdout
    assert "  ch01: ch01.relu" in progress.stdout.splitlines(), progress.stdout

"""Each submission graded in a process of its own: the worker (`python -m dlcourse.grading.worker`) and its supervisor.

A worker reads one JSON job on stdin, grades it with `dlcourse.grading.grade_notebook_bytes` and prints one JSON
document, the result, on stdout. The supervisor, in the grader's own process, starts every worker in a session of
its own, so that a submission that kills its worker (or the worker's process group) harms no other submission. It
gives a worker a generous wall-clock limit and a memory cap on the worker's own process (its kernel has a cap of its
own, in runner.py), retries a failed worker once in a fresh process (not one killed for memory: that blow-up would only
repeat), and stops every worker (and, through them, their kernels) when the grader itself is terminated or interrupted.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any, Iterator, Sequence

from dlcourse.grading import runner

WORKER_COMMAND = (sys.executable, "-m", "dlcourse.grading.worker")
SCRATCH_VARIABLE = "DLCOURSE_WORKER_SCRATCH"  # a folder for the worker's temporary folders, removed after it ends
WARM_VARIABLE = "DLCOURSE_WORKER_WARM_LIMITS"  # limits for a kernel that a worker starts before its job arrives
JUDGING_MODULES = ("keras", "dlcourse.checks")  # what a worker imports in the background from its start
ATTEMPTS = 2  # a grader failure is retried once, in a fresh process
EXTRA_SECONDS = 120.0  # on top of the notebook limit and one cell limit: kernel starts, checks, replays
WORKER_MEMORY_HEADROOM_MB = 3072.0  # on top of the kernel's cap: Keras, TensorFlow and the submitted models judged
MEMORY_POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 10.0  # how long terminated workers get to stop their kernels before SIGKILL
ORPHAN_POLL_SECONDS = 1.0
STDERR_TAIL_BYTES = 4000
DETAIL_CHARACTERS = 300
RETRY_HINT = ("Its own code may have killed the grader, or the machine ran out of memory: "
              "grade it again, with the sandbox on (the default wherever bubblewrap works).")
MEMORY_HINT = ("It was not retried: the same outputs would exhaust the grader's memory again. Look at what the "
               "notebook hands in (e.g. a model that declares a huge size); running the command again grades it again.")
GRADER_HINT = "This is a fault of the grader, not of the notebook: grade it again, and report it if it keeps failing."


@dataclasses.dataclass(frozen=True)
class WorkerJob:
    """One submission for a worker: its bytes, its file name, the course root and the limits."""

    data: bytes
    file_name: str
    root: str
    limits: runner.Limits

    def to_json(self) -> bytes:
        """The job as the JSON document a worker reads on stdin."""
        return json.dumps({"notebook": base64.b64encode(self.data).decode("ascii"), "file_name": self.file_name,
                           "root": self.root, "limits": dataclasses.asdict(self.limits)}).encode("utf-8")

    @classmethod
    def from_json(cls, text: bytes) -> "WorkerJob":
        """Rebuild a job written by to_json."""
        job = json.loads(text)
        return cls(base64.b64decode(job["notebook"]), job["file_name"], job["root"],
                   runner.Limits.from_dict(job["limits"]))


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why an attempt gave no grade: kind is died (by a signal), exited, timeout, memory, garbled (no result) or grader."""

    kind: str
    detail: str


def time_limit_for(limits: runner.Limits) -> float:
    """A worker's wall-clock limit: the notebook limit, plus one cell limit and some room for kernel starts."""
    return limits.notebook_timeout_seconds + limits.cell_timeout_seconds + EXTRA_SECONDS


def memory_limit_for(limits: runner.Limits) -> float:
    """A worker's own memory cap in MB: the kernel's cap plus headroom for Keras and the models it judges."""
    return limits.memory_limit_mb + WORKER_MEMORY_HEADROOM_MB


class MemoryWatch:
    """Watches one worker's own resident memory (not its kernel's, which runner.py caps) and kills it past a cap."""

    def __init__(self, process: subprocess.Popen, limit_mb: float) -> None:
        """Remember the worker and its cap; the watch runs while the `with` block does."""
        self.process = process
        self.limit_mb = limit_mb
        self.exceeded_mb = 0.0  # the resident memory that crossed the cap, 0 while it hasn't
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-memory-watch", daemon=True)

    def __enter__(self) -> "MemoryWatch":
        """Start watching."""
        self._thread.start()
        return self

    def __exit__(self, *exception: Any) -> None:
        """Stop watching."""
        self._finished.set()
        self._thread.join()

    def failure(self) -> Failure | None:
        """A memory failure if the worker was killed for its memory, else None."""
        if not self.exceeded_mb:
            return None
        return Failure("memory", f"it used {self.exceeded_mb:.0f} MB, more than its cap of {self.limit_mb:.0f} MB, "
                                 "and was killed: the grader ran out of memory on this submission's outputs")

    def _watch(self) -> None:
        """Poll the worker's resident memory; past the cap, remember it and kill the worker and its descendants."""
        import psutil

        try:
            watched = psutil.Process(self.process.pid)
        except psutil.Error:
            return
        while not self._finished.wait(MEMORY_POLL_SECONDS):
            try:
                resident_mb = watched.memory_info().rss / 2**20
            except psutil.Error:
                return
            if resident_mb > self.limit_mb:
                self.exceeded_mb = resident_mb
                kill_process_tree(self.process)
                return


class Supervisor:
    """Runs grading jobs in worker processes, a fresh one per attempt, and can stop them all at once."""

    def __init__(self, worker_command: Sequence[str] | None = None, time_limit_seconds: float | None = None,
                 jobs_expected: int = 0, memory_limit_mb: float | None = None) -> None:
        """worker_command starts a worker (default: this module); time_limit_seconds overrides time_limit_for, and
        memory_limit_mb overrides memory_limit_for.

        While more of the `jobs_expected` jobs are still to come, one spare worker is kept warm: it has started its
        kernel and imported the course's libraries before its job arrives (pre-warming).
        """
        self.worker_command = list(worker_command or WORKER_COMMAND)
        self.time_limit_seconds = time_limit_seconds
        self.jobs_expected = jobs_expected
        self.memory_limit_mb = memory_limit_mb
        self.stopping = False
        self._lock = threading.RLock()
        self._running: dict[subprocess.Popen, str] = {}  # each running worker and its scratch folder
        self._spare: tuple[subprocess.Popen, IO[bytes], runner.Limits] | None = None

    def grade(self, job: WorkerJob) -> dict[str, Any]:
        """The job's result; a grader failure is retried once in a fresh worker, then reported in grader_error.

        A worker killed for its memory is not retried: its outputs would exhaust the grader again.
        """
        started = time.monotonic()
        failures: list[Failure] = []
        chapter = ""
        with self._lock:
            self.jobs_expected = max(0, self.jobs_expected - 1)
        while len(failures) < ATTEMPTS and not self.stopping:
            outcome, failure = self.attempt(job)
            if failure is None:
                return outcome
            failures.append(failure)
            chapter = outcome["chapter"] if outcome else chapter
            if failure.kind == "memory":
                break
        return failed_outcome(failures, chapter, time.monotonic() - started)

    def attempt(self, job: WorkerJob) -> tuple[dict[str, Any] | None, Failure | None]:
        """Grade the job once in a fresh worker: (its result, None), or (its result if any, why it failed)."""
        time_limit = self.time_limit_seconds or time_limit_for(job.limits)
        spare = self._take_spare(job.limits)
        stderr = spare[1] if spare else tempfile.TemporaryFile()
        with stderr:
            try:
                process = spare[0] if spare else self._start(stderr)
            except OSError as error:
                return None, Failure("died", f"it could not be started ({error})")
            if process is None:
                return None, Failure("died", "the grader was stopped")
            self._keep_a_spare_warm(job.limits)
            with MemoryWatch(process, self.memory_limit_mb or memory_limit_for(job.limits)) as memory:
                try:
                    stdout, _ = process.communicate(job.to_json(), timeout=time_limit)
                except subprocess.TimeoutExpired:
                    kill_process_tree(process)
                    process.communicate()
                    self._forget(process)
                    return None, Failure("timeout", f"it ran past its time limit of {time_limit:g} s and was killed")
            self._forget(process)  # (on SIGTERM or Ctrl-C it stays listed, so that `stop` ends it)
            if memory.failure() is not None:
                return None, memory.failure()
            return interpret_exit(process.returncode, stdout, tail_of(stderr))

    def _take_spare(self, limits: runner.Limits) -> tuple[subprocess.Popen, IO[bytes]] | None:
        """The warm spare worker, if one is waiting with these limits and still runs (it is then no longer spare)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        process, stderr, spare_limits = spare
        if spare_limits == limits and process.poll() is None:
            return process, stderr
        self._end([process])
        stderr.close()
        return None

    def _keep_a_spare_warm(self, limits: runner.Limits) -> None:
        """Start a spare worker that warms up a kernel for the next job, if more jobs are to come and none waits."""
        with self._lock:
            if self.stopping or self.jobs_expected <= 0 or self._spare is not None:
                return
            stderr = tempfile.TemporaryFile()
            try:
                process = self._start(stderr, limits)
            except OSError:
                process = None
            if process is None:
                stderr.close()
                return
            self._spare = (process, stderr, limits)

    def close(self) -> None:
        """Stop the spare worker, if any: it has no job left to grade."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            self._end([spare[0]])
            spare[1].close()

    def stop(self) -> None:
        """Stop every worker: SIGTERM (a worker then stops its kernel), then SIGKILL whatever is left."""
        with self._lock:
            self.stopping = True
            processes = list(self._running)
        self._end(processes)

    def _end(self, processes: list[subprocess.Popen]) -> None:
        """SIGTERM the workers (each then stops its kernel), wait a little, then SIGKILL whatever is left."""
        descendants = {process.pid: descendants_of(process.pid) for process in processes}
        for process in processes:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and any(process.poll() is None for process in processes):
            time.sleep(0.1)
        for process in processes:
            kill_process_tree(process, descendants[process.pid])
            self._forget(process)

    def _forget(self, process: subprocess.Popen) -> None:
        """Take an ended worker off the list of running ones, and remove its scratch folder."""
        with self._lock:
            scratch = self._running.pop(process, None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    def _start(self, stderr: IO[bytes], warm_limits: runner.Limits | None = None) -> subprocess.Popen | None:
        """Start a worker in a session of its own with a fresh scratch folder, unless stopping (then None).

        With warm_limits, the worker starts its kernel with them at once, before its job arrives.
        """
        with self._lock:
            if self.stopping:
                return None
            scratch = tempfile.mkdtemp(prefix="dlcourse-worker-")
            environment = {**os.environ, SCRATCH_VARIABLE: scratch}
            if warm_limits is not None:
                environment[WARM_VARIABLE] = json.dumps(dataclasses.asdict(warm_limits))
            try:
                process = subprocess.Popen(self.worker_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=stderr, start_new_session=True, env=environment)
            except OSError:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            self._running[process] = scratch
            return process


def descendants_of(pid: int) -> list[Any]:
    """The psutil processes below a process (a grading kernel runs in a session of its own)."""
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_process_tree(process: subprocess.Popen, descendants: list[Any] | None = None) -> None:
    """SIGKILL a worker that still runs, its process group, and its descendants (found now if not given)."""
    import psutil

    descendants = descendants_of(process.pid) if descendants is None else descendants
    if process.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
    for descendant in descendants:
        with contextlib.suppress(psutil.Error):
            descendant.kill()


def tail_of(stream: IO[bytes]) -> str:
    """The last few thousand characters written to a worker's stderr file."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - STDERR_TAIL_BYTES))
    return stream.read().decode("utf-8", errors="replace")


def interpret_exit(returncode: int, stdout: bytes, stderr_tail: str) -> tuple[dict[str, Any] | None, Failure | None]:
    """(result, None) for a worker that printed a clean result, else (result if any, the failure)."""
    if returncode != 0:
        return None, Failure("died" if returncode < 0 else "exited", describe_exit(returncode, stderr_tail))
    outcome = parse_outcome(stdout)
    if outcome is None:
        last_line = last_line_of(stderr_tail)
        return None, Failure("garbled", "it printed no readable result" + (f" ({last_line})" if last_line else ""))
    if outcome["grader_error"]:
        return outcome, Failure("grader", outcome["grader_error"].rstrip("."))
    return outcome, None


def describe_exit(returncode: int, stderr_tail: str) -> str:
    """How a worker ended: the signal that killed it, or its exit code and last line of stderr."""
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    last_line = last_line_of(stderr_tail)
    return f"exited with code {returncode}" + (f": {last_line}" if last_line else "")


def last_line_of(text: str) -> str:
    """The last non-blank line of some text, shortened."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:DETAIL_CHARACTERS] if lines else ""


def parse_outcome(stdout: bytes) -> dict[str, Any] | None:
    """The result a worker printed, if stdout holds exactly one well-formed result document."""
    try:
        outcome = json.loads(stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return outcome if is_outcome(outcome) else None


def is_outcome(outcome: Any) -> bool:
    """Whether a value has the shape of grade_notebook_bytes's result."""
    number = (int, float)
    return (isinstance(outcome, dict) and set(outcome) == {"chapter", "error", "grader_error", "seconds", "exercises"}
            and all(isinstance(outcome[key], str) for key in ("chapter", "error", "grader_error"))
            and isinstance(outcome["seconds"], number) and isinstance(outcome["exercises"], list)
            and all(isinstance(row, dict) and set(row) == {"exercise", "status", "points", "max_points", "message"}
                    and all(isinstance(row[key], str) for key in ("exercise", "status", "message"))
                    and all(isinstance(row[key], number) for key in ("points", "max_points"))
                    for row in outcome["exercises"]))


def failed_outcome(failures: list[Failure], chapter: str, seconds: float) -> dict[str, Any]:
    """The result of a submission whose every attempt failed: no exercises, and grader_error says why."""
    return {"chapter": chapter, "error": "", "grader_error": failure_message(failures), "seconds": round(seconds, 1),
            "exercises": []}


def failure_message(failures: list[Failure]) -> str:
    """One sentence for a submission's failed attempts: what happened, and what to do."""
    if not failures:
        return "the grader was stopped before it graded this submission; not graded."
    reasons = "; then ".join(dict.fromkeys(failure.detail for failure in failures))
    times = {1: "once", 2: "twice"}.get(len(failures), f"{len(failures)} times")
    verb = "died" if all(failure.kind == "died" for failure in failures) else "failed"
    hint = GRADER_HINT if all(failure.kind == "grader" for failure in failures) else RETRY_HINT
    if failures[-1].kind == "memory":
        hint = MEMORY_HINT
    return f"the grading process {verb} {times} ({reasons}); not graded. {hint}"


@contextlib.contextmanager
def supervised(worker_command: Sequence[str] | None = None, jobs_expected: int = 0) -> Iterator[Supervisor]:
    """A Supervisor whose workers are all stopped if the block ends by an exception, SIGTERM or Ctrl-C.

    With jobs_expected > 1, a spare worker warms up the next job's kernel while a job is graded.
    """
    supervisor = Supervisor(worker_command, jobs_expected=jobs_expected)
    with handled_signals({signal.SIGTERM: raise_system_exit}):
        try:
            yield supervisor
        except BaseException:
            with handled_signals({signal.SIGTERM: signal.SIG_IGN, signal.SIGINT: signal.SIG_IGN}):
                supervisor.stop()  # a second signal must not cut the cleanup short
            raise
        finally:
            supervisor.close()


@contextlib.contextmanager
def handled_signals(handlers: dict[int, Any]) -> Iterator[None]:
    """Install signal handlers for the block (only in the main thread, the only one that may)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def raise_system_exit(signal_number: int, frame: Any) -> None:
    """SIGTERM handler: unwind normally, so that `finally` blocks stop workers and kernels."""
    raise SystemExit(128 + signal_number)


def private_stdout() -> IO[str]:
    """A private copy of stdout for the result; file descriptor 1 then points at stderr, so stray prints go there."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return stream


def use_scratch_folder() -> None:
    """Make this worker's temporary folders (the kernel's working folder too) in the scratch folder it was given.

    The supervisor removes that folder once the worker has ended, even if the worker was killed before it could
    clean up. The variable is taken out of the environment, so that the kernel never sees it.
    """
    folder = os.environ.pop(SCRATCH_VARIABLE, "")
    if folder:
        tempfile.tempdir = folder


def stop_when_orphaned() -> None:
    """If the supervisor dies, terminate this worker (which stops its kernel) instead of grading on for no one."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_POLL_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def main() -> int:
    """The worker: grade the job read on stdin, print its result on stdout."""
    signal.signal(signal.SIGTERM, raise_system_exit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which terminates its workers
    results = private_stdout()
    use_scratch_folder()
    stop_when_orphaned()
    threading.Thread(target=preload_judging, name="preload-judging", daemon=True).start()
    kernel = warm_kernel()
    try:
        job = WorkerJob.from_json(sys.stdin.buffer.read())
        if kernel is not None and kernel.limits != job.limits:
            kernel.stop()
            kernel = None
        from dlcourse import grading

        outcome = grading.grade_notebook_bytes(job.data, job.file_name, job.root, job.limits, kernel)
    finally:
        if kernel is not None:
            kernel.stop()
    results.write(json.dumps(outcome))
    results.flush()
    return 0


def exit_at_once(code: int) -> None:
    """End the worker without the interpreter's teardown, which takes most of a second once TensorFlow is loaded.

    Everything that matters is done by then: the kernel is stopped, its folder removed, the result written and
    flushed, and the supervisor removes the scratch folder.
    """
    sys.stderr.flush()
    os._exit(code)


def preload_judging() -> None:
    """Import what judging needs, in the background from the worker's start: Keras, which loads submitted models,
    and the checks.

    Importing Keras takes seconds, which would otherwise be spent when the first model exercise is judged; this way
    it overlaps with the kernel's start and the notebook's run. Judging that needs a module sooner simply waits for
    it (Python's import lock). A failed import costs only the head start: judging imports what it needs again, and
    reports what fails then.
    """
    import importlib

    for name in JUDGING_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            return


def warm_kernel() -> runner.WatchedKernel | None:
    """A kernel started before the job arrives, when the supervisor asked for one; None if not asked or it failed.

    The variable is taken out of the environment first, so that no kernel sees it.
    """
    warm_limits = os.environ.pop(WARM_VARIABLE, "")
    if not warm_limits:
        return None
    try:
        return runner.start_warm_kernel(runner.Limits.from_dict(json.loads(warm_limits)))
    except Exception:  # GraderFailure included: grading then starts a kernel of its own, as without pre-warming
        return None


if __name__ == "__main__":
    exit_at_once(main())

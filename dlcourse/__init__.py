"""dlcourse: helpers, exercise checks, release and grading tools for the Keras course.

Importing this package is cheap: it never imports TensorFlow or Keras. Submodules
(`checks`, `datasets`, `plots`, `metrics`, ...) are imported on demand, e.g.
`from dlcourse import checks, plots`.
"""

import contextlib as _contextlib
import importlib.util as _importlib_util
import logging as _logging
import os as _os
import sys as _sys

# Keep TensorFlow's C++ log lines out of notebooks; set before TensorFlow is imported.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@_contextlib.contextmanager
def _stderr_descriptor_silenced():
    """Point file descriptor 2 at the null device for a while: C++ libraries write there, below Python."""
    if _sys.stderr is not None:
        _sys.stderr.flush()
    try:
        saved = _os.dup(2)
    except OSError:
        yield
        return
    null_device = _os.open(_os.devnull, _os.O_WRONLY)
    try:
        _os.dup2(null_device, 2)
        yield
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)
        _os.close(null_device)


class _QuietTensorFlowImport:
    """Imports TensorFlow, whenever something first imports it, with its C++ start-up lines silenced.

    TensorFlow writes them ("oneDNN custom operations are on", "Could not find cuda drivers", twice) to
    file descriptor 2 before it reads TF_CPP_MIN_LOG_LEVEL, so no setting hides them. This finder does
    not import TensorFlow itself: it waits in sys.meta_path, once, for the first `import tensorflow`
    (e.g. by `import keras` after `import dlcourse`), and runs that import with descriptor 2 silenced.
    Python's own warnings and errors still show: a notebook's sys.stderr does not write to descriptor 2,
    and an import error is raised after the descriptor is restored.
    """

    def find_spec(self, fullname, path=None, target=None):
        """The usual spec of `tensorflow`, its loader made quiet for this one import; None for other modules."""
        if fullname != "tensorflow":
            return None
        if self in _sys.meta_path:
            _sys.meta_path.remove(self)
        spec = _importlib_util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        loud_exec_module = loader.exec_module

        def exec_module_quietly(module):
            try:
                with _stderr_descriptor_silenced():
                    loud_exec_module(module)
            finally:
                vars(loader).pop("exec_module", None)

        try:
            loader.exec_module = exec_module_quietly
        except AttributeError:
            pass
        return spec


if "tensorflow" not in _sys.modules and not any(type(finder).__name__ == "_QuietTensorFlowImport"
                                                for finder in _sys.meta_path):
    _sys.meta_path.insert(0, _QuietTensorFlowImport())



class _NoRetracingWarnings(_logging.Filter):
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing" warning.

    A lesson builds many small models and calls `predict` once on each; every new model traces its own
    predict function, so TensorFlow warns about "excessive" tracing that is the lesson's design, not a bug."""

    def filter(self, record: _logging.LogRecord) -> bool:
        """False (drop) for the retracing warning, True for every other record."""
        return "triggered tf.function retracing" not in record.getMessage()


_tensorflow_logger = _logging.getLogger("tensorflow")  # a plain logger: getting it does not import TensorFlow
if not any(type(existing).__name__ == "_NoRetracingWarnings" for existing in _tensorflow_logger.filters):
    _tensorflow_logger.addFilter(_NoRetracingWarnings())

__version__ = "0.1.0"

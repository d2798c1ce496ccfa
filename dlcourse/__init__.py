"""dlcourse: helpers, exercise checks, release and grading tools for the Keras course.

Importing this package is cheap: it never imports TensorFlow or Keras. Submodules
(`checks`, `datasets`, `plots`, `metrics`, ...) are imported on demand, e.g.
`from dlcourse import checks, plots`.
"""

import os as _os

# Keep TensorFlow's C++ log lines out of notebooks; set before TensorFlow is imported.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

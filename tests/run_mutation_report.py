"""Write the mutation report: `python tests/run_mutation_report.py --chapters 1,2,3,4,6,7,8 --out tests/mutation_report.md`."""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import mutation  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(mutation.main())

"""``python -m sweeps NAME ... | all [--size tiny] [--out DIR]``: compute (or reuse) the stores of
registered figures without drawing them (``--list`` lists the figures)."""

import sys

from ntajax._cli.figure import sweeps_main

if __name__ == "__main__":
    sys.exit(sweeps_main())

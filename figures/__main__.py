"""``python -m figures NAME ... | all [--size tiny] [--out DIR]``: draw registered figures (``--list``)."""

import sys

from ntajax._cli.figure import figure_main

if __name__ == "__main__":
    sys.exit(figure_main())

"""Compiler settings of ntajax's jitted entry points.

XLA's CPU backend spends most of its compile time in LLVM's optimisation of the generated
kernels. ntajax's kernels are small elementwise loops and matrix products whose speed does not
improve beyond LLVM's level 1 (measured in ``bench/bench_compile.py``), while level 1 roughly
halves the compile time of a run. The option is passed per ``jit`` (no global flag is set).
"""

COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}

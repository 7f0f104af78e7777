"""Compiler settings of ntajax's jitted entry points (passed per ``jit``; no global flag is set).

Measured on the 2-core CPU (``python bench/bench_compile.py``):

* ``xla_backend_optimization_level = 1``: LLVM's level 1 instead of the default. ntajax's
  kernels are small elementwise loops and matrix products that run no faster at higher levels,
  while compiling takes up to twice as long.
* ``xla_cpu_use_fusion_emitters = False``: XLA's classic loop emitter instead of its newer
  MLIR fusion emitters. For these programs the newer emitters compile more slowly, need
  ~200 MB more memory while compiling, and generate slower code for wide batches (a vmapped
  sweep chunk ran up to 6× slower); runs of ~10 seeds are within ±15 %.
"""

COMPILER_OPTIONS = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}

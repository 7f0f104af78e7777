"""Full float32 precision of the matrix products in ntajax's compiled programs.

On recent NVIDIA GPUs (Ampere and later) XLA computes float32 matrix products in TF32 by default
(10-bit mantissa inputs), and TPUs in bfloat16 passes: results that no longer match the CPU to
float32 rounding. Every compiled entry point of ntajax (``ntajax.run``, ``ntajax.simulate``,
``run_stacked``, the sweep executor ``run_points``, ``ntajax.summarise``) therefore traces its
body under :func:`pinned_matmuls`, which sets JAX's default matmul precision to ``"highest"``
for the products traced inside (every ``dot_general`` without an explicit ``precision`` then
carries ``PrecisionConfig = HIGHEST`` in the lowered program). The setting is a context
entered at trace time, not a global flag, so user code outside these functions keeps JAX's
default. On the CPU the products are float32 either way (results bit-identical with and
without the pin; ``tests/test_precision.py``).
"""

import functools

import jax

MATMUL_PRECISION = "highest"
"""JAX's name of the precision pinned inside ntajax's programs (full float32 / float64 products)."""


def pinned_matmuls():
    """Context manager: matrix products traced inside it use :data:`MATMUL_PRECISION`."""
    return jax.default_matmul_precision(MATMUL_PRECISION)


def pin_matmul_precision(fn):
    """Decorator: trace ``fn`` under :func:`pinned_matmuls` (put it below ``jit``, so that the
    context holds while the jitted body is traced)."""

    @functools.wraps(fn)
    def pinned(*args, **kwargs):
        with pinned_matmuls():
            return fn(*args, **kwargs)

    return pinned

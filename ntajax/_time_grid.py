"""The time grid of a simulation: Euler step, simulated span and recording points (MODEL §5.2, §5.5)."""

import dataclasses
import math

import equinox as eqx
import numpy as np


class TimeGrid(eqx.Module):
    """Steps t_i = i·dt over [0, t_total] and ``n_save`` equally spaced recording points.

    All fields are static: changing one compiles a new program (the number of steps and
    records fixes the shapes).

    Args:
        dt: Euler step (and the output spacing of the ODE engine).
        t_total: simulated span; round(t_total/dt) steps, which must be a whole number.
        n_save: recorded points including t = 0 and t = t_total; the number of steps must be a
            multiple of n_save − 1.
    """

    dt: float = eqx.field(static=True, default=1e-3)
    t_total: float = eqx.field(static=True, default=20.0)
    n_save: int = eqx.field(static=True, default=1001)

    def __check_init__(self):
        for name in ("dt", "t_total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"TimeGrid: {name}={value!r} must be a positive finite number.")
        ratio = self.t_total / self.dt
        if abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
            raise ValueError(
                f"TimeGrid: t_total={self.t_total} is not a whole number of steps dt={self.dt} (ratio {ratio}); "
                "choose t_total as a multiple of dt."
            )
        if isinstance(self.n_save, bool) or not isinstance(self.n_save, int) or self.n_save < 2:
            raise ValueError(f"TimeGrid: n_save={self.n_save!r} must be an integer ≥ 2 (t = 0 and t = t_total are always recorded).")
        if self.n_steps % (self.n_save - 1) != 0:
            divisors = [d + 1 for d in range(1, self.n_steps + 1) if self.n_steps % d == 0]
            near = sorted(divisors, key=lambda v: abs(v - self.n_save))[:4]
            raise ValueError(
                f"TimeGrid: n_save={self.n_save}: the {self.n_steps} steps cannot be split into n_save − 1 = "
                f"{self.n_save - 1} equal recording intervals; nearby valid values: {sorted(near)}."
            )

    @property
    def n_steps(self) -> int:
        """Number of Euler steps, round(t_total/dt)."""
        return int(round(self.t_total / self.dt))

    @property
    def save_every(self) -> int:
        """Steps between two recorded points."""
        return self.n_steps // (self.n_save - 1)

    @property
    def save_times(self) -> np.ndarray:
        """Recorded times j·save_every·dt, shape (n_save,)."""
        return np.arange(self.n_save) * self.save_every * self.dt

    def replace(self, **changes) -> "TimeGrid":
        """A copy with some fields changed (re-validated)."""
        return dataclasses.replace(self, **changes)

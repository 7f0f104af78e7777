"""Teacher-set descriptions held by the config (MODEL §3).

A teacher set is a small static description ("orthogonal, rotated, scale 1/√d_in, with
additive composites, shared across seeds"); :meth:`TeacherSet.make` turns it into arrays
from an explicit key. Explicit teacher arrays bypass this and are passed to
:func:`ntajax.run` directly (toy model, Fig. A2).
"""

import abc
import dataclasses

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from .._parameters import check_non_negative, scalar_fields, traced
from . import matrices as _teachers


def _optional_traced(x):
    return None if x is None else traced(x)


class TeacherSet(eqx.Module):
    """Abstract teacher set.

    Attributes:
        composites: ``None``, ``"additive"`` or ``"concatenated"`` composites appended after
            the base teachers (MODEL §3.6).
        diagonals: for M = 4, also append the AC and BD composites.
        per_seed: draw a new set for every seed (teacher key folded with the seed index)
            instead of one set shared by all seeds (MODEL §3.7; shared is the original's).
        noise: σ, teacher output noise (traced, ≥ 0; ``None``, the default, is no noise and no
            extra random draws). The targets are y = W* x + σ ε with ε ~ N(0, I_{d_out}) drawn
            afresh for every sample, independent of x. The expected gradient is unchanged; the
            expected loss gains the constant floor ½σ²·d_out, which every *recorded* loss
            (``loss``, ``closing_loss``, ``minibatch_loss``) includes: ``loss`` is
            E_{x,ε}[½‖y − ŷ‖²] = ½‖W* − W_eff‖²_F + ½σ²·d_out, the mean of the minibatch loss. A
            minibatch gradient gains σ·N with N = (1/B) Σ_b ε_b x_bᵀ, drawn from its exact law
            given the batch inputs (:meth:`ntajax.SampledGradient.noisy_batch`). Addressed by the
            path ``"teachers.noise"``; ``noise=0.0`` reproduces the noiseless run bit for bit.
            Supported by :class:`ntajax.EulerScan` (both gradient modes), and by
            :class:`ntajax.SubspaceScan` and :class:`ntajax.Diffrax` (expected flow: the floor only).
    """

    composites: str | None = eqx.field(static=True, default=None)
    diagonals: bool = eqx.field(static=True, default=False)
    per_seed: bool = eqx.field(static=True, default=False)
    noise: Float[Array, ""] | None = eqx.field(default=None, converter=_optional_traced)

    def __check_init__(self):
        if self.composites not in (None, "additive", "concatenated"):
            raise ValueError(
                f"composites={self.composites!r} is not allowed: use None, 'additive' or 'concatenated'."
            )
        self.check_values(scalar_fields(self))

    def check_values(self, values: dict[str, float | None]) -> None:
        """Check concrete values of the traced fields (a sweep point's, or this set's own)."""
        check_non_negative(type(self).__name__, "noise", values.get("noise"))

    def without_noise(self) -> "TeacherSet":
        """This teacher set without output noise (what draws the teacher matrices)."""
        return dataclasses.replace(self, noise=None) if self.noise is not None else self

    @abc.abstractmethod
    def base(self, *, key: PRNGKeyArray, n_teachers: int, d_out: int, d_in: int) -> Float[Array, "M d_out d_in"]:
        """The M base teachers."""

    def n_composites(self, n_teachers: int) -> int:
        if self.composites is None:
            return 0
        return len(_teachers.composite_pairs(n_teachers, diagonals=self.diagonals))

    def validate(self, *, n_teachers: int, d_out: int, d_in: int) -> None:
        """Raise ValueError for sizes this teacher set cannot be built for."""

    def make(self, *, key: PRNGKeyArray, n_teachers: int, d_out: int, d_in: int) -> Float[Array, "M_total d_out d_in"]:
        """Base teachers followed by the composites, (M + M_c, d_out, d_in)."""
        teachers = self.base(key=key, n_teachers=n_teachers, d_out=d_out, d_in=d_in)
        if self.composites is not None:
            teachers = _teachers.with_composites(teachers, kind=self.composites, diagonals=self.diagonals)
        return teachers

    def make_for_seeds(self, *, key: PRNGKeyArray, n_seeds: int, n_teachers: int, d_out: int, d_in: int):
        """(n_seeds, M_total, d_out, d_in) if ``per_seed``, else (M_total, d_out, d_in)."""
        if not self.per_seed:
            return self.make(key=key, n_teachers=n_teachers, d_out=d_out, d_in=d_in)
        keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jax.numpy.arange(n_seeds))
        return jax.vmap(lambda k: self.make(key=k, n_teachers=n_teachers, d_out=d_out, d_in=d_in))(keys)


def _resolve_scale(scale: str | float, d_in: int, d_out: int, n_teachers: int) -> float:
    if isinstance(scale, str):
        return _teachers.teacher_scale(scale, d_in, d_out, n_teachers)
    return float(scale)


class OrthogonalTeachers(TeacherSet):
    """Mutually orthogonal teachers with orthonormal rows × s (MODEL §3.2). Needs M·d_out ≤ d_in."""

    rotated: bool = eqx.field(static=True, default=True)
    scale: str | float = eqx.field(static=True, default="d_in")

    def validate(self, *, n_teachers, d_out, d_in):
        if n_teachers * d_out > d_in:
            raise ValueError(
                f"Orthogonal teachers need n_teachers·d_out ≤ d_in, got {n_teachers}·{d_out} = "
                f"{n_teachers * d_out} > d_in = {d_in}. Increase d_in, or use IIDTeachers()."
            )

    def base(self, *, key, n_teachers, d_out, d_in):
        return _teachers.orthogonal_teachers(
            key=key,
            n_teachers=n_teachers,
            d_out=d_out,
            d_in=d_in,
            scale=_resolve_scale(self.scale, d_in, d_out, n_teachers),
            rotated=self.rotated,
        )


class IIDTeachers(TeacherSet):
    """Teachers with i.i.d. N(0, s²) entries (MODEL §3.3)."""

    scale: str | float = eqx.field(static=True, default="d_in")

    def base(self, *, key, n_teachers, d_out, d_in):
        return _teachers.iid_teachers(
            key=key, n_teachers=n_teachers, d_out=d_out, d_in=d_in, scale=_resolve_scale(self.scale, d_in, d_out, n_teachers)
        )


class SVDTeachers(TeacherSet):
    """Rank-r teachers with mutually orthogonal singular spaces (MODEL §3.4)."""

    rank: int = eqx.field(static=True, default=1)
    scale: str | float = eqx.field(static=True, default="unit")
    rotated: bool = eqx.field(static=True, default=True)

    def base(self, *, key, n_teachers, d_out, d_in):
        return _teachers.svd_teachers(
            key=key,
            n_teachers=n_teachers,
            d_out=d_out,
            d_in=d_in,
            rank=self.rank,
            scale=_resolve_scale(self.scale, d_in, d_out, n_teachers),
            rotated=self.rotated,
        )


class CorrelatedTeachers(TeacherSet):
    """Teachers whose rows have expected pairwise overlap ξ (MODEL §3.5)."""

    overlap: float = eqx.field(static=True, default=0.0)
    scale: str | float = eqx.field(static=True, default="d_in")
    rotated: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not 0.0 <= self.overlap <= 1.0:
            raise ValueError(f"CorrelatedTeachers(overlap={self.overlap}) must lie in [0, 1].")

    def validate(self, *, n_teachers, d_out, d_in):
        if self.overlap == 0.0:
            OrthogonalTeachers().validate(n_teachers=n_teachers, d_out=d_out, d_in=d_in)
        elif n_teachers * d_out > d_in:
            raise ValueError(
                f"Correlated teachers draw d_in rows and need n_teachers·d_out ≤ d_in, got {n_teachers * d_out} > {d_in}."
            )

    def base(self, *, key, n_teachers, d_out, d_in):
        return _teachers.correlated_teachers(
            key=key,
            n_teachers=n_teachers,
            d_out=d_out,
            d_in=d_in,
            overlap=self.overlap,
            scale=_resolve_scale(self.scale, d_in, d_out, n_teachers),
            rotated=self.rotated,
        )


class ExplicitTeachers(TeacherSet):
    """Teachers given as arrays to :func:`ntajax.run` (toy model, Fig. A2); nothing is drawn.

    ``n_composites`` counts extra target matrices after the M base ones, if any.
    """

    extra_targets: int = eqx.field(static=True, default=0)

    def n_composites(self, n_teachers: int) -> int:
        return self.extra_targets

    def base(self, *, key, n_teachers, d_out, d_in):
        raise ValueError("teachers=ExplicitTeachers() has no generator: pass the arrays as run(config, key, teachers=...).")

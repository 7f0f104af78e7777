"""Converter from the original regulariser parameterisation to clean coefficients (MODEL §4.3).

The original writes the regulariser as ``λ · Σ_k (ω_k / Ω) · R_k`` with Ω = Σ_j ω_j and hidden
constants inside each R_k:

=================================  ==========================================
original term (name here)          R_k
=================================  ==========================================
non-negativity (``"nonneg"``)      10 · Σ_j max(0, −c_j)
L1 gating manifold (``"l1"``)      10 · ½(‖c‖₁ − 1)²
L2 gating manifold (``"l2"``)      ½(‖c‖₂ − 1)²   (no factor 10)
W column norm (``"l2_W"``)         ½ · mean_{p,j} ‖W_p[:, j]‖₂
=================================  ==========================================

ntajax uses the clean form of MODEL §4.2,
``R = λ_norm·½(‖c‖_k − 1)² + λ_nonneg·Σ_j max(0, −c_j) + λ_W·mean_{p,j}‖W_p[:, j]‖₂``, so

* λ_nonneg = 10 λ ω_nonneg / Ω,
* λ_norm = 10 λ ω_l1 / Ω (k = 1) or λ ω_l2 / Ω (k = 2),
* λ_W = ½ λ ω_l2_W / Ω.
"""

import dataclasses
import math
from collections.abc import Mapping, Sequence

from ._losses import Regulariser

__all__ = ["CleanRegulariser", "from_original", "ORIGINAL_TERMS"]

#: Hidden constant of each original term: its R_k is this constant times the clean term.
_HIDDEN_CONSTANT: dict[str, float] = {
    "nonneg": 10.0,
    "l1": 10.0,
    "l2": 1.0,
    "l2_W": 0.5,
}

#: Valid term names of :func:`from_original`.
ORIGINAL_TERMS: tuple[str, ...] = tuple(_HIDDEN_CONSTANT)


@dataclasses.dataclass(frozen=True)
class CleanRegulariser:
    """Clean regulariser coefficients of MODEL §4.2.

    Attributes:
        lambda_nonneg: λ_nonneg, the linear non-negativity penalty on every gate entry.
        lambda_norm: λ_norm, the weight of ½(‖c‖_k − 1)².
        norm_order: k ∈ {1, 2}.
        lambda_w: λ_W, the weight of the mean W column 2-norm.
    """

    lambda_nonneg: float
    lambda_norm: float
    norm_order: int
    lambda_w: float

    def __post_init__(self):
        if self.norm_order not in (1, 2):
            raise ValueError(f"CleanRegulariser norm_order={self.norm_order!r} must be 1 or 2 (the k of ‖c‖_k).")
        for name in ("lambda_nonneg", "lambda_norm", "lambda_w"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"CleanRegulariser {name}={value!r} must be a finite number ≥ 0.")

    def as_dict(self) -> dict[str, float | int]:
        """The coefficients as keyword arguments of :class:`ntajax.Regulariser`."""
        return dataclasses.asdict(self)

    def regulariser(self) -> Regulariser:
        """These coefficients as the simulation's :class:`ntajax.Regulariser`."""
        return Regulariser(**self.as_dict())


def _weights(terms: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    if isinstance(terms, str):
        raise TypeError(
            f"from_original terms={terms!r} is a single string; pass a list of term names such as "
            f"[{terms!r}] or a dict of weights."
        )
    if isinstance(terms, Mapping):
        weights = {name: weight for name, weight in terms.items()}
    else:
        names = list(terms)
        duplicates = sorted({n for n in names if names.count(n) > 1}, key=str)
        if duplicates:
            raise ValueError(f"from_original terms list repeats {duplicates}; give each term once (or use a dict of weights).")
        weights = {name: 1.0 for name in names}
    unknown = [name for name in weights if name not in _HIDDEN_CONSTANT]
    if unknown:
        raise ValueError(f"from_original got unknown term name(s) {unknown}; valid names are {list(ORIGINAL_TERMS)}.")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"from_original weight of term {name!r} must be a finite number ≥ 0, got {weight!r}.")
    return {name: float(weight) for name, weight in weights.items()}


def from_original(strength: float, terms: Mapping[str, float] | Sequence[str]) -> CleanRegulariser:
    """Convert the original (λ, term weights) to clean coefficients (MODEL §4.3).

    Args:
        strength: λ, the original global strength (≥ 0).
        terms: either a dict ``{name: ω}`` or a list of names (each with ω = 1). Names are
            ``"nonneg"``, ``"l1"`` (L1 gating manifold), ``"l2"`` (L2 gating manifold) and
            ``"l2_W"`` (W column norm). A term with ω = 0 is allowed and adds nothing to
            Ω = Σ ω. At most one of ``"l1"``/``"l2"`` may have a non-zero weight.

    Returns:
        :class:`CleanRegulariser` with λ_nonneg = 10λω_nonneg/Ω, λ_norm = 10λω_l1/Ω (k = 1) or
        λω_l2/Ω (k = 2), λ_W = ½λω_l2_W/Ω. If Ω = 0 (no term has a non-zero weight) every
        coefficient is 0. k is 1 or 2 after the gating-manifold term with non-zero weight; if
        none has one, after the only gating-manifold term listed, else 1.

    Example:
        ``from_original(0.1, {"nonneg": 1, "l1": 10, "l2_W": 0})`` gives λ_nonneg = 1/11,
        λ_norm = 10/11, k = 1, λ_W = 0 (Fig. 2 flexible).
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength) or strength < 0:
        raise ValueError(f"from_original strength={strength!r} must be a finite number ≥ 0.")
    weights = _weights(terms)

    active_norms = [name for name in ("l1", "l2") if weights.get(name, 0.0) > 0]
    if len(active_norms) > 1:
        raise ValueError(
            f"from_original got non-zero weights for both gating manifolds l1={weights['l1']} and "
            f"l2={weights['l2']}; the clean form has one norm term of order k. Set one of them to 0."
        )
    listed_norms = [name for name in ("l1", "l2") if name in weights]
    if active_norms:
        norm_name = active_norms[0]
    elif len(listed_norms) == 1:
        norm_name = listed_norms[0]
    else:
        norm_name = "l1"
    norm_order = 1 if norm_name == "l1" else 2

    total = sum(weights.values())

    def coefficient(name: str) -> float:
        weight = weights.get(name, 0.0)
        if total == 0 or weight == 0:
            return 0.0
        return _HIDDEN_CONSTANT[name] * strength * weight / total

    return CleanRegulariser(
        lambda_nonneg=coefficient("nonneg"),
        lambda_norm=coefficient(norm_name),
        norm_order=norm_order,
        lambda_w=coefficient("l2_W"),
    )

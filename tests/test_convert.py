"""The original → clean regulariser converter against the table of MODEL §4.3."""

import dataclasses
import math

import numpy as np
import pytest

from ntajax._convert import CleanRegulariser, from_original

EPS = np.finfo(np.float64).eps  # "machine ε (2.22e-16)" of the MNIST forgetful row
REL = 1e-12

# One entry per row of the "Effective coefficients" table of MODEL §4.3 (rows with a λ grid are
# expanded). Fields: id, λ, original weights, λ_nonneg, λ_norm, k, λ_W — the expected values are
# the table's fractions, written as in the table.
TABLE = [
    ("fig2-flexible", 0.1, {"nonneg": 1, "l1": 10, "l2_W": 0}, 1 / 11, 10 / 11, 1, 0.0),
    ("forgetful-1:10:0-L1", 0.0, {"nonneg": 1, "l1": 10, "l2_W": 0}, 0.0, 0.0, 1, 0.0),
    ("forgetful-1:10-L2", 0.0, {"nonneg": 1, "l2": 10}, 0.0, 0.0, 2, 0.0),
    ("forgetful-1:10:20-L1", 0.0, {"nonneg": 1, "l1": 10, "l2_W": 20}, 0.0, 0.0, 1, 0.0),
    ("fig3c-A12-fig5a", 0.3, {"nonneg": 1, "l1": 5}, 0.5, 2.5, 1, 0.0),
    *[
        (f"fig5b-lambda={lam}", lam, {"nonneg": 1, "l1": 5}, 5 * lam / 3, 25 * lam / 3, 1, 0.0)
        for lam in (0.0, 0.05, 0.1, 0.15, 0.2)
    ],
    ("A14", 0.2, {"nonneg": 1, "l1": 5}, 1 / 3, 5 / 3, 1, 0.0),
    ("fig8", 0.09, {"nonneg": 1, "l1": 4}, 0.18, 0.72, 1, 0.0),
    ("fig3d-A12-concatenated", 0.025, {"nonneg": 1, "l2": 10}, 0.25 / 11, 0.25 / 11, 2, 0.0),
    ("fig6-A4-A5-A6-FC", 0.22, {"nonneg": 1, "l2": 10}, 0.2, 0.2, 2, 0.0),
    *[
        (f"A7-lambda={lam}", lam, {"nonneg": 1, "l2": 10}, 10 * lam / 11, 10 * lam / 11, 2, 0.0)
        for lam in (0.0, 0.2, 0.25, 0.3, 0.35)
    ],
    ("A3-without-W", 0.6, {"nonneg": 1, "l1": 10, "l2_W": 0}, 6 / 11, 60 / 11, 1, 0.0),
    ("A3-with-W", 0.6, {"nonneg": 1, "l1": 10, "l2_W": 20}, 6 / 31, 60 / 31, 1, 6 / 31),
    ("A10-A11", 0.01, {"nonneg": 1, "l1": 1, "l2_W": 0}, 0.05, 0.05, 1, 0.0),
    ("A13", 0.1, {"nonneg": 0, "l2": 10, "l2_W": 0}, 0.0, 0.1, 2, 0.0),
    ("fig7-mnist-flexible", 0.1, {"nonneg": 1, "l1": 1}, 0.5, 0.5, 1, 0.0),
    # 10·ε·1/2 = 5ε = 1.11e-15; the table prints this as 1.1e-15 (checked separately below).
    ("fig7-mnist-forgetful", EPS, {"nonneg": 1, "l1": 1}, 5 * EPS, 5 * EPS, 1, 0.0),
]


def _close(actual, expected):
    return actual == pytest.approx(expected, rel=REL, abs=0.0 if expected else 1e-300)


@pytest.mark.parametrize("lam, weights, nonneg, norm, k, w", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_effective_coefficients_table(lam, weights, nonneg, norm, k, w):
    clean = from_original(lam, weights)
    assert isinstance(clean, CleanRegulariser)
    assert _close(clean.lambda_nonneg, nonneg)
    assert _close(clean.lambda_norm, norm)
    assert clean.norm_order == k
    assert _close(clean.lambda_w, w)


# The table's printed decimals for the rows given as λ grids and the ≈ values, each checked to
# half a unit of its last printed digit.
@pytest.mark.parametrize(
    "lam, weights, nonneg_printed, norm_printed",
    [
        (0.05, {"nonneg": 1, "l1": 5}, "0.0833", "0.4167"),
        (0.1, {"nonneg": 1, "l1": 5}, "0.1667", "0.8333"),
        (0.15, {"nonneg": 1, "l1": 5}, "0.25", "1.25"),
        (0.2, {"nonneg": 1, "l1": 5}, "0.3333", "1.6667"),
        (0.2, {"nonneg": 1, "l2": 10}, "0.1818", "0.1818"),
        (0.25, {"nonneg": 1, "l2": 10}, "0.2273", "0.2273"),
        (0.3, {"nonneg": 1, "l2": 10}, "0.2727", "0.2727"),
        (0.35, {"nonneg": 1, "l2": 10}, "0.3182", "0.3182"),
        (0.1, {"nonneg": 1, "l1": 10, "l2_W": 0}, "0.09091", "0.9091"),
        (0.6, {"nonneg": 1, "l1": 10, "l2_W": 0}, "0.5455", "5.455"),
        (0.6, {"nonneg": 1, "l1": 10, "l2_W": 20}, "0.1935", "1.935"),
        (0.025, {"nonneg": 1, "l2": 10}, "0.02273", "0.02273"),
    ],
)
def test_table_printed_decimals(lam, weights, nonneg_printed, norm_printed):
    clean = from_original(lam, weights)
    for actual, printed in ((clean.lambda_nonneg, nonneg_printed), (clean.lambda_norm, norm_printed)):
        half_unit = 0.5 * 10.0 ** -len(printed.split(".")[1])
        assert abs(actual - float(printed)) <= half_unit * (1 + 1e-9), (actual, printed)


def test_mnist_forgetful_is_numerically_zero():
    clean = from_original(2.22e-16, {"nonneg": 1, "l1": 1})
    assert clean.lambda_nonneg == pytest.approx(1.1e-15, rel=0.01)
    assert clean.lambda_norm == pytest.approx(1.1e-15, rel=0.01)


def test_bare_list_means_unit_weights():
    # Fig. 7 MNIST flexible, λ = 0.1, 1 : 1 — written as a bare list.
    clean = from_original(0.1, ["nonneg", "l1"])
    assert _close(clean.lambda_nonneg, 0.5) and _close(clean.lambda_norm, 0.5)
    assert clean.norm_order == 1 and clean.lambda_w == 0.0
    assert from_original(0.1, ["nonneg", "l1"]) == from_original(0.1, {"nonneg": 1.0, "l1": 1.0})


def test_weights_are_normalised():
    # Scaling every ω leaves the result unchanged; adding a term weakens the others.
    a = from_original(0.3, {"nonneg": 1, "l1": 5})
    b = from_original(0.3, {"nonneg": 7, "l1": 35})
    assert _close(a.lambda_nonneg, b.lambda_nonneg) and _close(a.lambda_norm, b.lambda_norm)
    c = from_original(0.3, {"nonneg": 1, "l1": 5, "l2_W": 6})
    assert _close(c.lambda_nonneg, a.lambda_nonneg / 2) and _close(c.lambda_norm, a.lambda_norm / 2)


def _original_regulariser(lam, weights, c, W):
    """λ Σ_k (ω_k/Ω) R_k with the hidden constants of the MODEL §4.3 table, written independently."""
    total = sum(weights.values())
    R = {
        "nonneg": 10 * np.sum(np.maximum(0.0, -c)),
        "l1": 10 * 0.5 * (np.sum(np.abs(c)) - 1) ** 2,
        "l2": 0.5 * (np.sqrt(np.sum(c**2)) - 1) ** 2,
        "l2_W": 0.5 * np.mean(np.linalg.norm(W, axis=1)),  # W: (P, d_out, d_in), norm over rows i
    }
    return lam * sum(weights[name] / total * R[name] for name in weights)


def _clean_regulariser(clean, c, W):
    """The clean form of MODEL §4.2."""
    norm = np.sum(np.abs(c)) if clean.norm_order == 1 else np.sqrt(np.sum(c**2))
    P, _, d_in = W.shape
    return (
        clean.lambda_norm * 0.5 * (norm - 1) ** 2
        + clean.lambda_nonneg * np.sum(np.maximum(0.0, -c))
        + clean.lambda_w / (P * d_in) * np.sum(np.linalg.norm(W, axis=1))
    )


@pytest.mark.parametrize("lam, weights", [row[1:3] for row in TABLE], ids=[row[0] for row in TABLE])
def test_clean_regulariser_equals_original_value(lam, weights):
    # Independent check: both forms give the same regulariser value on random gates and weights.
    rng = np.random.default_rng(0)
    for _ in range(3):
        c = rng.normal(0.3, 0.7, size=5)
        W = rng.normal(size=(3, 4, 6))
        expected = _original_regulariser(lam, weights, c, W)
        actual = _clean_regulariser(from_original(lam, weights), c, W)
        assert actual == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_norm_order_selection():
    assert from_original(0.1, {"nonneg": 1}).norm_order == 1  # neither: default k = 1
    assert from_original(0.1, {"l1": 0, "l2": 3}).norm_order == 2
    assert from_original(0.1, {"l1": 3, "l2": 0}).norm_order == 1
    assert from_original(0.1, {"nonneg": 1, "l2": 0}).norm_order == 2  # only gating term listed is L2


def test_both_gating_manifolds_rejected():
    with pytest.raises(ValueError) as err:
        from_original(0.1, {"nonneg": 1, "l1": 1, "l2": 1})
    assert "l1" in str(err.value) and "l2" in str(err.value)


def test_unknown_term_lists_valid_names():
    with pytest.raises(ValueError) as err:
        from_original(0.1, {"nonneg": 1, "L1": 10})
    message = str(err.value)
    assert "'L1'" in message
    for name in ("nonneg", "l1", "l2", "l2_W"):
        assert f"'{name}'" in message
    with pytest.raises(ValueError):
        from_original(0.1, ["nonneg", "l2_w"])


@pytest.mark.parametrize("bad", [{"nonneg": -1, "l1": 1}, {"nonneg": math.nan}])
def test_invalid_weights_rejected(bad):
    with pytest.raises(ValueError):
        from_original(0.1, bad)


def test_invalid_strength_and_bare_string_rejected():
    with pytest.raises(ValueError):
        from_original(-0.1, ["nonneg", "l1"])
    with pytest.raises(TypeError):
        from_original(0.1, "l1")


def test_all_zero_weights_give_zero_coefficients():
    clean = from_original(0.5, {"nonneg": 0, "l1": 0, "l2_W": 0})
    assert (clean.lambda_nonneg, clean.lambda_norm, clean.lambda_w) == (0.0, 0.0, 0.0)


def test_clean_regulariser_is_frozen_and_validated():
    clean = CleanRegulariser(lambda_nonneg=0.1, lambda_norm=1.0, norm_order=1, lambda_w=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        clean.lambda_norm = 2.0
    with pytest.raises(ValueError):
        CleanRegulariser(lambda_nonneg=0.1, lambda_norm=1.0, norm_order=3, lambda_w=0.0)
    with pytest.raises(ValueError):
        CleanRegulariser(lambda_nonneg=-0.1, lambda_norm=1.0, norm_order=1, lambda_w=0.0)

"""Geometry of task trajectories: linear separability, the F ratio, and a PCA for plotting.

After Turner & Barak, "The simplicity bias in multi-task RNNs: shared attractors, reuse of
dynamics, and geometric representation" (NeurIPS 2023): when tasks share attractors, the hidden
states visited in different tasks overlap; when they use separate attractors, the tasks occupy
separate regions of state space. Two measures on the states h (pooled over trials and time,
labelled by task):

* **linear separability** (:func:`decoding_accuracy`): the k-fold cross-validated accuracy of a
  linear classifier of the task from h: 1 for separated tasks, 1/M for identical distributions.
  Classifiers are objects: :class:`RidgeClassifier` (regularised least squares on one-hot targets,
  closed form) or :class:`LogisticClassifier` (multinomial logistic regression with an L2 penalty,
  trained by optax's Adam). Features are standardised with the training folds' statistics, a
  bias column is appended, and the prediction is the argmax.
* **F ratio** (:func:`trajectory_f_ratio`): the variance of the task means about their average
  over the mean within-task variance,
      F = [(1/M) Σ_m ‖μ_m − μ̄‖²] / [(1/M) Σ_m (1/(n_m − 1)) Σ_{i∈m} ‖h_i − μ_m‖²],
  (ntajax's ``metrics.f_ratio``; a ratio of variances without degrees of freedom, so it does not
  grow with the number of samples). Large F: separate, F → 0: shared.

:class:`PCA` (:func:`fit_pca`) projects fixed points and trajectories onto the top principal
components of the states for plotting.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from ..metrics._representations import f_ratio


def stack_by_task(states_by_task) -> tuple[Float[Array, "n N"], Int[Array, " n"]]:
    """Pool per-task state arrays (each (..., N), e.g. (trials, time, N)) into (states (n, N),
    task labels (n,))."""
    tasks = [jnp.asarray(s) for s in states_by_task]
    if len(tasks) < 2:
        raise ValueError(f"{len(tasks)} task(s) given; the geometry compares at least 2.")
    widths = {s.shape[-1] for s in tasks}
    if len(widths) != 1:
        raise ValueError(f"the tasks' states have different widths {sorted(widths)}; pass one state size N.")
    flat = [s.reshape(-1, s.shape[-1]) for s in tasks]
    labels = jnp.concatenate([jnp.full(f.shape[0], m, jnp.int32) for m, f in enumerate(flat)])
    return jnp.concatenate(flat), labels


# ------------------------------------------------------------------------------------ classifiers
class Classifier(eqx.Module):
    """A linear classifier: ``fit(X, Y, w)`` returns B with class scores X B.

    X is (n, D + 1) standardised features with a bias column, Y (n, C) one-hot targets and w (n,)
    sample weights (0 for held-out samples), so every fold has the same static shapes."""

    def fit(self, X: Array, Y: Array, w: Array) -> Array:
        raise NotImplementedError


class RidgeClassifier(Classifier):
    """Least squares on one-hot targets: B = argmin Σ_i w_i ‖x_i B − y_i‖² + ridge · Σ_i w_i · ‖B‖²."""

    ridge: float | Array = 1e-3

    def fit(self, X, Y, w):
        gram = X.T @ (w[:, None] * X) + self.ridge * jnp.sum(w) * jnp.eye(X.shape[1], dtype=X.dtype)
        return jnp.linalg.solve(gram, X.T @ (w[:, None] * Y))


class LogisticClassifier(Classifier):
    """Multinomial logistic regression, mean weighted cross-entropy + ½ l2 ‖B‖² (bias row not
    penalised), ``steps`` steps of Adam at ``learning_rate`` from B = 0."""

    l2: float | Array = 1e-3
    steps: int = eqx.field(static=True, default=300)
    learning_rate: float = eqx.field(static=True, default=0.1)

    def fit(self, X, Y, w):
        penalised = jnp.ones((X.shape[1], 1), X.dtype).at[-1].set(0.0)

        def loss(B):
            log_p = jax.nn.log_softmax(X @ B, axis=-1)
            return -jnp.sum(w * jnp.sum(Y * log_p, -1)) / jnp.sum(w) + 0.5 * self.l2 * jnp.sum(penalised * B**2)

        optimiser = optax.adam(self.learning_rate)
        B = jnp.zeros((X.shape[1], Y.shape[1]), X.dtype)

        def step(carry, _):
            B, state = carry
            updates, state = optimiser.update(jax.grad(loss)(B), state)
            return (optax.apply_updates(B, updates), state), None

        (B, _), _ = jax.lax.scan(step, (B, optimiser.init(B)), None, length=self.steps)
        return B


def decoding_accuracy(
    states: Float[ArrayLike, "n N"],
    labels: Int[ArrayLike, " n"],
    n_classes: int,
    *,
    key: PRNGKeyArray,
    n_folds: int = 5,
    classifier: Classifier | None = None,
) -> Float[Array, ""]:
    """k-fold cross-validated accuracy of a linear classifier of the task from the state.

    Args:
        states: (n, N) samples (see :func:`stack_by_task`). labels: (n,) in 0 … n_classes − 1.
        n_classes: number of tasks M (static). key: random key of the fold assignment.
        n_folds: folds (≥ 2); every sample is predicted once, by the classifier fit on the others.
        classifier: :class:`RidgeClassifier` (default) or :class:`LogisticClassifier`.

    Returns:
        the fraction of held-out samples classified correctly (1/M at chance).
    """
    z = jnp.asarray(states)
    y = jnp.asarray(labels)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"states {z.shape} and labels {y.shape} must be (n, N) and (n,).")
    if n_folds < 2 or n_folds > z.shape[0]:
        raise ValueError(f"n_folds={n_folds} must lie in 2 … n_samples ({z.shape[0]}).")
    return _cross_validate(z, y, n_classes, key, n_folds, RidgeClassifier() if classifier is None else classifier)


@eqx.filter_jit
def _cross_validate(z, y, n_classes: int, key, n_folds: int, classifier):
    n = z.shape[0]
    fold = jnp.zeros(n, jnp.int32).at[jax.random.permutation(key, n)].set(jnp.arange(n) % n_folds)
    Y = jax.nn.one_hot(y, n_classes, dtype=z.dtype)

    def one(f):
        w = (fold != f).astype(z.dtype)
        mu = jnp.sum(w[:, None] * z, 0) / jnp.sum(w)
        sd = jnp.sqrt(jnp.sum(w[:, None] * (z - mu) ** 2, 0) / jnp.sum(w))
        X = jnp.concatenate([(z - mu) / jnp.where(sd > 0, sd, 1.0), jnp.ones((n, 1), z.dtype)], axis=1)
        correct = jnp.argmax(X @ classifier.fit(X, Y, w), -1) == y
        return jnp.sum(jnp.where(fold == f, correct, False))

    return jnp.sum(jax.vmap(one)(jnp.arange(n_folds))) / n


def trajectory_f_ratio(states_by_task) -> Float[Array, ""]:
    """F = between-task variance of the task means / mean within-task variance (module docstring)
    of per-task state arrays (each (..., N)); at least two samples per task."""
    z, labels = stack_by_task(states_by_task)
    return f_ratio(z, labels, int(labels[-1]) + 1)


# -------------------------------------------------------------------------------------------- PCA
class PCA(eqx.Module):
    """Principal components of a set of states (:func:`fit_pca`).

    Attributes:
        mean: (N,) the states' mean.
        components: (k, N) orthonormal principal axes, decreasing variance; each axis's entry of
            largest magnitude is positive (a deterministic sign).
        variance: (k,) variance along each axis (ddof 0).
        explained: (k,) fraction of the total variance along each axis.
    """

    mean: Float[Array, " N"]
    components: Float[Array, "k N"]
    variance: Float[Array, " k"]
    explained: Float[Array, " k"]

    def project(self, x: Float[ArrayLike, "... N"]) -> Float[Array, "... k"]:
        """Coordinates of ``x`` (any leading shape) on the principal axes."""
        return (jnp.asarray(x) - self.mean) @ self.components.T


def fit_pca(states: Float[ArrayLike, "... N"], n_components: int = 3) -> PCA:
    """The top ``n_components`` principal components of ``states`` (leading axes pooled), from
    the eigendecomposition of the N × N covariance (cheap for many samples of a small network)."""
    x = jnp.asarray(states)
    x = x.reshape(-1, x.shape[-1])
    if not 1 <= n_components <= x.shape[1]:
        raise ValueError(f"n_components={n_components} must lie in 1 … N ({x.shape[1]}).")
    return _fit_pca(x, n_components)


@eqx.filter_jit
def _fit_pca(x, n_components: int) -> PCA:
    mean = jnp.mean(x, 0)
    centred = x - mean
    covariance = centred.T @ centred / x.shape[0]
    values, vectors = jnp.linalg.eigh(covariance)
    order = jnp.argsort(-values)[:n_components]
    components = vectors[:, order].T
    signs = jnp.sign(components[jnp.arange(n_components), jnp.argmax(jnp.abs(components), axis=1)])
    total = jnp.trace(covariance)
    variance = jnp.maximum(values[order], 0.0)
    return PCA(mean, components * signs[:, None], variance, variance / jnp.where(total > 0, total, 1.0))

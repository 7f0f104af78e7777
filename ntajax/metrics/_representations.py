"""Task-representation measures: task variance, FTV, unit clustering, shared vs separate geometry.

**Task variance** (Yang et al. 2019, "Task representations in neural networks trained to perform
many cognitive tasks"). A unit u with activity r_u(x) = a_u·x in task m (the network as it is
while it performs task m) has, for x ~ N(0, I), the task variance TV_m(u) = Var_x r_u = ‖a_u‖²
(exact; :func:`sampled_task_variance` is the sample version). Units here:

* gated rows (§2.1, §2.2 and the multi-head hidden layer): a_{(p,i)} = c_{p,i} (W_p)_{i,:}, the
  row's activity after its gate (:func:`gated_row_maps`);
* hidden units of the two-layer network (§2.3): the gate role is played by W2, so the unit's
  activity as the output sees it is a_k = ‖W2[:, k]‖ W1[k, :] (:func:`readout_weighted_maps`);
  the raw activity W1[k, :]·x does not depend on the task when W1 is shared.

**Fractional task variance** FTV_u(A, B) = (TV_A − TV_B)/(TV_A + TV_B) ∈ [−1, 1]: ±1 for a unit
active in one task only, 0 for equal variance. Units with TV_A + TV_B below ``min_fraction`` of
the largest such sum are left out of the pair (undefined, NaN).

**Clustering** of units by their normalised task-variance profiles TV_m(u)/max_m TV_m(u) with
k-means (k-means++ starts, several restarts, explicit key). ntajax's stated criterion for the
number of clusters: among k = 2 … k_max, a k is admissible if its mean silhouette is at least
``min_silhouette`` (default 0.5, "reasonable structure" on Kaufman & Rousseeuw's scale) and its
closest two centres are at least ``min_separation`` apart (default 0.25 in profile units, i.e.
a 25 % difference in a normalised task variance: the silhouette is scale-free and would split a
tight single blob); the chosen k is the admissible one with the largest silhouette, else 1.

**Shared vs separate representations** (after Turner & Barak 2023). Hidden states of a linear
network under centred Gaussian inputs are centred in every task (h(−x) = −h(x)), so a linear
classifier on h and a between/within ratio of means cannot tell tasks apart by construction: task
identity lives in the covariance Σ_m = A_m A_mᵀ. The measures therefore act on the second-order
features z = vec(h hᵀ) (upper triangle, off-diagonal entries × √2 so that ‖z‖ = ‖hhᵀ‖_F):

* linear separability: held-out accuracy of a ridge least-squares linear classifier on z (a
  quadratic classifier on h); 0.5 for identical task distributions, → 1 for separate subspaces;
* F-ratio: between-task variance of the task means of z over the mean within-task variance,
  F = [(1/M) Σ_m ‖μ_m − μ̄‖²] / [(1/M) Σ_m tr Cov(z | m)] (a variance ratio without degrees of
  freedom, so it does not grow with the sample size). For Gaussian h it is exactly
  F = [(1/M) Σ_m ‖Σ_m − Σ̄‖²_F] / [(1/M) Σ_m ((tr Σ_m)² + ‖Σ_m‖²_F)] (:func:`covariance_f_ratio`);
* covariance overlap ⟨Σ_A, Σ_B⟩_F/(‖Σ_A‖_F ‖Σ_B‖_F) ∈ [0, 1]: 1 shared, 0 orthogonal subspaces.

Everything is ``jax.numpy`` on one seed (``jax.vmap`` for seeds); sizes are static.
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray


# ------------------------------------------------------------------------------------ task variance
@eqx.filter_jit
def gated_row_maps(paths: Float[ArrayLike, "paths rows d_in"], gates: Float[ArrayLike, "paths ..."]) -> Float[Array, "units d_in"]:
    """Activity maps of gated rows, a_{(p,i)} = c_{p,i} (W_p)_{i,:}, shape (P·R, d_in).

    Args:
        paths: W, shape (P, R, d_in).
        gates: one gate per path (P,) or per path and row (P, R).
    """
    W = jnp.asarray(paths)
    c = jnp.asarray(gates)
    c = c[:, None] if c.ndim == 1 else c
    return (c[:, :, None] * W).reshape(-1, W.shape[-1])


@eqx.filter_jit
def readout_weighted_maps(first_layer: Float[ArrayLike, "K d_in"], second_layer: Float[ArrayLike, "d_out K"]) -> Float[Array, "K d_in"]:
    """Two-layer hidden units as the output sees them: a_k = ‖W2[:, k]‖ W1[k, :], shape (K, d_in)."""
    W1 = jnp.asarray(first_layer)
    W2 = jnp.asarray(second_layer)
    return jnp.sqrt(jnp.sum(W2**2, axis=0))[:, None] * W1


@eqx.filter_jit
def task_variance(maps: Float[ArrayLike, "units d_in"]) -> Float[Array, " units"]:
    """TV(u) = Var_x (a_u·x) = ‖a_u‖² for x ~ N(0, I)."""
    return jnp.sum(jnp.asarray(maps) ** 2, axis=-1)


@eqx.filter_jit
def sampled_task_variance(maps: Float[ArrayLike, "units d_in"], inputs: Float[ArrayLike, "n d_in"]) -> Float[Array, " units"]:
    """The sample variance (ddof 1) of every unit's activity over the given inputs."""
    activity = jnp.asarray(inputs) @ jnp.asarray(maps).T
    return jnp.var(activity, axis=0, ddof=1)


@eqx.filter_jit
def fractional_task_variance(
    tv_a: Float[ArrayLike, " units"], tv_b: Float[ArrayLike, " units"], min_fraction: float = 0.01
) -> Float[Array, " units"]:
    """FTV(A, B) = (TV_A − TV_B)/(TV_A + TV_B); NaN for units whose TV_A + TV_B is below
    ``min_fraction`` of the largest such sum (inactive in both tasks)."""
    a = jnp.asarray(tv_a)
    b = jnp.asarray(tv_b)
    total = a + b
    active = total > min_fraction * jnp.max(total)
    return jnp.where(active, (a - b) / jnp.where(active, total, 1.0), jnp.nan)


def task_pairs(n_tasks: int) -> list[tuple[int, int]]:
    """The task pairs (A, B) with A < B, in lexicographic order."""
    return list(itertools.combinations(range(n_tasks), 2))


@eqx.filter_jit
def ftv_by_pair(task_variances: Float[ArrayLike, "M units"], min_fraction: float = 0.01) -> Float[Array, "pairs units"]:
    """FTV of every unit for every task pair of :func:`task_pairs` (NaN where undefined)."""
    tv = jnp.asarray(task_variances)
    pairs = task_pairs(tv.shape[0])
    return jnp.stack([fractional_task_variance(tv[a], tv[b], min_fraction) for a, b in pairs])


@eqx.filter_jit
def ftv_histogram(ftv: Float[ArrayLike, "... units"], bins: Float[ArrayLike, " edges"]) -> Int[Array, "... n_bins"]:
    """Counts of the finite FTV values in ``bins`` (edges over [−1, 1]; the last bin includes +1)."""
    ftv = jnp.asarray(ftv)
    edges = jnp.asarray(bins)
    n_bins = edges.shape[0] - 1
    index = jnp.clip(jnp.searchsorted(edges, ftv, side="right") - 1, 0, n_bins - 1)
    one_hot = jax.nn.one_hot(index, n_bins, dtype=jnp.int32) * jnp.isfinite(ftv)[..., None]
    return jnp.sum(one_hot, axis=-2)


# --------------------------------------------------------------------------------------- clustering
@eqx.filter_jit
def normalised_profiles(
    task_variances: Float[ArrayLike, "M units"], min_fraction: float = 0.01
) -> tuple[Float[Array, "units M"], Array]:
    """(TV_m(u)/max_m TV_m(u) per unit, shape (units, M); mask of units whose total variance is at
    least ``min_fraction`` of the largest unit's, the ones that are clustered)."""
    tv = jnp.asarray(task_variances).T
    top = jnp.max(tv, axis=1, keepdims=True)
    total = jnp.sum(tv, axis=1)
    active = total >= min_fraction * jnp.max(total)
    return tv / jnp.where(top > 0, top, 1.0), active


@jax.jit
def _closest_centres(centres, k):
    """Smallest distance between two of the first ``k`` rows of ``centres`` (k_max, D); ``k`` is
    traced, so one program serves every k."""
    used = jnp.arange(centres.shape[0]) < k
    pairs = used[:, None] & used[None, :] & ~jnp.eye(centres.shape[0], dtype=bool)
    return jnp.min(jnp.where(pairs, _pairwise_distances(centres), jnp.inf))


def _pairwise_distances(x):
    # differences, not the Gram identity ‖a‖² + ‖b‖² − 2a·b, which loses digits in float32
    return jnp.sqrt(jnp.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))


def kmeans(
    points: Float[ArrayLike, "n D"], k, key: PRNGKeyArray, weights: Float[ArrayLike, " n"] | None = None,
    n_iter: int = 50, n_init: int = 8, k_max: int | None = None,
) -> tuple[Int[Array, " n"], Float[Array, "k_max D"]]:
    """k-means (Lloyd) with k-means++ starts; the best of ``n_init`` restarts by inertia.

    Args:
        points: (n, D). weights: optional 0/1 (or non-negative) weight per point; weight-0 points
            are assigned but do not move the centres.
        k: number of clusters (may be traced when ``k_max`` is given). key: random key of the starts.
        k_max: static upper bound on k (default k): centres k … k_max − 1 are unused (+inf away),
            so one compiled program serves every k ≤ k_max.

    Returns:
        (labels (n,), centres (k_max, D); rows ≥ k are unused).
    """
    if k_max is None:
        k_max = int(k)
    return _kmeans(jnp.asarray(points), jnp.asarray(k, jnp.int32), key,
                   None if weights is None else jnp.asarray(weights), n_iter, n_init, k_max)


@eqx.filter_jit
def _kmeans(x, k, key, weights, n_iter: int, n_init: int, k_max: int):
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else weights.astype(x.dtype)
    used = jnp.arange(k_max) < k

    def distances(centres):
        d2 = jnp.sum((x[:, None] - centres[None]) ** 2, -1)
        return jnp.where(used[None], d2, jnp.inf)

    def plus_plus(key):
        keys = jax.random.split(key, k_max)
        first = jax.random.choice(keys[0], x.shape[0], p=w / jnp.sum(w))
        centres = jnp.zeros((k_max, x.shape[1]), x.dtype).at[0].set(x[first])

        def add(j, centres):
            d2 = jnp.min(jnp.sum((x[:, None] - centres[None]) ** 2, -1) + jnp.where(jnp.arange(k_max) < j, 0.0, jnp.inf), -1)
            p = w * d2
            p = jnp.where(jnp.sum(p) > 0, p / jnp.sum(p), w / jnp.sum(w))
            return centres.at[j].set(x[jax.random.choice(keys[j], x.shape[0], p=p)])

        return jax.lax.fori_loop(1, k, add, centres)

    def lloyd(centres):
        def step(centres, _):
            labels = jnp.argmin(distances(centres), -1)
            member = jax.nn.one_hot(labels, k_max, dtype=x.dtype) * w[:, None]
            counts = jnp.sum(member, 0)
            moved = (member.T @ x) / jnp.where(counts > 0, counts, 1.0)[:, None]
            return jnp.where(counts[:, None] > 0, moved, centres), None

        centres, _ = jax.lax.scan(step, centres, None, length=n_iter)
        labels = jnp.argmin(distances(centres), -1)
        inertia = jnp.sum(w * jnp.sum((x - centres[labels]) ** 2, -1))
        return labels, centres, inertia

    labels, centres, inertia = jax.vmap(lambda kk: lloyd(plus_plus(kk)))(jax.random.split(key, n_init))
    best = jnp.argmin(inertia)
    return labels[best], centres[best]


@eqx.filter_jit
def silhouette_score(points: Float[ArrayLike, "n D"], labels: Int[ArrayLike, " n"], k: int,
                     weights: Float[ArrayLike, " n"] | None = None) -> Float[Array, ""]:
    """Mean silhouette s(i) = (b_i − a_i)/max(a_i, b_i) over the (weight-1) points; points alone in
    their cluster score 0 (Rousseeuw 1987).

    Args:
        points: (n, D). labels: (n,) cluster of every point, in 0 … k − 1.
        k: number of label values (static); empty clusters are ignored.
        weights: optional 0/1 mask of the points that count.
    """
    x = jnp.asarray(points)
    labels = jnp.asarray(labels)
    w = jnp.ones(x.shape[0]) if weights is None else jnp.asarray(weights, x.dtype)
    d = _pairwise_distances(x)
    member = jax.nn.one_hot(labels, k, dtype=x.dtype) * w[:, None]  # (n, k)
    sums = d @ member  # Σ_j∈C d(i, j)
    counts = jnp.sum(member, 0)
    own = member[jnp.arange(x.shape[0]), labels] > 0
    own_count = counts[labels] - own
    a = jnp.where(own_count > 0, sums[jnp.arange(x.shape[0]), labels] / jnp.where(own_count > 0, own_count, 1), 0.0)
    others = jnp.where((jnp.arange(k)[None] != labels[:, None]) & (counts[None] > 0), sums / jnp.where(counts > 0, counts, 1), jnp.inf)
    b = jnp.min(others, axis=1)
    s = jnp.where((own_count > 0) & jnp.isfinite(b), (b - a) / jnp.maximum(jnp.maximum(a, b), 1e-12), 0.0)
    return jnp.sum(w * s) / jnp.sum(w)


def choose_clusters(
    points: Float[ArrayLike, "n D"], key: PRNGKeyArray, *, weights=None, k_max: int = 6, min_silhouette: float = 0.5,
    min_separation: float = 0.25,
) -> dict:
    """Cluster with k = 2 … k_max and pick k by the stated criterion (module docstring).

    Args:
        points: (n, D) normalised profiles. weights: optional 0/1 mask of the points to cluster.
        key: random key of the k-means starts (k uses ``fold_in(key, k)``).
        k_max, min_silhouette, min_separation: the criterion's parameters.

    Returns:
        ``{"k": chosen k, "labels": (n,) labels of the chosen k (all 0 for k = 1),
        "silhouette": (k_max − 1,) mean silhouette for k = 2 … k_max (NaN where k ≥ points),
        "separation": (k_max − 1,) smallest distance between two centres}``.
    """
    x = jnp.asarray(points)
    n_active = int(x.shape[0] if weights is None else jnp.sum(jnp.asarray(weights) > 0))
    scores, gaps, all_labels = [], [], []
    for k in range(2, k_max + 1):
        if k >= n_active:
            scores.append(jnp.nan)
            gaps.append(jnp.nan)
            all_labels.append(jnp.zeros(x.shape[0], jnp.int32))
            continue
        labels, centres = kmeans(x, k, jax.random.fold_in(key, k), weights, k_max=k_max)
        scores.append(silhouette_score(x, labels, k_max, weights))
        gaps.append(_closest_centres(centres, jnp.int32(k)))
        all_labels.append(labels)
    scores, gaps = jnp.asarray(scores), jnp.asarray(gaps)
    admissible = jnp.isfinite(scores) & (scores >= min_silhouette) & (gaps >= min_separation)
    out = {"k": 1, "labels": jnp.zeros(x.shape[0], jnp.int32), "silhouette": scores, "separation": gaps}
    if bool(jnp.any(admissible)):
        best = int(jnp.argmax(jnp.where(admissible, scores, -jnp.inf)))
        out.update(k=best + 2, labels=all_labels[best])
    return out


# --------------------------------------------------------------------------- shared vs separate geometry
@eqx.filter_jit
def second_order_features(hidden: Float[ArrayLike, "n U"]) -> Float[Array, "n F"]:
    """z = upper triangle of h hᵀ per sample (diagonal, then off-diagonal × √2), F = U(U+1)/2."""
    h = jnp.asarray(hidden)
    rows, cols = jnp.triu_indices(h.shape[-1])
    scale = jnp.where(rows == cols, 1.0, jnp.sqrt(2.0)).astype(h.dtype)
    return h[:, rows] * h[:, cols] * scale


@eqx.filter_jit
def f_ratio(features: Float[ArrayLike, "n F"], labels: Int[ArrayLike, " n"], n_classes: int) -> Float[Array, ""]:
    """Between-task variance of the class means over the mean within-task variance (module docstring)."""
    z = jnp.asarray(features)
    member = jax.nn.one_hot(jnp.asarray(labels), n_classes, dtype=z.dtype)  # (n, M)
    counts = jnp.sum(member, 0)
    means = (member.T @ z) / counts[:, None]
    grand = jnp.mean(means, 0)
    between = jnp.mean(jnp.sum((means - grand) ** 2, -1))
    within = jnp.sum(member * jnp.sum((z[:, None, :] - means[None]) ** 2, -1), 0) / (counts - 1)
    return between / jnp.mean(within)


@eqx.filter_jit
def covariance_f_ratio(covariances: Float[ArrayLike, "M U U"]) -> Float[Array, ""]:
    """The exact F-ratio of the second-order features of h ~ N(0, Σ_m) (module docstring)."""
    S = jnp.asarray(covariances)
    mean = jnp.mean(S, 0)
    between = jnp.mean(jnp.sum((S - mean) ** 2, axis=(1, 2)))
    within = jnp.mean(jnp.trace(S, axis1=1, axis2=2) ** 2 + jnp.sum(S**2, axis=(1, 2)))
    return between / within


@eqx.filter_jit
def covariance_overlap(a: Float[ArrayLike, "U U"], b: Float[ArrayLike, "U U"]) -> Float[Array, ""]:
    """⟨Σ_A, Σ_B⟩_F/(‖Σ_A‖_F ‖Σ_B‖_F): 1 shared, 0 orthogonal subspaces (PSD matrices)."""
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    return jnp.sum(a * b) / (jnp.sqrt(jnp.sum(a**2) * jnp.sum(b**2)) + 1e-30)


@eqx.filter_jit
def linear_separability(
    features: Float[ArrayLike, "n F"], labels: Int[ArrayLike, " n"], n_classes: int, key: PRNGKeyArray,
    train_fraction: float = 0.5, ridge: float = 1e-3,
) -> Float[Array, ""]:
    """Held-out accuracy of a ridge least-squares linear classifier (one-vs-rest, bias included).

    The samples are split at random (``key``) into a training part (``train_fraction``) and a test
    part; features are standardised with the training statistics; the classifier minimises
    ‖X B − Y‖² + ridge·n_train·‖B‖² with one-hot targets Y and predicts the argmax.
    """
    z = jnp.asarray(features)
    y = jnp.asarray(labels)
    n = z.shape[0]
    order = jax.random.permutation(key, n)
    n_train = int(round(train_fraction * n))
    train, test = order[:n_train], order[n_train:]
    mu = jnp.mean(z[train], 0)
    sd = jnp.std(z[train], 0)
    sd = jnp.where(sd > 0, sd, 1.0)

    def design(idx):
        return jnp.concatenate([(z[idx] - mu) / sd, jnp.ones((idx.shape[0], 1), z.dtype)], axis=1)

    X = design(train)
    Y = jax.nn.one_hot(y[train], n_classes, dtype=z.dtype)
    gram = X.T @ X + ridge * n_train * jnp.eye(X.shape[1], dtype=z.dtype)
    B = jnp.linalg.solve(gram, X.T @ Y)
    predicted = jnp.argmax(design(test) @ B, -1)
    return jnp.mean(predicted == y[test])

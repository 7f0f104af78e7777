"""Task variance, fractional task variance and unit clusters of recurrent units (Yang et al. 2019).

Yang, Joglekar, Song, Newsome & Wang, "Task representations in neural networks trained to perform
many cognitive tasks" (Nat. Neurosci. 2019): the **task variance** of unit i in task A is the
variance of its response across the trials (stimulus conditions) of A, averaged over time,

    TV_i(A) = (1/T) Σ_t Var_trials r_i(t)        (ddof 0; over the time steps in ``mask``),

its **normalised task variance** is TV_i(A)/max_B TV_i(B), units whose summed variance is a small
fraction of the largest unit's are left out (inactive), and the **fractional task variance** of a
task pair is FTV_i(A, B) = (TV_i(A) − TV_i(B))/(TV_i(A) + TV_i(B)) ∈ [−1, 1]: +1 (−1) for a unit
that varies only in A (B), 0 for equal variance. Units are clustered by their normalised profiles.

This module computes TV from recorded responses (arrays of trials × time × units, one per task);
the FTV, histograms and clustering are the measures of :mod:`ntajax.metrics._representations`
(the same functions the feed-forward analyses use): ``fractional_task_variance``, ``ftv_by_pair``,
``ftv_histogram``, ``normalised_profiles`` and ``choose_clusters`` (k-means with k-means++ starts;
k chosen by the largest mean silhouette among k with silhouette ≥ 0.5 and centres ≥ 0.25 apart,
else 1).
"""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ..metrics._representations import choose_clusters, ftv_by_pair, ftv_histogram, normalised_profiles, task_pairs


def response_task_variance(
    responses: Float[ArrayLike, "trials time units"], mask: Bool[ArrayLike, " time"] | None = None
) -> Float[Array, " units"]:
    """TV_i = mean over time of the across-trial variance of unit i's response (Yang et al. 2019).

    Args:
        responses: (trials, time, units) the activity of every unit in the trials of one task.
        mask: optional (time,) boolean selecting the time steps averaged over (e.g. the response
            epoch); at least one must be True.

    Returns:
        (units,) task variances.
    """
    r = jnp.asarray(responses)
    if r.ndim != 3:
        raise ValueError(f"responses has shape {r.shape}; pass (trials, time, units).")
    if r.shape[0] < 2:
        raise ValueError(f"responses has {r.shape[0]} trial(s); the across-trial variance needs at least 2.")
    variance = jnp.var(r, axis=0)  # (time, units)
    if mask is None:
        return jnp.mean(variance, axis=0)
    m = jnp.asarray(mask, variance.dtype)
    if m.shape != (r.shape[1],):
        raise ValueError(f"mask has shape {m.shape}; pass one boolean per time step, shape ({r.shape[1]},).")
    return jnp.sum(m[:, None] * variance, axis=0) / jnp.sum(m)


def task_variance_matrix(
    responses_by_task: Float[ArrayLike, "M trials time units"] | list, masks: list | None = None
) -> Float[Array, "M units"]:
    """TV_i(m) of every unit in every task: a stacked (M, trials, time, units) array, or a list of
    per-task (trials, time, units) arrays (tasks may differ in trials and duration), with optional
    per-task time masks."""
    tasks = list(responses_by_task)
    if masks is not None and len(masks) != len(tasks):
        raise ValueError(f"{len(masks)} masks for {len(tasks)} tasks; pass one mask (or None) per task.")
    return jnp.stack([response_task_variance(r, None if masks is None else masks[m]) for m, r in enumerate(tasks)])


def unit_representation(
    task_variances: Float[ArrayLike, "M units"],
    *,
    key: PRNGKeyArray,
    bins: Float[ArrayLike, " edges"] | None = None,
    min_fraction: float = 0.01,
    k_max: int = 6,
    min_silhouette: float = 0.5,
    min_separation: float = 0.25,
) -> dict:
    """FTV per task pair, its histograms, normalised profiles and unit clusters from TV_i(m).

    Args:
        task_variances: (M, units) from :func:`task_variance_matrix`.
        key: random key of the k-means starts.
        bins: FTV histogram edges over [−1, 1] (default 20 equal bins).
        min_fraction: units with TV_A + TV_B (for FTV) or Σ_m TV_m (for clustering) below this
            fraction of the largest unit's are inactive (NaN FTV, not clustered).
        k_max, min_silhouette, min_separation: the clustering criterion (module docstring).

    Returns:
        ``{"pairs": [(A, B), ...], "ftv": (pairs, units) with NaN where undefined,
        "histogram": (pairs, bins) counts, "bins": edges, "profiles": (units, M) normalised TV,
        "active": (units,) clustered units, "k": chosen number of clusters, "labels": (units,),
        "silhouette": (k_max − 1,) for k = 2 … k_max}`` (host arrays).
    """
    tv = jnp.asarray(task_variances)
    if tv.ndim != 2 or tv.shape[0] < 2:
        raise ValueError(f"task_variances has shape {tv.shape}; pass (M ≥ 2 tasks, units).")
    edges = jnp.linspace(-1.0, 1.0, 21) if bins is None else jnp.asarray(bins)
    ftv = ftv_by_pair(tv, min_fraction)
    profiles, active = normalised_profiles(tv, min_fraction)
    clusters = choose_clusters(profiles, key, weights=active.astype(profiles.dtype), k_max=k_max,
                               min_silhouette=min_silhouette, min_separation=min_separation)
    return {
        "pairs": task_pairs(tv.shape[0]), "ftv": np.asarray(ftv), "histogram": np.asarray(ftv_histogram(ftv, edges)),
        "bins": np.asarray(edges), "profiles": np.asarray(profiles), "active": np.asarray(active),
        "k": int(clusters["k"]), "labels": np.asarray(clusters["labels"]), "silhouette": np.asarray(clusters["silhouette"]),
    }


def cluster_task_profile(profiles: Float[ArrayLike, "units M"], labels, active=None) -> np.ndarray:
    """(k, M) mean normalised task-variance profile of every cluster (rows in label order), the
    'which tasks does this cluster serve' summary of Yang et al.'s Fig. 2."""
    p = np.asarray(profiles)
    labels = np.asarray(labels)
    use = np.ones(len(labels), bool) if active is None else np.asarray(active, bool)
    k = int(labels[use].max()) + 1 if use.any() else 0
    return np.stack([p[use & (labels == c)].mean(0) if np.any(use & (labels == c)) else np.full(p.shape[1], np.nan)
                     for c in range(k)]) if k else np.zeros((0, p.shape[1]))


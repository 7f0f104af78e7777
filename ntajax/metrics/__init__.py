"""Metrics of MODEL.md §7 as pure functions on the arrays of one seed (use ``jax.vmap`` for seeds).

Time is the first axis wherever there is one. Apart from ``row_matching`` (host, SciPy), every
function is written in ``jax.numpy`` without Python control flow on values, so it jits and vmaps.
Those functions are wrapped in ``equinox.filter_jit`` so that eager calls on saved results run
compiled; Python ints and floats passed to them are static (a new value recompiles), arrays are
traced.
"""

from ._adaptation import adaptation_speed, adaptation_times, post_switch_losses
from ._alignment import context_alignment, matched_mismatched, specialisation, total_alignment
from ._assignment import assign_paths, path_order, row_matching, same_output_fraction, unassigned_paths
from ._cosine import column_cosine, frobenius_cosine, row_cosine, similarity_matrix
from ._continual import any_total_alignment, best_gate_loss, best_readout_loss, best_row_gate_loss, previous_task_loss
from ._seeds import SeedStatistics, format_statistic, seed_statistics
from ._regime import DIVERGED, FLEXIBLE, FORGETFUL, UNDEFINED, classify_regime, gate_separation
from ._representations import (
    choose_clusters,
    covariance_f_ratio,
    covariance_overlap,
    f_ratio,
    fractional_task_variance,
    ftv_by_pair,
    ftv_histogram,
    gated_row_maps,
    kmeans,
    linear_separability,
    normalised_profiles,
    readout_weighted_maps,
    sampled_task_variance,
    second_order_features,
    silhouette_score,
    task_pairs,
    task_variance,
)
from ._rows import (
    matched_gates,
    matched_row_alignment,
    per_neuron_rows,
    row_cosines,
    second_layer_block_means,
    sorted_rows,
    sorted_second_layer,
    sorted_similarity,
)
from ._speeds import (
    central_difference,
    gate_speed,
    layer_row_speed,
    normalised_weight_speed,
    path_norms,
    peak_gate_speed_per_block,
    running_max,
    stack_norm,
)
from ._svd import singular_value_magnitudes, svd_projections, svd_similarity
from ._toy import (
    analytic_wbar,
    cycle_convergence,
    limit_cycle_coordinates,
    ntk_split,
    order_parameters,
)

__all__ = [
    "adaptation_speed",
    "adaptation_times",
    "analytic_wbar",
    "any_total_alignment",
    "assign_paths",
    "best_gate_loss",
    "best_readout_loss",
    "best_row_gate_loss",
    "central_difference",
    "choose_clusters",
    "classify_regime",
    "UNDEFINED",
    "DIVERGED",
    "SeedStatistics",
    "format_statistic",
    "seed_statistics",
    "column_cosine",
    "context_alignment",
    "covariance_f_ratio",
    "covariance_overlap",
    "cycle_convergence",
    "f_ratio",
    "FLEXIBLE",
    "FORGETFUL",
    "fractional_task_variance",
    "frobenius_cosine",
    "ftv_by_pair",
    "ftv_histogram",
    "gate_separation",
    "gate_speed",
    "gated_row_maps",
    "kmeans",
    "layer_row_speed",
    "limit_cycle_coordinates",
    "linear_separability",
    "matched_gates",
    "matched_mismatched",
    "matched_row_alignment",
    "normalised_profiles",
    "normalised_weight_speed",
    "ntk_split",
    "order_parameters",
    "path_norms",
    "path_order",
    "peak_gate_speed_per_block",
    "per_neuron_rows",
    "post_switch_losses",
    "previous_task_loss",
    "readout_weighted_maps",
    "row_cosine",
    "row_cosines",
    "row_matching",
    "running_max",
    "same_output_fraction",
    "sampled_task_variance",
    "second_layer_block_means",
    "second_order_features",
    "silhouette_score",
    "similarity_matrix",
    "singular_value_magnitudes",
    "sorted_rows",
    "sorted_second_layer",
    "sorted_similarity",
    "specialisation",
    "stack_norm",
    "svd_projections",
    "svd_similarity",
    "task_pairs",
    "task_variance",
    "total_alignment",
    "unassigned_paths",
]

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
from ._regime import FLEXIBLE, FORGETFUL, classify_regime, gate_separation
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
    "sorted_similarity",
    "sorted_second_layer",
    "sorted_rows",
    "second_layer_block_means",
    "row_cosines",
    "per_neuron_rows",
    "matched_row_alignment",
    "matched_gates",
    "FLEXIBLE",
    "FORGETFUL",
    "adaptation_speed",
    "adaptation_times",
    "analytic_wbar",
    "assign_paths",
    "central_difference",
    "classify_regime",
    "column_cosine",
    "context_alignment",
    "cycle_convergence",
    "frobenius_cosine",
    "gate_separation",
    "gate_speed",
    "layer_row_speed",
    "limit_cycle_coordinates",
    "matched_mismatched",
    "normalised_weight_speed",
    "ntk_split",
    "order_parameters",
    "path_norms",
    "path_order",
    "peak_gate_speed_per_block",
    "post_switch_losses",
    "row_cosine",
    "row_matching",
    "running_max",
    "same_output_fraction",
    "similarity_matrix",
    "singular_value_magnitudes",
    "specialisation",
    "stack_norm",
    "svd_projections",
    "svd_similarity",
    "total_alignment",
    "unassigned_paths",
]

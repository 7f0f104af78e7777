"""ntajax: a JAX simulation engine for the Neural Task Abstraction model."""

from ._curricula.clock import block_bounds, block_starts, count_blocks, original_block_steps, original_switch_block
from ._curricula.curriculum import SCHEDULE_NAMES, Blocked, Curriculum, Interleaved, Smooth, schedule
from ._curricula.curriculum import LossTriggered, TriggerState
from ._gradient import NoisyBatch
from ._dynamics import ode_vector_field, velocity
from ._engines.base import Engine
from ._engines.euler import EulerScan, SubspaceScan
from ._engines.minibatch import MinibatchScan
from ._gradient import ExpectedGradient, GradientMode, SampledGradient
from ._losses import Regulariser, column_norm_penalty, gate_regulariser, task_loss, total_loss
from ._recording import Recording
from ._simulation import Simulation
from ._time_grid import TimeGrid
from ._warnings import NtajaxWarning
from ._run import make_teachers, run, seed_keys, simulate
from ._parameters import traced
from ._students.base import LinearStudent, Student, StudentModel
from ._students.linear import Gated, GatedStudent, PerNeuron, PerNeuronStudent, TwoLayer, TwoLayerStudent
from ._students.nonlinear import GatedTanh, GatedTanhStudent
from ._teachers.sets import CorrelatedTeachers, ExplicitTeachers, IIDTeachers, OrthogonalTeachers, SVDTeachers, TeacherSet
from ._trajectory import Status, Trajectory
from ._summary import Summary, summarise, summarise_one
from ._presets.runs import PRESETS, Variant
from ._sweep.reducers import Reducer, Summaries, Variable
from ._sweep.sweep import Axis, BlockOverTauW, FieldAxis, OriginalLambda, StaticAxis, Sweep, TauRatio, make_axis
from ._students.fisher import analytic_fisher
from ._engines.continual import ContinualScan, FrozenGates, GatePolicy, L2Pull, LearnedGates, OnlineEWC, OracleGates, Penalty
from ._students.multi_head import MultiHead, MultiHeadStudent
from ._engines.multi_head import GatedOutputs, MultiHeadScan, OrthogonalOutputs, OutputMode, ParallelOutputs
from ._analysis.representations import hidden_geometry, hidden_map, last_block_ends, task_variances, unit_maps
from ._run import run_stacked
from ._compile_cache import enable_compilation_cache
from ._gradients.outcomes import CrossingTime, FinalAlignment, FinalLoss, MeanAlignment, MeanLoss, Outcome
from ._gradients.gradient import outcome_gradient
from ._gradients.schedule import PiecewiseLinear, ScheduledScan
from ._gradients.protocol import (AssignedAlignment, ConstantSweep, ProtocolResult, ScheduleCost, constant_sweep,
                                  optimise_protocol, schedule_gradient)
from ._gradients.boundary import (
    AssignedFinalAlignment,
    GradientBoundary,
    SeedSlopes,
    bootstrap_interval,
    gradient_boundary,
    locate_boundary,
)
from . import metrics
from ._rnn.student import Activation, GatedRNN, GatedRNNState, Identity, ReLU, Tanh
from ._rnn.tasks import ContextDecision, DelayedGo, DelayedMemory, FlipFlop, Go, SineWave, Task, Trial, YangTask
from ._rnn.readouts import GatedReadout, OrthogonalReadout, ParallelReadout, Readout, SharedReadout
from ._rnn.curricula import BlockedTasks, InterleavedTasks, TaskCurriculum
from ._rnn.training import RNNExperiment, RNNResponses, RNNRun, rnn_responses, train_rnn
from ._rnn.sweep import rnn_grid, rnn_sweep
from ._rnn.metrics import gate_separation
from ._rnn.representation import cluster_task_profile, response_task_variance, task_variance_matrix, unit_representation
from ._rnn.geometry import PCA, Classifier, LogisticClassifier, RidgeClassifier, decoding_accuracy, fit_pca, stack_by_task, trajectory_f_ratio

from ._provenance import VERSION as __version__

# Imported on first use: diffrax (the ODE engine) and xarray/zarr (sweep stores) are heavy.
_LAZY = {
    "Diffrax": "._engines.ode",
    "run_sweep": "._sweep.execute",
    "open_sweep": "._store.sweep_store",
    "load_trajectory": "._store.dataset",
    "load_sweep_toml": "._presets.sweeps",
    "mnist": None,
    # continual-learning comparisons and row-matched stores write xarray Datasets
    "Baseline": "._sweep.baselines",
    "ContinualSummaries": "._sweep.baselines",
    "baselines": "._sweep.baselines",
    "compare_methods": "._sweep.baselines",
    "continual_sweep": "._sweep.baselines",
    "summarise_continual": "._sweep.baselines",
    "add_row_matching": "._store.row_store",
    # recurrent-network analyses: optimistix (the fixed-point solver) loads on first use
    "FixedPoints": "._rnn.fixed_points",
    "find_fixed_points": "._rnn.fixed_points",
    "sample_initial_states": "._rnn.fixed_points",
    "Orbit": "._rnn.fixed_points",
    "detect_limit_cycle": "._rnn.fixed_points",
    "iterate_map": "._rnn.fixed_points",
    "dominant_frequency": "._rnn.fixed_points",
    "EigenvalueOutliers": "._rnn.fixed_points",
    "eigenvalue_outliers": "._rnn.fixed_points",
    "unstable_eigenvalue_count": "._rnn.fixed_points",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name] or f".{name}", __name__)
        value = module if _LAZY[name] is None else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ntajax' has no attribute {name!r}")

__all__ = [
    "__version__",
    "add_row_matching",
    "analytic_fisher",
    "Axis",
    "Baseline",
    "baselines",
    "block_bounds",
    "block_starts",
    "Blocked",
    "BlockOverTauW",
    "column_norm_penalty",
    "enable_compilation_cache",
    "compare_methods",
    "Gated",
    "LinearStudent",
    "MultiHead",
    "PerNeuron",
    "PerNeuronStudent",
    "Recording",
    "Regulariser",
    "Simulation",
    "StudentModel",
    "TimeGrid",
    "TwoLayer",
    "TwoLayerStudent",
    "traced",
    "continual_sweep",
    "ContinualScan",
    "ContinualSummaries",
    "CorrelatedTeachers",
    "count_blocks",
    "Curriculum",
    "Diffrax",
    "Engine",
    "EulerScan",
    "ExpectedGradient",
    "ExplicitTeachers",
    "FieldAxis",
    "FrozenGates",
    "gate_regulariser",
    "GatedOutputs",
    "GatedStudent",
    "GatedTanh",
    "GatedTanhStudent",
    "GatePolicy",
    "GradientMode",
    "hidden_geometry",
    "hidden_map",
    "IIDTeachers",
    "Interleaved",
    "LossTriggered",
    "NoisyBatch",
    "TriggerState",
    "L2Pull",
    "last_block_ends",
    "load_trajectory",
    "load_sweep_toml",
    "LearnedGates",
    "make_axis",
    "make_teachers",
    "metrics",
    "MinibatchScan",
    "mnist",
    "MultiHeadScan",
    "MultiHeadStudent",
    "NtajaxWarning",
    "ode_vector_field",
    "OnlineEWC",
    "open_sweep",
    "OracleGates",
    "original_block_steps",
    "original_switch_block",
    "OriginalLambda",
    "OrthogonalOutputs",
    "OrthogonalTeachers",
    "OutputMode",
    "ParallelOutputs",
    "Penalty",
    "PRESETS",
    "run",
    "run_stacked",
    "run_sweep",
    "Reducer",
    "Summaries",
    "Variable",
    "SampledGradient",
    "StaticAxis",
    "schedule",
    "SCHEDULE_NAMES",
    "seed_keys",
    "simulate",
    "Smooth",
    "Status",
    "Student",
    "SubspaceScan",
    "summarise",
    "summarise_continual",
    "summarise_one",
    "Summary",
    "SVDTeachers",
    "Sweep",
    "task_loss",
    "task_variances",
    "TauRatio",
    "TeacherSet",
    "total_loss",
    "Trajectory",
    "unit_maps",
    "Variant",
    "velocity",
    "CrossingTime",
    "FinalAlignment",
    "FinalLoss",
    "MeanAlignment",
    "MeanLoss",
    "Outcome",
    "outcome_gradient",
    "AssignedAlignment",
    "ConstantSweep",
    "constant_sweep",
    "optimise_protocol",
    "PiecewiseLinear",
    "ProtocolResult",
    "schedule_gradient",
    "ScheduleCost",
    "ScheduledScan",
    # recurrent students (ntajax._rnn)
    "Activation",
    "GatedRNN",
    "GatedRNNState",
    "Identity",
    "ReLU",
    "Tanh",
    "ContextDecision",
    "DelayedGo",
    "DelayedMemory",
    "FlipFlop",
    "Go",
    "SineWave",
    "Task",
    "Trial",
    "YangTask",
    "GatedReadout",
    "OrthogonalReadout",
    "ParallelReadout",
    "Readout",
    "SharedReadout",
    "BlockedTasks",
    "InterleavedTasks",
    "TaskCurriculum",
    "RNNExperiment",
    "RNNResponses",
    "RNNRun",
    "rnn_responses",
    "train_rnn",
    "rnn_grid",
    "rnn_sweep",
    "gate_separation",
    "FixedPoints",
    "find_fixed_points",
    "sample_initial_states",
    "Orbit",
    "detect_limit_cycle",
    "iterate_map",
    "dominant_frequency",
    "EigenvalueOutliers",
    "eigenvalue_outliers",
    "unstable_eigenvalue_count",
    "cluster_task_profile",
    "response_task_variance",
    "task_variance_matrix",
    "unit_representation",
    "PCA",
    "Classifier",
    "LogisticClassifier",
    "RidgeClassifier",
    "decoding_accuracy",
    "fit_pca",
    "stack_by_task",
    "trajectory_f_ratio",
    "AssignedFinalAlignment",
    "GradientBoundary",
    "SeedSlopes",
    "bootstrap_interval",
    "gradient_boundary",
    "locate_boundary",
]

"""ntajax: a JAX simulation engine for the Neural Task Abstraction model."""

from ._clock import block_bounds, count_blocks, original_block_steps, original_switch_block
from ._config import Config, NtajaxWarning, TRACED_FIELDS
from ._curriculum import SCHEDULE_NAMES, Blocked, Curriculum, Interleaved, Smooth, schedule
from ._dynamics import ode_vector_field, velocity
from ._engines import Engine, EulerScan, SubspaceScan
from ._gradient import ExpectedGradient, GradientMode, SampledGradient
from ._losses import column_norm_penalty, gate_regulariser, regulariser, task_loss, total_loss
from ._run import make_teachers, run, seed_keys, simulate
from ._students import GatedStudent, PerNeuronStudent, Student, TwoLayerStudent
from ._teacher_sets import CorrelatedTeachers, ExplicitTeachers, IIDTeachers, OrthogonalTeachers, SVDTeachers, TeacherSet
from ._trajectory import Status, Trajectory
from ._summary import Summary, summarise, summarise_one
from ._presets import PRESETS, Variant
from ._sweep import Axis, BlockOverTauW, FieldAxis, OriginalLambda, RunSummary, Sweep, TauRatio, make_axis
from . import metrics

__version__ = "0.1.0"

# Imported on first use: diffrax (the ODE engine) and xarray/zarr (sweep stores) are heavy.
_LAZY = {"Diffrax": "._ode", "run_sweep": "._sweep_run", "open_sweep": "._sweep_store", "mnist": None}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name] or f".{name}", __name__)
        value = module if _LAZY[name] is None else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ntajax' has no attribute {name!r}")

__all__ = [
    "Axis",
    "BlockOverTauW",
    "Blocked",
    "Config",
    "CorrelatedTeachers",
    "Curriculum",
    "Diffrax",
    "Engine",
    "EulerScan",
    "ExpectedGradient",
    "ExplicitTeachers",
    "FieldAxis",
    "GatedStudent",
    "GradientMode",
    "IIDTeachers",
    "Interleaved",
    "NtajaxWarning",
    "OriginalLambda",
    "OrthogonalTeachers",
    "PRESETS",
    "PerNeuronStudent",
    "RunSummary",
    "SCHEDULE_NAMES",
    "SVDTeachers",
    "SampledGradient",
    "Smooth",
    "Status",
    "Student",
    "SubspaceScan",
    "Summary",
    "Sweep",
    "TRACED_FIELDS",
    "TauRatio",
    "TeacherSet",
    "Trajectory",
    "TwoLayerStudent",
    "Variant",
    "__version__",
    "block_bounds",
    "column_norm_penalty",
    "count_blocks",
    "gate_regulariser",
    "make_axis",
    "make_teachers",
    "metrics",
    "mnist",
    "ode_vector_field",
    "open_sweep",
    "original_block_steps",
    "original_switch_block",
    "regulariser",
    "run",
    "run_sweep",
    "schedule",
    "seed_keys",
    "simulate",
    "summarise",
    "summarise_one",
    "task_loss",
    "total_loss",
    "velocity",
]

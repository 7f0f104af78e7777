"""The registry of student kinds accepted by ``Config(student=...)``: name → class."""

from .multi_head import MultiHeadStudent
from .linear import GatedStudent, PerNeuronStudent, Student, TwoLayerStudent

STUDENTS: dict[str, type[Student]] = {
    cls.name: cls for cls in (GatedStudent, PerNeuronStudent, TwoLayerStudent, MultiHeadStudent)
}

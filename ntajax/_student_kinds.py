"""The registry of student kinds accepted by ``Config(student=...)``: name → class."""

from ._multihead_student import MultiHeadStudent
from ._students import GatedStudent, PerNeuronStudent, Student, TwoLayerStudent

STUDENTS: dict[str, type[Student]] = {
    cls.name: cls for cls in (GatedStudent, PerNeuronStudent, TwoLayerStudent, MultiHeadStudent)
}

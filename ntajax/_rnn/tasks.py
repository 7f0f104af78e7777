"""Tasks as trials: each task draws one trial (inputs, targets, mask) from a key, in JAX.

A :class:`Task` has static sizes (``n_steps`` = T, ``d_in``, ``d_out``) and traced parameters;
``task.sample(key)`` returns one :class:`Trial` of arrays, jit-compiled and ``vmap``-pable over
keys (``jax.vmap(task.sample)(keys)`` draws a batch). Training (:mod:`ntajax._rnn.training`)
draws fresh trials at every step inside its compiled scan; nothing loops in Python per step.

Dynamical-object tasks (Sussillo & Barak 2013; Turner & Barak 2023), one trial of T steps:

* :class:`FlipFlop` — k input channels carry sparse ±1 pulses; output j holds the sign of the
  last pulse of channel j (2^k stable fixed points). Masked before a channel's first pulse.
* :class:`SineWave` — a constant cue u = 0.25 + (f − f_min)/(f_max − f_min) selects a frequency
  f ∈ [f_min, f_max] (cycles per step); the target is sin(2π f k) (a limit cycle).
* :class:`DelayedMemory` — a value v ∈ [−1, 1]^n_dims is shown during steps [onset, offset);
  the output is 0 before the offset and v after it (n_dims = 1: a line attractor; 2: a plane).

Rule-cued cognitive tasks in the style of Yang et al. 2019, all on one layout so that they can
share channels (directions coded as (cos θ, sin θ) instead of Yang's ring of units):
inputs [fixation, modality 1 (cos, sin), modality 2 (cos, sin)] (d_in = 5), outputs [fixation,
response (cos, sin)] (d_out = 3). The fixation input is 1 until the response period; the target
asks for fixation output 1 before it and 0 during it, and for the response direction during it;
the first ``grace`` response steps are masked (as Yang et al.).

* :class:`Go` — a stimulus at direction θ in modality 1, on from ``stimulus_onset`` to the end
  (``anti=True``: respond θ + π; Yang's Go and Anti);
* :class:`DelayedGo` — the stimulus is shown only in [stimulus_onset, stimulus_offset), then a
  delay: respond θ (memory of a direction);
* :class:`ContextDecision` — both modalities show noisy evidence s_m (cos θ, sin θ) + noise,
  coherences s_m ∈ [−1, 1]; respond θ if the attended modality's s > 0, else θ + π (Yang's
  context-dependent DM 1 / DM 2, ``attend`` = 0 or 1).

neurogym (the Yang et al. collection) was checked as an optional source: neurogym 2.3.1 pins
matplotlib 3.10 and numpy 2.2 and would downgrade this project's numpy ≥ 2.4 / matplotlib ≥ 3.11,
so it is not offered; the generators here are written for this library.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._parameters import check_non_negative, check_positive, check_size, concrete, traced


class Trial(eqx.Module):
    """One trial (or, with leading axes, a batch of them).

    Attributes:
        inputs: (T, d_in).
        targets: (T, d_out).
        mask: (T, d_out), the weight of each target entry in the loss (0 = not constrained).
    """

    inputs: Float[Array, "T d_in"]
    targets: Float[Array, "T d_out"]
    mask: Float[Array, "T d_out"]


def _check_window(owner: str, n_steps: int, **steps: int) -> None:
    for name, value in steps.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= n_steps:
            raise ValueError(f"{owner}: {name}={value!r} must be an integer step in [0, n_steps={n_steps}].")


class Task(eqx.Module):
    """Abstract task: draws one :class:`Trial` from a key (static ``n_steps``, ``d_in``, ``d_out``)."""

    n_steps: eqx.AbstractVar[int]

    @property
    @abc.abstractmethod
    def d_in(self) -> int:
        """Input channels of the task."""

    @property
    @abc.abstractmethod
    def d_out(self) -> int:
        """Output channels of the task."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray) -> Trial:
        """One trial: inputs (T, d_in), targets (T, d_out), mask (T, d_out)."""

    @property
    def name(self) -> str:
        """A short label (the class name), used in stores and figures."""
        return type(self).__name__

    def batch(self, key: PRNGKeyArray, n_trials: int) -> Trial:
        """``n_trials`` independent trials (leading axis n_trials)."""
        return jax.vmap(self.sample)(jax.random.split(key, n_trials))


# ------------------------------------------------------------------------------ dynamical objects
class FlipFlop(Task):
    """k-bit flip-flop (2^k fixed points; Sussillo & Barak 2013).

    Args:
        n_bits: k, input and output channels (static).
        n_steps: T (static, default 40).
        pulse_probability: chance of a pulse per channel and step (traced, default 0.1); a pulse
            is ±1 with equal probability.
    """

    n_bits: int = eqx.field(static=True, default=3)
    n_steps: int = eqx.field(static=True, default=40)
    pulse_probability: Float[Array, ""] = eqx.field(default=0.1, converter=traced)

    def __check_init__(self):
        check_size("FlipFlop", "n_bits", self.n_bits)
        check_size("FlipFlop", "n_steps", self.n_steps)
        p = concrete(self.pulse_probability)
        check_positive("FlipFlop", "pulse_probability", p)
        if p is not None and p > 1:
            raise ValueError(f"FlipFlop: pulse_probability={p:.7g} must lie in (0, 1].")

    @property
    def d_in(self):
        return self.n_bits

    @property
    def d_out(self):
        return self.n_bits

    def sample(self, key):
        k_on, k_sign = jax.random.split(key)
        shape = (self.n_steps, self.n_bits)
        dtype = jnp.result_type(self.pulse_probability)
        on = jax.random.bernoulli(k_on, self.pulse_probability, shape)
        sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0).astype(dtype)
        inputs = jnp.where(on, sign, 0.0).astype(dtype)
        steps = jnp.arange(self.n_steps)[:, None]
        last = jax.lax.cummax(jnp.where(on, steps, -1), axis=0)  # step of the last pulse so far (−1: none)
        held = jnp.take_along_axis(inputs, jnp.maximum(last, 0), axis=0)
        seen = last >= 0
        return Trial(inputs=inputs, targets=jnp.where(seen, held, 0.0), mask=seen.astype(dtype))


class SineWave(Task):
    """Sine generation at a cued frequency (a limit cycle; Sussillo & Barak 2013).

    Args:
        n_steps: T (static, default 40).
        min_frequency, max_frequency: the range of f in cycles per step (traced; defaults
            0.04 and 0.1, periods of 10 to 25 steps).
        n_frequencies: f takes one of this many evenly spaced values (static, default 0:
            uniform on the range).
    """

    n_steps: int = eqx.field(static=True, default=40)
    min_frequency: Float[Array, ""] = eqx.field(default=0.04, converter=traced)
    max_frequency: Float[Array, ""] = eqx.field(default=0.1, converter=traced)
    n_frequencies: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        check_size("SineWave", "n_steps", self.n_steps)
        lo, hi = concrete(self.min_frequency), concrete(self.max_frequency)
        check_positive("SineWave", "min_frequency", lo)
        check_positive("SineWave", "max_frequency", hi)
        if lo is not None and hi is not None and not lo < hi <= 0.5:
            raise ValueError(f"SineWave: need 0 < min_frequency < max_frequency ≤ 0.5 (Nyquist), "
                             f"got {lo:.7g}, {hi:.7g}.")
        if isinstance(self.n_frequencies, bool) or not isinstance(self.n_frequencies, int) or self.n_frequencies < 0 \
                or self.n_frequencies == 1:
            raise ValueError(f"SineWave: n_frequencies={self.n_frequencies!r} must be 0 (continuous) "
                             "or an integer ≥ 2.")

    @property
    def d_in(self):
        return 1

    @property
    def d_out(self):
        return 1

    def cue(self, frequency: Float[Array, ""]) -> Float[Array, ""]:
        """The input level that cues ``frequency``: 0.25 + (f − f_min)/(f_max − f_min)."""
        return 0.25 + (frequency - self.min_frequency) / (self.max_frequency - self.min_frequency)

    def sample(self, key):
        dtype = jnp.result_type(self.min_frequency)
        if self.n_frequencies:
            x = jax.random.randint(key, (), 0, self.n_frequencies).astype(dtype) / (self.n_frequencies - 1)
        else:
            x = jax.random.uniform(key, (), dtype)
        f = self.min_frequency + x * (self.max_frequency - self.min_frequency)
        k = jnp.arange(self.n_steps, dtype=dtype)
        inputs = jnp.full((self.n_steps, 1), self.cue(f), dtype)
        targets = jnp.sin(2 * jnp.pi * f * k)[:, None]
        return Trial(inputs=inputs, targets=targets, mask=jnp.ones_like(targets))


class DelayedMemory(Task):
    """Memory of a continuous value: a line attractor (``n_dims=1``) or a plane (``n_dims=2``).

    Args:
        n_dims: dimension of the remembered value (static, default 1).
        n_steps: T (static, default 40).
        stimulus_onset, stimulus_offset: the value is shown on steps [onset, offset) (static,
            defaults 2 and 6); the target is 0 before ``stimulus_offset`` and v from it on.
    """

    n_dims: int = eqx.field(static=True, default=1)
    n_steps: int = eqx.field(static=True, default=40)
    stimulus_onset: int = eqx.field(static=True, default=2)
    stimulus_offset: int = eqx.field(static=True, default=6)

    def __check_init__(self):
        check_size("DelayedMemory", "n_dims", self.n_dims)
        check_size("DelayedMemory", "n_steps", self.n_steps)
        _check_window("DelayedMemory", self.n_steps, stimulus_onset=self.stimulus_onset,
                      stimulus_offset=self.stimulus_offset)
        if not self.stimulus_onset < self.stimulus_offset < self.n_steps:
            raise ValueError(f"DelayedMemory: need stimulus_onset < stimulus_offset < n_steps, got "
                             f"{self.stimulus_onset}, {self.stimulus_offset}, {self.n_steps}.")

    @property
    def d_in(self):
        return self.n_dims

    @property
    def d_out(self):
        return self.n_dims

    @property
    def name(self):
        return "LineMemory" if self.n_dims == 1 else ("PlaneMemory" if self.n_dims == 2 else f"Memory{self.n_dims}D")

    def sample(self, key):
        value = jax.random.uniform(key, (self.n_dims,), jnp.result_type(float), -1.0, 1.0)
        k = jnp.arange(self.n_steps)[:, None]
        shown = (k >= self.stimulus_onset) & (k < self.stimulus_offset)
        inputs = jnp.where(shown, value, 0.0)
        targets = jnp.where(k >= self.stimulus_offset, value, 0.0)
        return Trial(inputs=inputs, targets=targets, mask=jnp.ones_like(targets))


# ------------------------------------------------------------------------------ Yang et al. style
YANG_D_IN = 5
"""[fixation, modality-1 cos, sin, modality-2 cos, sin]."""
YANG_D_OUT = 3
"""[fixation, response cos, sin]."""


class YangTask(Task):
    """Abstract rule-cued task on the shared layout of the module docstring (d_in 5, d_out 3).

    Subclasses give the stimulus (T, 4) of both modalities and the response angle."""

    n_steps: eqx.AbstractVar[int]
    response_onset: eqx.AbstractVar[int]
    grace: eqx.AbstractVar[int]

    @property
    def d_in(self):
        return YANG_D_IN

    @property
    def d_out(self):
        return YANG_D_OUT

    @abc.abstractmethod
    def stimulus(self, key: PRNGKeyArray) -> tuple[Float[Array, "T 4"], Float[Array, ""]]:
        """(modality inputs (T, 4), response angle)."""

    def sample(self, key):
        stimulus, angle = self.stimulus(key)
        k = jnp.arange(self.n_steps)[:, None]
        respond = k >= self.response_onset
        fixation = jnp.where(respond, 0.0, 1.0)
        inputs = jnp.concatenate([fixation, stimulus], axis=1)
        direction = jnp.stack([jnp.cos(angle), jnp.sin(angle)])
        targets = jnp.concatenate([fixation, jnp.where(respond, direction, 0.0)], axis=1)
        grace = respond & (k < self.response_onset + self.grace)
        mask = jnp.broadcast_to(jnp.where(grace, 0.0, 1.0), targets.shape)
        return Trial(inputs=inputs, targets=targets, mask=mask)


def _check_yang(task, owner, **windows):
    check_size(owner, "n_steps", task.n_steps)
    _check_window(owner, task.n_steps, response_onset=task.response_onset, grace=task.grace, **windows)
    if task.response_onset + task.grace >= task.n_steps:
        raise ValueError(f"{owner}: response_onset + grace = {task.response_onset + task.grace} leaves no scored "
                         f"response step in n_steps={task.n_steps}; lower grace or lengthen the trial.")


class Go(YangTask):
    """Go (``anti=False``) or Anti (``anti=True``): respond toward (away from) the stimulus.

    Args:
        anti: respond θ + π instead of θ (static).
        n_steps: T (static, default 20).
        stimulus_onset: first step of the stimulus (static, default 4); it stays on to the end.
        response_onset: first step of the response period (static, default 12).
        grace: masked response steps (static, default 2).
        strength: stimulus amplitude (traced, default 1).
    """

    anti: bool = eqx.field(static=True, default=False)
    n_steps: int = eqx.field(static=True, default=20)
    stimulus_onset: int = eqx.field(static=True, default=4)
    response_onset: int = eqx.field(static=True, default=12)
    grace: int = eqx.field(static=True, default=2)
    strength: Float[Array, ""] = eqx.field(default=1.0, converter=traced)

    def __check_init__(self):
        _check_yang(self, "Go", stimulus_onset=self.stimulus_onset)
        check_non_negative("Go", "strength", concrete(self.strength))

    @property
    def name(self):
        return "Anti" if self.anti else "Go"

    def stimulus(self, key):
        theta = jax.random.uniform(key, (), jnp.result_type(float), 0.0, 2 * jnp.pi)
        k = jnp.arange(self.n_steps)[:, None]
        on = k >= self.stimulus_onset
        m1 = jnp.where(on, self.strength * jnp.stack([jnp.cos(theta), jnp.sin(theta)]), 0.0)
        return jnp.concatenate([m1, jnp.zeros_like(m1)], axis=1), theta + (jnp.pi if self.anti else 0.0)


class DelayedGo(YangTask):
    """Delayed Go: the stimulus is shown in [stimulus_onset, stimulus_offset), then a delay; respond θ.

    Args:
        n_steps: T (static, default 20).
        stimulus_onset, stimulus_offset: the stimulus window (static, defaults 4 and 8).
        response_onset, grace: as :class:`Go` (defaults 14 and 2).
        strength: stimulus amplitude (traced, default 1).
    """

    n_steps: int = eqx.field(static=True, default=20)
    stimulus_onset: int = eqx.field(static=True, default=4)
    stimulus_offset: int = eqx.field(static=True, default=8)
    response_onset: int = eqx.field(static=True, default=14)
    grace: int = eqx.field(static=True, default=2)
    strength: Float[Array, ""] = eqx.field(default=1.0, converter=traced)

    def __check_init__(self):
        _check_yang(self, "DelayedGo", stimulus_onset=self.stimulus_onset, stimulus_offset=self.stimulus_offset)
        if not self.stimulus_onset < self.stimulus_offset <= self.response_onset:
            raise ValueError("DelayedGo: need stimulus_onset < stimulus_offset ≤ response_onset, got "
                             f"{self.stimulus_onset}, {self.stimulus_offset}, {self.response_onset}.")
        check_non_negative("DelayedGo", "strength", concrete(self.strength))

    def stimulus(self, key):
        theta = jax.random.uniform(key, (), jnp.result_type(float), 0.0, 2 * jnp.pi)
        k = jnp.arange(self.n_steps)[:, None]
        on = (k >= self.stimulus_onset) & (k < self.stimulus_offset)
        m1 = jnp.where(on, self.strength * jnp.stack([jnp.cos(theta), jnp.sin(theta)]), 0.0)
        return jnp.concatenate([m1, jnp.zeros_like(m1)], axis=1), theta


class ContextDecision(YangTask):
    """Two-modality decision: respond θ if the attended modality's coherence is positive, else θ + π.

    Both modalities show s_m (cos θ, sin θ) + noise from ``stimulus_onset`` to the response, with
    coherences s_m ~ U(−1, 1) drawn independently (so the other modality is a distractor).

    Args:
        attend: the modality that decides, 0 or 1 (static).
        n_steps, stimulus_onset, response_onset, grace: as :class:`Go` (defaults 20, 4, 12, 2).
        noise: std of the Gaussian noise per input entry and step (traced, default 0.1).
    """

    attend: int = eqx.field(static=True, default=0)
    n_steps: int = eqx.field(static=True, default=20)
    stimulus_onset: int = eqx.field(static=True, default=4)
    response_onset: int = eqx.field(static=True, default=12)
    grace: int = eqx.field(static=True, default=2)
    noise: Float[Array, ""] = eqx.field(default=0.1, converter=traced)

    def __check_init__(self):
        if self.attend not in (0, 1) or isinstance(self.attend, bool):
            raise ValueError(f"ContextDecision: attend={self.attend!r} must be 0 or 1 (the modality that decides).")
        _check_yang(self, "ContextDecision", stimulus_onset=self.stimulus_onset)
        if self.stimulus_onset >= self.response_onset:
            raise ValueError("ContextDecision: need stimulus_onset < response_onset.")
        check_non_negative("ContextDecision", "noise", concrete(self.noise))

    @property
    def name(self):
        return f"ContextDM{self.attend + 1}"

    def stimulus(self, key):
        k_theta, k_coh, k_noise = jax.random.split(key, 3)
        theta = jax.random.uniform(k_theta, (), jnp.result_type(float), 0.0, 2 * jnp.pi)
        coherence = jax.random.uniform(k_coh, (2,), jnp.result_type(float), -1.0, 1.0)
        k = jnp.arange(self.n_steps)[:, None]
        on = (k >= self.stimulus_onset) & (k < self.response_onset)
        direction = jnp.stack([jnp.cos(theta), jnp.sin(theta)])
        clean = jnp.concatenate([coherence[0] * direction, coherence[1] * direction])
        noisy = clean + self.noise * jax.random.normal(k_noise, (self.n_steps, 4))
        angle = theta + jnp.where(coherence[self.attend] > 0, 0.0, jnp.pi)
        return jnp.where(on, noisy, 0.0), angle

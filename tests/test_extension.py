"""A student written outside ntajax runs through the whole library without a line of ntajax changed.

The class below is what a user writes in their own file: a gated student with a trained global
gain g, ŷ = g Σ_p c_p W_p x, and its model with a time constant τ_g of its own. It defines only
the effective map, the gate vector and the path weights; its task gradient is ntajax's default
(a vector–Jacobian product of the effective map, MODEL §4.1), checked here against finite
differences and, with the gain frozen, against the built-in gated student's closed form.
"""

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float

import ntajax


class GainGatedStudent(ntajax.LinearStudent):
    W: Float[Array, "paths d_out d_in"]
    c: Float[Array, " paths"]
    g: Float[Array, ""]

    def effective_map(self):
        return self.g * jnp.einsum("p,pij->ij", self.c, self.W)

    def gate_vector(self):
        return self.c

    def path_weights(self):
        return self.W


class GainGated(ntajax.StudentModel):
    n_paths: int = eqx.field(static=True, default=2)
    tau_w: Float[Array, ""] = eqx.field(default=1.3, converter=ntajax.traced)
    tau_c: Float[Array, ""] = eqx.field(default=0.03, converter=ntajax.traced)
    tau_g: Float[Array, ""] = eqx.field(default=0.5, converter=ntajax.traced)
    init_scale: Float[Array, ""] = eqx.field(default=0.01, converter=ntajax.traced)

    def initialise(self, key, *, d_in, d_out, n_teachers):
        W = self.init_scale / jnp.sqrt(d_in) * jax.random.normal(key, (self.n_paths, d_out, d_in))
        return GainGatedStudent(W=W, c=jnp.full((self.n_paths,), 0.5), g=jnp.ones(()))

    def time_constants(self, state):
        return GainGatedStudent(W=self.tau_w, c=self.tau_c, g=self.tau_g)


def _simulation(student, **changes):
    return ntajax.Simulation(
        student=student, regulariser=ntajax.Regulariser(lambda_nonneg=1 / 11, lambda_norm=10 / 11),
        curriculum=ntajax.Blocked(block_length=0.5), gradient=ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(t_total=2.0, n_save=21), n_seeds=2, **changes,
    )


def test_own_student_gradient_matches_finite_differences():
    """The default task gradient (VJP of the effective map) plus the regulariser's, against central
    differences of the full loss L = ½‖W* − W_eff‖² + R in float64 (MODEL §4, §5.1)."""
    with jax.enable_x64(True):
        model = GainGated()
        regulariser = ntajax.Regulariser(lambda_nonneg=0.3, lambda_norm=0.7)
        k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
        student = GainGatedStudent(W=0.3 * jax.random.normal(k1, (2, 3, 4)), c=jnp.asarray([0.7, -0.2]),
                                   g=jnp.asarray(1.3))
        student = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), student)
        target = jax.random.normal(k2, (3, 4))
        velocity = ntajax.velocity(student, target, None, model, regulariser)
        loss = lambda s: ntajax.total_loss(s, target, None, regulariser)  # noqa: E731
        flat, unflatten = jax.flatten_util.ravel_pytree(student)
        h = 1e-6
        numeric = np.array([(loss(unflatten(flat + h * e)) - loss(unflatten(flat - h * e))) / (2 * h)
                            for e in np.eye(flat.size)])
        taus = jax.flatten_util.ravel_pytree(jax.tree.map(lambda leaf, tau: jnp.broadcast_to(tau, leaf.shape),
                                                          student, model.time_constants(student)))[0]
        np.testing.assert_allclose(jax.flatten_util.ravel_pytree(velocity)[0], -numeric / taus, rtol=1e-6, atol=1e-8)


def test_own_student_with_frozen_gain_follows_the_builtin_gated_student():
    """τ_g → ∞ freezes g = 1: the user's student then is the gated student of MODEL §2.1, whose
    closed-form gradient ntajax implements separately; both runs start from the same weights."""
    key = jax.random.key(0)
    own = ntajax.run(_simulation(GainGated(tau_g=1e30)), key)
    builtin = ntajax.run(_simulation(ntajax.Gated()), key)
    np.testing.assert_allclose(np.asarray(own.final.W), np.asarray(builtin.final.W), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(own.loss), np.asarray(builtin.loss), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(own.final.g), 1.0)
    trained = ntajax.run(_simulation(GainGated(tau_g=0.1)), key)
    assert not np.allclose(np.asarray(trained.final.g), 1.0)  # with a finite τ_g the gain learns


def test_own_student_sweeps_over_its_own_parameter_into_a_store(tmp_path):
    """A sweep over the user's own time constant τ_g: one compile, a labelled store whose frozen-gain
    point equals the built-in gated student's summary."""
    xr = pytest.importorskip("xarray")
    base = _simulation(GainGated())
    assert base.resolve_path("tau_g") == "student.tau_g"
    sweep = ntajax.Sweep(base=base, axes=(ntajax.FieldAxis(name="tau_g", values=(0.1, 1e30)),), n_seeds=2)
    ds = ntajax.run_sweep(sweep, tmp_path / "gain.zarr", progress=False)
    assert ds["final_alignment"].dims[:1] == ("tau_g",)
    builtin = ntajax.summarise(base.replace(student=ntajax.Gated()), ntajax.run(base.replace(student=ntajax.Gated()),
                                                                              jax.random.key(sweep.seed)))
    np.testing.assert_allclose(ds["final_alignment"].sel(tau_g=1e30).values, np.asarray(builtin.final_alignment),
                               rtol=1e-5, atol=1e-6)
    reopened = xr.open_zarr(tmp_path / "gain.zarr")
    assert "final_alignment" in reopened


def test_own_model_rejects_bad_values_and_nonlinear_use_of_closed_form_engines():
    with pytest.raises(ValueError, match="tau_g=-1 must be positive"):
        GainGated(tau_g=-1.0)
    with pytest.raises(ValueError, match="tau_g"):
        _simulation(GainGated()).set({"tau_g": 0.0})

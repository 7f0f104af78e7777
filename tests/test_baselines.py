"""Continual-learning baselines (MODEL §9): analytic Fisher, penalties, gate policies, comparison."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntajax
from ntajax._sweep.baselines import baselines, compare_methods, continual_sweep, summarise_continual
from ntajax._engines.continual import (
    ContinualFrame, ContinualScan, ContinualState, FrozenGates, L2Pull, LearnedGates, OnlineEWC, OracleGates,
)
from ntajax._students.fisher import analytic_fisher
from ntajax._engines.frames import FullFrame
from ntajax._sweep.sweep import Sweep, make_axis
from ntajax._sweep.execute import compile_count as sweep_compile_count
from ntajax._sweep.execute import run_sweep

def flexible(*, tau_c=0.03, lambda_nonneg=1 / 11, lambda_norm=10 / 11, block_length=1.0, gradient="expected",
             t_total, n_save, n_seeds=10, **changes) -> ntajax.Simulation:
    """The Fig. 2 flexible simulation (d_in 20, d_out 10, τ_w 1.3) with the given changes."""
    return ntajax.Simulation(
        d_in=20, d_out=10, student=ntajax.Gated(tau_w=1.3, tau_c=tau_c),
        regulariser=ntajax.Regulariser(lambda_nonneg=lambda_nonneg, lambda_norm=lambda_norm),
        curriculum=ntajax.Blocked(block_length=block_length),
        gradient=ntajax.SampledGradient() if gradient == "sampled" else ntajax.ExpectedGradient(),
        grid=ntajax.TimeGrid(t_total=t_total, n_save=n_save), n_seeds=n_seeds, **changes,
    )


def _same(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# ------------------------------------------------------------------------------------ analytic Fisher
def _monte_carlo_fisher(student, key, n):
    """E[s²] of the per-sample score s = ∇_θ log N(y; ŷ(x), I), x ~ N(0, I), y ~ N(ŷ(x), I): the
    squared per-sample score averaged over samples (not the square of the mean gradient)."""
    d_in = student.effective_map().shape[1]
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (n, d_in))
    noise = jax.random.normal(ke, (n, student.effective_map().shape[0]))

    def score(x, eps):
        y = jax.lax.stop_gradient(student(x)) + eps
        return jax.grad(lambda s: -0.5 * jnp.sum((y - s(x)) ** 2))(student)

    def batch_mean(xs, es):
        return jax.tree.map(lambda g: jnp.mean(g**2, axis=0), jax.vmap(score)(xs, es))

    parts = [batch_mean(x[i:i + 20_000], noise[i:i + 20_000]) for i in range(0, n, 20_000)]
    return jax.tree.map(lambda *p: sum(p) / len(p), *parts)


def _students(key):
    k = jax.random.split(key, 6)
    return {
        "gated": ntajax.GatedStudent(W=0.4 * jax.random.normal(k[0], (2, 3, 5)), c=jnp.array([0.9, -0.4])),
        "per_neuron": ntajax.PerNeuronStudent(W=0.4 * jax.random.normal(k[1], (2, 3, 5)),
                                              c=jax.random.uniform(k[2], (2, 3), minval=-1, maxval=1)),
        "two_layer": ntajax.TwoLayerStudent(W1=0.4 * jax.random.normal(k[3], (6, 5)), W2=0.4 * jax.random.normal(k[4], (3, 6))),
    }


@pytest.mark.parametrize("kind", ["gated", "per_neuron", "two_layer"])
def test_analytic_fisher_is_the_monte_carlo_expectation_of_the_score_outer_product(kind, key):
    student = _students(key)[kind]
    analytic = analytic_fisher(student)
    mc = _monte_carlo_fisher(student, jax.random.fold_in(key, 1), 200_000)
    for a, m in zip(jax.tree.leaves(analytic), jax.tree.leaves(mc)):
        assert a.shape == m.shape
        # per entry: relative MC error of a mean of 2·10⁵ squared products ≈ 0.7 %
        np.testing.assert_allclose(np.asarray(m), np.asarray(a), rtol=0.04, atol=1e-4)
        assert np.mean(np.asarray(m)) == pytest.approx(float(np.mean(np.asarray(a))), rel=0.01)


def test_analytic_fisher_is_not_the_empirical_fisher_at_a_perfect_fit(key):
    """At W_eff = W* the squared loss gradients vanish (empirical Fisher 0); the true Fisher does not."""
    teacher = jax.random.normal(key, (3, 5))
    student = ntajax.GatedStudent(W=jnp.stack([teacher, 0 * teacher]), c=jnp.array([1.0, 0.0]))
    x = jax.random.normal(jax.random.fold_in(key, 2), (1000, 5))
    empirical = jax.vmap(lambda x: jax.grad(lambda s: 0.5 * jnp.sum((teacher @ x - s(x)) ** 2))(student))(x)
    assert float(jnp.max(jnp.abs(empirical.W))) == 0.0
    fisher = analytic_fisher(student)
    np.testing.assert_array_equal(np.asarray(fisher.W[0]), 1.0)  # c_0² = 1
    assert float(fisher.c[0]) == pytest.approx(float(jnp.sum(teacher**2)), rel=1e-6)


def test_single_path_fisher_is_one_for_every_weight():
    student = ntajax.GatedStudent(W=jnp.arange(6.0).reshape(1, 2, 3), c=jnp.ones(1))
    np.testing.assert_array_equal(np.asarray(analytic_fisher(student).W), 1.0)


def test_analytic_fisher_rejects_unknown_students():
    class Other(ntajax.TwoLayerStudent):
        pass

    # subclasses inherit the parent's closed form; an unrelated type does not have one
    assert isinstance(analytic_fisher(Other(W1=jnp.ones((2, 2)), W2=jnp.ones((2, 2)))), ntajax.TwoLayerStudent)
    with pytest.raises(TypeError, match="no closed form"):
        analytic_fisher(object())


# ----------------------------------------------------------------------------------- penalty dynamics
@pytest.mark.parametrize("gradient, penalty", [("expected", OnlineEWC), ("expected", L2Pull), ("sampled", OnlineEWC)],
                         ids=["expected-ewc", "expected-l2", "sampled-ewc"])
def test_penalty_with_zero_strength_equals_the_plain_run_bit_for_bit(gradient, penalty, key):
    base = flexible(block_length=0.5, gradient=gradient, t_total=2.5, n_save=26, n_seeds=2,
                    recording=ntajax.Recording(weights=True, weights_every=5))
    plain = ntajax.run(base, key)
    continual = ntajax.run(base.replace(engine=ContinualScan(penalty=penalty(lambda_ewc=0.0, ewc_decay=0.7))), key)
    assert _same(plain, continual)
    pulled = ntajax.run(base.replace(engine=ContinualScan(penalty=penalty(lambda_ewc=3.0))), key)
    assert not np.allclose(np.asarray(plain.loss[:, -1]), np.asarray(pulled.loss[:, -1]))


def _reference_penalty_run(W0, c0, teachers, *, tau_w, tau_c, lam, gamma, dt, n_steps, block_steps, fisher, late=0):
    """Numpy Euler loop of MODEL §9 for the gated student without regulariser (float64):
    τ_w dW_p = c_p E − λ F_W (W_p − W*_p), τ_c dc_p = ⟨W_p, E⟩ − λ F_c (c_p − c*_p); anchors and
    F ← γF + F(θ) refreshed at the steps where the block index changes (``late`` steps later)."""
    W, c = W0.copy(), c0.copy()
    FW, Fc = np.zeros_like(W), np.zeros_like(c)
    aW, ac = W.copy(), c.copy()
    for i in range(n_steps):
        k = i // block_steps
        j = i - late
        if j > 0 and j // block_steps != (j - 1) // block_steps:
            aW, ac = W.copy(), c.copy()
            fW, fc = fisher(W, c)
            FW, Fc = gamma * FW + fW, gamma * Fc + fc
        E = teachers[k % len(teachers)] - np.einsum("p,pij->ij", c, W)
        dW = (c[:, None, None] * E[None] - lam * FW * (W - aW)) / tau_w
        dc = (np.einsum("pij,ij->p", W, E) - lam * Fc * (c - ac)) / tau_c
        W, c = W + dt * dW, c + dt * dc
    return W, c


def _ewc_fisher(W, c):
    return np.broadcast_to((c**2)[:, None, None], W.shape), np.sum(W**2, axis=(1, 2))


def _l2_fisher(W, c):
    return np.ones_like(W), np.ones_like(c)


@pytest.mark.parametrize("penalty, fisher", [(OnlineEWC, _ewc_fisher), (L2Pull, _l2_fisher)], ids=["ewc", "l2"])
def test_penalty_dynamics_match_an_independent_euler_loop(penalty, fisher, key):
    """Anchor and Fisher refreshed exactly at the switch steps: a refresh one step off would move the
    result by ~dt·λ·|v| ≫ the float64 tolerance."""
    d_out, d_in, dt, block_length = 2, 5, 0.01, 0.1
    teachers = np.asarray(ntajax.OrthogonalTeachers().make(key=key, n_teachers=2, d_out=d_out, d_in=d_in), np.float64)
    kw, kc = jax.random.split(jax.random.fold_in(key, 3))
    W0 = np.asarray(0.3 * jax.random.normal(kw, (2, d_out, d_in)), np.float64)
    c0 = np.asarray(jax.random.uniform(kc, (2,), minval=0.2, maxval=0.8), np.float64)
    config = ntajax.Simulation(
        d_in=d_in, d_out=d_out, student=ntajax.Gated(n_paths=2, tau_w=0.3, tau_c=0.2),
        grid=ntajax.TimeGrid(dt=dt, t_total=0.55, n_save=12), n_seeds=1, gradient=ntajax.ExpectedGradient(),
        curriculum=ntajax.Blocked(block_length=block_length), dtype="float64", teachers=ntajax.ExplicitTeachers(),
        engine=ContinualScan(penalty=penalty(lambda_ewc=2.0, ewc_decay=0.6)),
    )
    init = ntajax.GatedStudent(W=jnp.asarray(W0)[None], c=jnp.asarray(c0)[None])
    with jax.enable_x64(True):
        init = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), init)
        out = ntajax.run(config, key, teachers=jnp.asarray(teachers, jnp.float64), init=init)
        W, c = np.asarray(out.final.W[0]), np.asarray(out.final.c[0])
    f32 = lambda x: float(np.float32(x))  # noqa: E731  (traced config fields are float32)
    hyper = dict(tau_w=f32(0.3), tau_c=f32(0.2), lam=2.0, gamma=f32(0.6), dt=dt, n_steps=55, block_steps=10, fisher=fisher)
    ref_W, ref_c = _reference_penalty_run(W0, c0, teachers, **hyper)
    np.testing.assert_allclose(W, ref_W, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(c, ref_c, rtol=1e-11, atol=1e-13)
    # the same loop refreshing one step late differs visibly
    late_W, _ = _reference_penalty_run(W0, c0, teachers, **hyper, late=1)
    assert np.max(np.abs(late_W - W)) > 1e-6


def test_anchor_refreshes_only_when_the_block_changes_after_block_zero(key):
    teachers = ntajax.OrthogonalTeachers().make(key=key, n_teachers=2, d_out=2, d_in=4)
    config = ntajax.Simulation(d_in=4, d_out=2, gradient=ntajax.ExpectedGradient(),
                               grid=ntajax.TimeGrid(t_total=1.0, n_save=11), n_seeds=1)
    frame = ContinualFrame(inner=FullFrame(teachers=teachers), penalty=OnlineEWC(ewc_decay=0.5), gates=LearnedGates(),
                           config=config, n_targets=2)
    s0 = ntajax.GatedStudent(W=jnp.ones((2, 2, 4)), c=jnp.array([0.5, 2.0]))
    state = frame.encode(s0)
    np.testing.assert_array_equal(np.asarray(state.importance.W), 0.0)  # no penalty before the first switch
    moved = ntajax.GatedStudent(W=2 * jnp.ones((2, 2, 4)), c=jnp.array([1.0, 3.0]))
    state = ContinualState(student=moved, anchor=state.anchor, importance=state.importance)
    first = frame.before_step(state, block=jnp.int32(0), previous_block=jnp.int32(-1), config=config)  # step 0
    within = frame.before_step(state, block=jnp.int32(1), previous_block=jnp.int32(1), config=config)
    assert _same(first.anchor, s0) and _same(within.anchor, s0)
    switch = frame.before_step(state, block=jnp.int32(1), previous_block=jnp.int32(0), config=config)
    assert _same(switch.anchor, moved)
    np.testing.assert_allclose(np.asarray(switch.importance.W[:, 0, 0]), [1.0, 9.0])  # c_p²
    np.testing.assert_allclose(np.asarray(switch.importance.c), [32.0, 32.0])  # ‖W_p‖²_F = 8 entries of 2²
    again = frame.before_step(switch, block=jnp.int32(2), previous_block=jnp.int32(1), config=config)
    np.testing.assert_allclose(np.asarray(again.importance.c), [0.5 * 32 + 32, 0.5 * 32 + 32])  # γF + F(θ)


def test_l2_pull_is_ewc_with_unit_fisher_on_the_single_path(key):
    """The single-path student's analytic Fisher is 1 for every weight (MODEL §9): EWC = L2 pull exactly."""
    base = ntajax.Simulation(d_in=20, d_out=10, student=ntajax.Gated(n_paths=1, tau_w=1.3, tau_c=1.3),
                             gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=3.0, n_save=31),
                             n_seeds=2, curriculum=ntajax.Blocked(block_length=0.5))
    penalty = dict(lambda_ewc=2.0, ewc_decay=0.8)
    ewc = ntajax.run(base.replace(engine=ContinualScan(penalty=OnlineEWC(**penalty), gates=FrozenGates())), key)
    l2 = ntajax.run(base.replace(engine=ContinualScan(penalty=L2Pull(**penalty), gates=FrozenGates())), key)
    assert _same(ewc, l2)
    np.testing.assert_array_equal(np.asarray(ewc.gates), 1.0)


# -------------------------------------------------------------------------------------- gate policies
def test_oracle_gates_are_one_hot_on_the_current_task_and_idle_paths_are_untouched(key):
    config = flexible(block_length=0.5, gradient="sampled", t_total=2.0, n_save=41, n_seeds=2,
                      engine=ContinualScan(gates=OracleGates()), recording=ntajax.Recording(weights=True, weights_every=10))
    out = ntajax.run(config, key)
    gates = np.asarray(out.gates)
    assert set(np.unique(gates)) == {0.0, 1.0}
    np.testing.assert_array_equal(gates.sum(-1), 1.0)
    # record j is the state before step j·save_every: it holds the gates of the block of the step before
    t = np.asarray(out.t[0])
    block_before = np.floor(np.maximum(t.astype(np.float64) - 1e-6, 0) / 0.5).astype(int) % 2
    np.testing.assert_array_equal(np.argmax(gates, -1), np.broadcast_to(block_before, gates.shape[:2]))
    # within block 1 (task B, gates (0, 1)) path 0 gets no gradient: its weights do not change at all
    W = np.asarray(out.weights.W)  # (seed, T_w = 5 at t = 0, 0.5, 1, 1.5, 2, P, d_out, d_in)
    np.testing.assert_array_equal(W[:, 1, 0], W[:, 2, 0])
    assert not np.array_equal(W[:, 1, 1], W[:, 2, 1])


def test_gate_policies_reject_students_and_curricula_they_cannot_act_on(key):
    short = dict(gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=0.1, n_save=2), n_seeds=1)
    two_layer = ntajax.Simulation(student=ntajax.TwoLayer(), **short)
    with pytest.raises(ValueError, match="explicit gates"):
        ntajax.run(two_layer.replace(engine=ContinualScan(gates=FrozenGates())), key)
    with pytest.raises(ValueError, match="Blocked curriculum"):
        ntajax.run(ntajax.Simulation(**short, curriculum=ntajax.Interleaved(per="sample"),
                                     engine=ContinualScan(gates=OracleGates())), key)
    with pytest.raises(ValueError, match="n_paths ≥ 2"):
        ntajax.run(ntajax.Simulation(**short, student=ntajax.Gated(n_paths=1), engine=ContinualScan(gates=OracleGates())), key)


def test_a_penalised_run_refuses_to_resume(key):
    config = ntajax.Simulation(gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=0.2, n_save=3), n_seeds=1,
                               engine=ContinualScan(penalty=OnlineEWC(lambda_ewc=1.0)))
    out = ntajax.run(config, key)
    with pytest.raises(Exception, match="cannot resume"):
        jax.block_until_ready(ntajax.run(config, key, init=out.final, start_step=config.n_steps).loss)


def test_methods_declare_whether_they_need_task_boundaries():
    methods = baselines(flexible(t_total=2.0, n_save=5), lambda_ewc=1.0)
    told = {k for k, m in methods.items() if m.needs_task_boundaries}
    assert told == {"ewc", "l2", "oracle", "ewc_single_path"}
    assert all("(boundaries)" in methods[k].label for k in told)
    assert not ContinualScan(gates=FrozenGates()).needs_task_boundaries


# ---------------------------------------------------------------------------------- summaries, sweeps
def test_retention_is_the_loss_on_the_previous_task_at_each_block_end(key):
    config = flexible(block_length=0.5, t_total=2.0, n_save=21, n_seeds=1,
                      recording=ntajax.Recording(weights=True, weights_every=5, n_blocks=4))
    teachers = ntajax.make_teachers(config, key)
    out = ntajax.run(config, key, teachers=teachers)
    summary = summarise_continual(config, jax.tree.map(lambda x: x[0], out), teachers)
    W = np.asarray(out.weights.W[0])
    c = np.asarray(out.weights.c[0])
    T = np.asarray(teachers)
    for k in range(4):  # block k ends at weight save k + 1; the previous task is (k − 1) mod 2
        eff = np.einsum("p,pij->ij", c[k + 1], W[k + 1])
        expected = np.nan if k == 0 else 0.5 * np.sum((T[(k - 1) % 2] - eff) ** 2)
        np.testing.assert_allclose(float(summary.retention[k]), expected, rtol=1e-5, equal_nan=True)
        if k:
            A = W[k + 1].reshape(2, -1).T
            best = np.linalg.lstsq(A, T[(k - 1) % 2].reshape(-1), rcond=None)[0]
            regated = 0.5 * np.sum((T[(k - 1) % 2].reshape(-1) - A @ best) ** 2)
            np.testing.assert_allclose(float(summary.regated_retention[k]), regated, rtol=1e-3, atol=1e-6)
            assert float(summary.regated_retention[k]) <= float(summary.retention[k]) + 1e-6


def test_lambda_ewc_sweep_compiles_once(tmp_path):
    base = flexible(tau_c=1.3, lambda_nonneg=0.0, lambda_norm=0.0, t_total=3.0, n_save=13,
                    engine=ContinualScan(penalty=OnlineEWC()))
    sweep = Sweep(base, (make_axis("lambda_ewc", [0.0, 0.5, 3.0]), make_axis("ewc_decay", [0.5, 1.0])), n_seeds=2)
    before = sweep_compile_count()
    ds = run_sweep(sweep, tmp_path / "ewc.zarr", progress=False)
    assert sweep_compile_count() - before == 1
    # open_sweep replaces a field axis's own coordinate by the 2-D field coordinate, so index by position
    final = ds["final_loss"].values  # (lambda_ewc, ewc_decay, seed)
    np.testing.assert_allclose(final[0, 0], final[0, 1], rtol=1e-6)  # γ has no effect without a pull
    assert np.all(np.diff(final[:, 1].mean(-1)) > 0)  # stronger pull (γ = 1): worse fit of the current task
    before = sweep_compile_count()
    continual_sweep(sweep)
    assert sweep_compile_count() - before == 1  # the continual reducer: one more static structure


def test_comparison_ordering_at_small_size():
    """MODEL §9: EWC falls between forgetful and flexible NTA — for what the network keeps (re-gated
    retention, total alignment). It does not for plasticity: EWC adapts more slowly than forgetful."""
    methods = baselines(flexible(t_total=10.0, n_save=41), lambda_ewc=1.0, ewc_decay=1.0)
    ds = compare_methods({k: methods[k] for k in ("flexible", "forgetful", "ewc", "oracle")},
                         (make_axis("block_length", [1.0]),), n_seeds=2)
    m = ds.isel(block_length=0).mean("seed")
    late = m.isel(block=slice(5, None)).mean("block")

    def get(name, key):
        return float((late if "block" in ds[name].dims else m)[name].sel(baseline=key))

    assert get("regated_retention", "flexible") < get("regated_retention", "ewc") < get("regated_retention", "forgetful")
    assert get("final_alignment", "flexible") > get("final_alignment", "ewc") > get("final_alignment", "forgetful")
    assert get("regated_retention", "oracle") < 0.02 and get("final_alignment", "oracle") > 0.99
    assert get("adaptation_time", "ewc") > get("adaptation_time", "forgetful") > get("adaptation_time", "flexible")
    assert list(ds["needs_task_boundaries"].values) == [False, False, True, True]


@pytest.mark.slow
def test_baselines_figure_runs_at_tiny_size(tmp_path):
    from ntajax._cli.figure import FigureContext, make_figure

    result = make_figure("baselines", FigureContext(out=tmp_path, size="tiny", progress=False))
    assert [p.suffix for p in result.files] == [".png", ".pdf"]
    assert all(p.stat().st_size > 10_000 for p in result.files)
    assert "task boundaries" in result.headline

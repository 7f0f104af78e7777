"""Bad input raises a clear error naming the field, the value and the fix (nothing runs)."""

import jax.numpy as jnp
import pytest

import ntajax
from ntajax._cli.main import main, parse_assignments


N = ntajax  # the cases below build simulations lazily, inside pytest.raises


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: N.Simulation(student=N.Gated(tau_w=0.0)), "tau_w=0 must be positive"),
        (lambda: N.Simulation(student=N.Gated(tau_c=-1.0)), "tau_c=-1 must be positive"),
        (lambda: N.Simulation(student=N.Gated(tau_c=float("nan"))), "tau_c=nan must be finite"),
        (lambda: N.Simulation(regulariser=N.Regulariser(lambda_norm=float("inf"))), "lambda_norm=inf must be finite"),
        (lambda: N.Simulation(regulariser=N.Regulariser(lambda_nonneg=-0.1)), "lambda_nonneg=-0.1 must be non-negative"),
        (lambda: N.Simulation(student=N.Gated(tau_c=0.03), grid=N.TimeGrid(dt=0.1, n_save=201)),
         "dt=0.1 is too large for tau_c"),
        (lambda: N.Simulation(d_in=15), r"n_teachers·d_out ≤ d_in.*2·10 = 20 > d_in = 15"),
        (lambda: N.Simulation(curriculum=N.Blocked(block_length=1e-4)), "block_length=.* is shorter than one step dt"),
        (lambda: N.Simulation(grid=N.TimeGrid(n_save=7)), "n_save=7: the 20000 steps cannot be split"),
        (lambda: N.Simulation(grid=N.TimeGrid(t_total=1.0005)), "not a whole number of steps"),
        (lambda: N.Simulation(regulariser=N.Regulariser(norm_order=3)), "norm_order=3 must be 1 or 2"),
        (lambda: N.Simulation(student=N.Gated(n_paths=0)), "n_paths=0 must be a positive integer"),
        (lambda: N.Simulation(curriculum=N.schedule("A_B_C__AB_BC_CA__", 3, switch_block=2), n_teachers=3, d_out=6),
         "uses teacher index 5 but only 3 teachers exist"),
        (lambda: N.Simulation(engine=N.Diffrax()), "set gradient=ntajax.ExpectedGradient"),
        (lambda: N.Simulation(recording=N.Recording(n_blocks=3), curriculum=N.Blocked(block_length=1.0)),
         "n_blocks=3 is smaller than"),
    ],
)
def test_bad_config_raises(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("student", "mlp", "student='mlp' is a str; pass a student model"),
        ("gradient", "stochastic", "gradient='stochastic' is a str; pass ntajax.SampledGradient"),
        ("engine", "rk4", "engine='rk4' is a str; pass an engine"),
        ("curriculum", "A_B__", "curriculum='A_B__' is a str; pass a curriculum"),
    ],
)
def test_a_name_where_an_object_belongs_is_a_type_error(field, value, match):
    """Objects, not string switches: a name where an object belongs says which object to pass."""
    with pytest.raises(TypeError, match=match):
        ntajax.Simulation(**{field: value})


def test_non_number_traced_field_is_type_error():
    with pytest.raises(TypeError, match="expected a real number"):
        ntajax.Simulation(student=ntajax.Gated(tau_c="fast"))


def test_bad_schedule_and_curricula():
    with pytest.raises(ValueError, match="Unknown schedule 'A_B_C'"):
        ntajax.schedule("A_B_C", 3)
    with pytest.raises(ValueError, match="needs switch_block"):
        ntajax.schedule("A_B__AB__", 2)
    with pytest.raises(ValueError, match="must be 'step' or 'sample'"):
        ntajax.Interleaved(per="block")
    with pytest.raises(ValueError, match="sharpness"):
        ntajax.Smooth(sharpness=0.0)
    with pytest.raises(ValueError, match="per='sample'\\) is defined for gradient=ExpectedGradient\\(\\)"):
        ntajax.Simulation(curriculum=ntajax.Interleaved(per="sample"), gradient=ntajax.SampledGradient())


def test_bad_run_arguments(key):
    config = ntajax.Simulation(
        gradient=ntajax.ExpectedGradient(), grid=ntajax.TimeGrid(t_total=0.1, n_save=2), n_seeds=2,
    )
    with pytest.raises(ValueError, match="teachers has shape"):
        ntajax.run(config, key, teachers=jnp.zeros((3, 10, 20)))
    with pytest.raises(TypeError, match="pass jax.random.key\\(3\\)"):
        ntajax.run(config, 3)
    with pytest.raises(TypeError, match="needs a PerNeuronStudent"):
        ntajax.run(config.replace(student=ntajax.PerNeuron()), key,
                   init=ntajax.GatedStudent(W=jnp.zeros((2, 10, 20)), c=jnp.zeros(2)))


def test_cli_rejects_unknown_field_preset_and_bad_value(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown field.*Settable fields"):
        parse_assignments(["tau_x=1"])
    with pytest.raises(ValueError, match="expected a value of type float"):
        parse_assignments(["tau_c=fast"])
    out = tmp_path / "out"
    assert main(["run", "fig9", "--out", str(out)]) == 2
    assert "unknown preset 'fig9'" in capsys.readouterr().err
    assert main(["run", "fig2", "--set", "tau_c=-1", "--out", str(out)]) == 2
    assert "tau_c=-1 must be positive" in capsys.readouterr().err
    assert not out.exists()  # nothing is written when the config is invalid


def test_cli_help_mentions_presets(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "fig2" in text and "results.zarr" in text

"""MNIST (Fig. 7) throughput: CNN training and feature inference, and the gated readout.

Rows:

* ``cnn train``: AdamW steps of the spec's CNN on batches of 512 (one compiled ``lax.scan``
  over a chunk of steps); samples/s = steps·512/s, measured after compilation.
* ``cnn features``: frozen-CNN features of the 8000 training images in batches of 1000, warm.
* ``readout …``: the Fig. 7 readout, 10 seeds vmapped, 10 000 steps of B = 100 (t_tot = 1000,
  dt = 0.1), test accuracy on the whole test part recorded every k steps. ``first`` is
  compile + run of the flexible preset, ``warm`` the forgetful preset in the same program
  (no recompilation). samples/s = seeds·steps·B/s, student-steps/s = seeds·steps/s.

Data: the shipped 10 000-image split (or ``$NTAJAX_MNIST_DIR``). The readout uses features
of a 100-step CNN (cached under ``$NTAJAX_CACHE_DIR/mnist``); its speed does not depend on
the CNN's quality. Usage: ``python bench/bench_mnist.py [--cnn-steps 100]``.
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def bench_cnn(data, n_steps: int) -> list[dict]:
    from ntajax.mnist import CNN, CNNConfig, extract_features
    from ntajax.mnist import _cnn

    config = CNNConfig()
    chunk = 10
    model = CNN(config, key=jax.random.key(0))
    opt_state = _cnn._optimiser(config).init(eqx.filter(model, eqx.is_inexact_array))
    images = jnp.asarray(data.train_images)
    labels = jnp.asarray(data.train_labels, jnp.int32)
    batches = _cnn.epoch_batches(jax.random.key(1), images.shape[0], config.batch_size, n_steps + chunk)
    start = time.perf_counter()
    model, opt_state, loss = _cnn._train_chunk(model, opt_state, images, labels, batches[:chunk], config)
    jax.block_until_ready(loss)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(1, n_steps // chunk + 1):
        model, opt_state, loss = _cnn._train_chunk(model, opt_state, images, labels,
                                                   batches[i * chunk:(i + 1) * chunk], config)
    jax.block_until_ready(loss)
    warm = time.perf_counter() - start
    steps = (n_steps // chunk) * chunk
    rows = [dict(name="cnn train (B = 512)", first=first, warm=warm, samples=steps * config.batch_size, steps=None,
                 note=f"{steps} steps; 3000 steps ≈ {3000 * warm / steps:.0f} s")]
    extract_features(model, data.train_images[:1000])  # compile
    start = time.perf_counter()
    extract_features(model, data.train_images)
    warm = time.perf_counter() - start
    rows.append(dict(name="cnn features", first=float("nan"), warm=warm, samples=len(data.train_images), steps=None,
                     note=f"{len(data.train_images)} images, batches of 1000"))
    return rows


def bench_readout(features, record_every: int) -> dict:
    from ntajax import TimeGrid
    from ntajax.mnist import fig7_presets, run_readout

    grid = TimeGrid(dt=0.1, t_total=1000.0, n_save=10_000 // record_every + 1)
    configs = fig7_presets(grid=grid)
    flexible, forgetful = configs["flexible"], configs["forgetful"]
    start = time.perf_counter()
    jax.block_until_ready(run_readout(flexible, features, key=0))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(run_readout(forgetful, features, key=0))
    warm = time.perf_counter() - start
    steps = forgetful.n_seeds * forgetful.n_steps
    label = "no test records" if record_every == forgetful.n_steps else f"record every {record_every}"
    return dict(name=f"readout, {label}", first=first, warm=warm, samples=steps * forgetful.batch_size, steps=steps,
                note=f"{forgetful.n_records} records × {features.test.shape[0]} test images × 10 seeds")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnn-steps", type=int, default=100, help="timed CNN training steps (default 100)")
    args = parser.parse_args(argv)
    from ntajax.mnist import CNNConfig, load_mnist, mnist_features

    data = load_mnist()
    rows = bench_cnn(data, args.cnn_steps)
    features = mnist_features(data, CNNConfig(n_steps=100, batch_size=256))
    for record_every in (10_000, 10, 1):
        rows.append(bench_readout(features, record_every))
    print(f"{'what':<30} {'samples/s':>12} {'student-steps/s':>16} {'compile+1st':>12} {'warm':>8}  notes")
    for r in rows:
        rate = r["samples"] / r["warm"]
        steps = f"{r['steps'] / r['warm']:,.0f}" if r["steps"] else "-"
        first = f"{r['first']:.2f}s" if np.isfinite(r["first"]) else "-"
        print(f"{r['name']:<30} {rate:>12,.0f} {steps:>16} {first:>12} {r['warm']:>7.2f}s  {r['note']}")
    print(f"devices: {', '.join(str(d) for d in jax.devices())}; data: {len(data.train_images)} train / "
          f"{len(data.test_images)} test images; timings on a shared machine are noisy")


if __name__ == "__main__":
    main()

"""Running sweep chunks on a dask cluster (``run_sweep(..., scheduler=...)``, ``--scheduler``).

How it works
------------
:func:`run_on_cluster` connects a ``dask.distributed.Client`` to the scheduler and submits
one task per pending chunk; each task calls
:func:`ntajax._sweep.sweep.compute_chunk` ``(sweep, index, chunk_size, n_devices=1)`` on a
worker and returns that chunk's summaries as small numpy arrays. Results are gathered
as chunks finish (in any order) and handed back to the driver, which alone writes the
zarr store, so workers need no shared filesystem and never touch the store. Because
``compute_chunk`` is pure in ``(sweep, index, chunk_size)``, the results equal those of a
local run with the same chunk size, and a chunk may safely run twice:

* tasks are submitted with ``pure=False`` and a few ``retries``, so a chunk whose task
  raised (e.g. a worker ran out of memory) is tried again;
* when a worker dies, the scheduler reschedules the tasks it was running or holding
  results of (dask does this on its own), and a Nanny restarts the worker process.

Each worker process traces and compiles the sweep program once per static structure
(JAX's in-process cache) and reuses it for every later chunk it runs; use enough points
per chunk that this one-off cost per worker is small next to the run time. Each worker
uses one device (``n_devices=1``); give every worker its own accelerator.

Chunks that are already stored are never submitted, so an interrupted cluster run is
resumed by running the same command again (even with a different scheduler).

``scheduler`` forms
-------------------
* ``"local:N"``: start a ``LocalCluster`` of N single-threaded worker processes on this
  machine for the duration of the call (closed afterwards, also on error or interrupt).
  Worker processes are spawned, so a script using it needs the usual
  ``if __name__ == "__main__":`` guard (the ``ntajax`` command has it).
* an address of a running scheduler: ``"tcp://host:8786"`` (also ``tls://``, ``ucx://``,
  ``ws://``, ``wss://``, ``inproc://``) or ``"host:8786"``. The workers must be able to
  import the same ntajax version.

SLURM (dask-jobqueue)
---------------------
Start the cluster in a Python session (or a small script) on the login node::

    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(
        cores=1, processes=1, memory="8GB", walltime="04:00:00",
        job_extra_directives=["--gres=gpu:1"],   # one accelerator per worker
        python="/path/to/venv/bin/python",      # an environment with ntajax installed
    )
    cluster.scale(jobs=16)                       # 16 SLURM jobs, one worker each
    print(cluster.scheduler_address)             # e.g. tcp://10.0.0.5:40123

and pass that address to the sweep, keeping the session alive while it runs::

    ntajax sweep ... --scheduler tcp://10.0.0.5:40123

Jobs that hit their walltime or are preempted lose their running chunks; dask
reschedules them on the remaining workers, and an interrupted sweep resumes from its
store.
"""

import os
import re
import uuid
from collections.abc import Iterator

import numpy as np

from .sweep import Sweep, compute_chunk

RETRIES = 3
"""How often a chunk whose task raised is retried before the sweep fails."""

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss|inproc)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)(?::\d+)?(?:/\S*)?")
_FORMS = "'local:N' (N ≥ 1 worker processes on this machine) or a dask scheduler address such as 'tcp://host:8786'"


def parse_scheduler(scheduler: str) -> tuple[str, int | str]:
    """``("local", n_workers)`` or ``("address", address)``; ValueError for anything else."""
    if not isinstance(scheduler, str):
        raise ValueError(f"scheduler={scheduler!r} must be a string: {_FORMS}.")
    text = scheduler.strip()
    if text.lower().startswith("local"):
        match = _LOCAL.fullmatch(text)
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"invalid scheduler {scheduler!r}; expected {_FORMS}.")
        return "local", int(match.group(1))
    if not text or _ADDRESS.fullmatch(text) is None:
        raise ValueError(f"invalid scheduler {scheduler!r}; expected {_FORMS}.")
    return "address", text


def _import_distributed():
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            'running a sweep on a dask cluster needs dask.distributed: pip install "ntajax[cluster]"'
        ) from error
    return distributed


def run_on_cluster(
    sweep: Sweep, pending: list[int], chunk_size: int, scheduler: str
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Compute the ``pending`` chunks of ``sweep`` on a dask cluster.

    Returns a generator yielding ``(chunk_index, summaries)`` as chunks finish, in any
    order; ``summaries`` is :func:`~ntajax._sweep.sweep.compute_chunk`'s dict. Nothing is
    started until it is iterated, and a ``"local:N"`` cluster lives until it is exhausted
    or closed. The scheduler string is checked (and dask imported) on the call itself.

    Args:
        sweep: the sweep.
        pending: indices of the chunks to compute.
        chunk_size: points per chunk (the store's chunking).
        scheduler: ``"local:N"`` or a dask scheduler address, see the module docstring.

    Raises:
        ValueError: ``scheduler`` is not one of the accepted forms.
        ImportError: dask.distributed is not installed.
    """
    kind, value = parse_scheduler(scheduler)  # validated when called, before anything starts
    distributed = _import_distributed()
    return _run(distributed, sweep, [int(i) for i in pending], chunk_size, kind, value, scheduler)


def _run(distributed, sweep, pending, chunk_size, kind, value, scheduler):
    if not pending:
        return
    cluster = None
    client = None
    futures = {}
    try:
        if kind == "local":
            cluster = distributed.LocalCluster(
                n_workers=value,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # N processes may share one accelerator: none may grab most of its memory.
                env={"XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "false")},
            )
            client = distributed.Client(cluster, set_as_default=False)
        else:
            client = distributed.Client(value, set_as_default=False)
        token = sweep.fingerprint()[:8]
        futures = {
            client.submit(
                compute_chunk, sweep, index, chunk_size, n_devices=1,
                pure=False, retries=RETRIES, key=f"ntajax-sweep-{token}-chunk-{index}-{uuid.uuid4().hex[:8]}",
            ): index
            for index in pending
        }
        results = distributed.as_completed(list(futures), loop=client.loop, with_results=True, raise_errors=False)
        for future, result in results:
            index = futures.pop(future)
            if future.status == "error":
                _, error, traceback = result
                error = error.with_traceback(traceback)
                error.add_note(f"while computing sweep chunk {index} on the dask cluster ({scheduler})")
                raise error
            if future.status != "finished":
                raise RuntimeError(f"sweep chunk {index} was {future.status} on the dask cluster ({scheduler}).")
            future.release()
            yield index, result
    finally:
        if client is not None:
            if futures:
                try:
                    client.cancel(list(futures), force=True)
                except Exception:  # noqa: BLE001 - best effort while shutting down
                    pass
            client.close()
        if cluster is not None:
            cluster.close()


"""GAN training under ``tf.distribute`` (``augkit train --strategy default|mirrored|multiworker``).

``mirrored`` trains on every GPU of this machine (on a CPU-only machine: every logical CPU
device, one unless split), ``multiworker`` on every device of the machines that ``TF_CONFIG``
names. A plugin that supports it builds its networks and optimizers in ``scope()``, feeds its
training step through ``split_batches`` (each replica gets its slice of the global batch), and
writes its step so that with several replicas it computes what one device computes on the
global batch:

- a loss is each replica's share of the global mean (``replica_share``; Keras' own losses do
  this already), so the gradients the optimizer sums over replicas are the global batch's;
  the logged values are the per-replica means (``unscaled``), which Keras averages;
- batch norm is synchronised across replicas (``synchronized_norm``): statistics of the global
  batch;
- a random draw per sample (flip, dropout, DiffAugment) is made for the whole global batch and
  each replica keeps its rows (``global_rows``), so sample i gets the same draw whatever the
  number of replicas.

With one replica every helper is the identity, so ``default`` trains exactly as before (same
bytes). TensorFlow is imported only when a strategy is asked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from augkit.errors import UsageError

STRATEGIES = ("default", "mirrored", "multiworker")
_ACTIVE: list[Any] = []  # the strategy of the training in progress (a stack: nested is refused)


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}. Received: {name!r}")
    if name == "multiworker":
        worker_task()  # a missing or bad TF_CONFIG fails before anything is read or trained
    return name


def worker_task() -> tuple[str, int]:
    """This process's (task type, index) from ``TF_CONFIG``; refused in one line without it."""
    raw = os.environ.get("TF_CONFIG")
    try:
        config = json.loads(raw or "")
        task = config["task"]
        workers = config["cluster"]["worker"]
        kind, index = str(task["type"]), int(task["index"])
        if not isinstance(workers, list) or not workers:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            "--strategy multiworker needs TF_CONFIG naming the cluster and this worker, e.g. "
            "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, \"task\": "
            f"{{\"type\": \"worker\", \"index\": 0}}}}'. Received: {raw!r}") from None
    return kind, index


def is_chief(strategy: str) -> bool:
    """Whether this process writes the checkpoints and the model: the ``chief`` task, or worker
    0 when the cluster has no chief. True outside multi-worker training."""
    if strategy != "multiworker":
        return True
    kind, index = worker_task()
    has_chief = "chief" in json.loads(os.environ["TF_CONFIG"])["cluster"]
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)


def _make(name: str):
    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextmanager
def training_strategy(name: str) -> Iterator[Any]:
    """Train under strategy ``name`` inside this block (``default``: as before, no strategy)."""
    check_strategy(name)
    if name == "default":
        yield None
        return
    if _ACTIVE:
        raise UsageError("a distributed training is already running in this process.")
    strategy = _make(name)
    _ACTIVE.append(strategy)
    try:
        yield strategy
    finally:
        _ACTIVE.pop()


def active():
    """The strategy of the training in progress, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


def scope():
    """Where a plugin builds its networks and optimizers (mirrored variables under a strategy)."""
    strategy = active()
    return strategy.scope() if strategy is not None else nullcontext()


def split_batches(train_on_batch: Callable[..., Any]) -> Callable[..., Any]:
    """``train_on_batch`` fed so that replica r gets rows [r·b, (r+1)·b) of each global batch
    array (b = batch / replicas); unchanged with one replica."""
    strategy = active()
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return train_on_batch
    replicas = strategy.num_replicas_in_sync

    def step(*arrays, **kwargs):
        if len(arrays[0]) % replicas:
            raise UsageError(f"the batch of {len(arrays[0])} does not split over {replicas} replicas. "
                             f"Fix: --set batch_size=<a multiple of {replicas}>.")
        local = len(arrays[0]) // replicas

        def rows(array):
            return strategy.experimental_distribute_values_from_function(
                lambda ctx: array[ctx.replica_id_in_sync_group * local:(ctx.replica_id_in_sync_group + 1) * local])

        logs = train_on_batch(*(rows(a) for a in arrays), **kwargs)
        # back to plain numbers (multi-worker logs come back as 1-element arrays, see log_value)
        return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in logs.items()}

    return step


# ---- inside a training step (replica context)

def num_replicas() -> int:
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_share(value):
    """A mean over this replica's rows as its share of the global mean (summed by the optimizer)."""
    n = num_replicas()
    return value if n == 1 else value * (1.0 / n)


def unscaled(value):
    """A replica's share back to its own mean, for the logs (Keras averages them over replicas)."""
    n = num_replicas()
    return value if n == 1 else value * float(n)


def log_value(value):
    """A step's logged scalar as Keras can reduce it: across workers it takes the mean along
    axis 0, which a scalar lacks (Keras 3.15 fails there), so there it is a 1-element array."""
    import tensorflow as tf

    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return tf.reshape(value, (1,))
    return value


def synchronized_norm() -> bool:
    """Batch norm over the global batch (built in ``scope()``, so the replicas are known)."""
    return num_replicas() > 1


def global_rows(fn: Callable[[Any], Any], x):
    """``fn`` (a random op drawn per row, e.g. a flip or a dropout mask) applied as to the whole
    global batch, keeping this replica's rows: the other replicas' rows are zeros here, which
    only the draws' shape needs."""
    n = num_replicas()
    if n == 1:
        return fn(x)
    import tensorflow as tf

    local = tf.shape(x)[0]
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group

    def zeros(count):
        return tf.zeros(tf.concat([[count], tf.shape(x)[1:]], 0), x.dtype)

    # concat, not pad: the rows' static shape (which DiffAugment reads) stays known
    full = tf.concat([zeros(replica * local), x, zeros((n - 1 - replica) * local)], 0)
    return fn(full)[replica * local:(replica + 1) * local]

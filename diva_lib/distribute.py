"""Several devices through TensorFlow's own `tf.distribute` strategies, chosen by one setting.

`DIVA_STRATEGY` (or the `name` argument): "auto" (default) takes `MultiWorkerMirroredStrategy`
when `TF_CONFIG` names several machines, `MirroredStrategy` on the local GPUs when there are any,
and TensorFlow's default (single-device) strategy on a CPU-only machine; "mirrored",
"multiworker" and "default" force one. Batch sizes are per replica: the global batch scales with
the replica count, so every replica sees the batches a single device would, and the attacks'
per-image results do not depend on the number of devices.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import tensorflow as tf

from diva_lib.attacks import Attack, AttackResult, settle

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def strategy(name: str | None = None) -> tf.distribute.Strategy:
    """The distribution strategy of this run (see the module docstring).

    Example:
        >>> with strategy().scope():  # doctest: +SKIP
        ...     model = build_model("mobilenet", 1000, 224, "imagenet")
    """
    name = name or os.environ.get("DIVA_STRATEGY", "auto")
    if name not in STRATEGIES:
        raise ValueError(f"DIVA_STRATEGY={name!r} is unknown; use one of {STRATEGIES}")
    if name == "auto":
        workers = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", [])
        name = "multiworker" if len(workers) > 1 else "mirrored" if tf.config.list_logical_devices("GPU") else "default"
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


@functools.cache
def current() -> tf.distribute.Strategy:
    """The strategy of this process, created once (models built under it share its devices)."""
    return strategy()


def global_batch(per_replica: int, strat: tf.distribute.Strategy | None = None) -> int:
    """The batch all replicas of a step share: the per-replica batch times the replica count."""
    return per_replica * (strat or tf.distribute.get_strategy()).num_replicas_in_sync


def craft(attack: Attack, x: np.ndarray, y: np.ndarray, per_replica_batch: int, strat: tf.distribute.Strategy,
          keep_final: bool = False) -> AttackResult:
    """`attack`'s first-success result, each global batch split into contiguous per-replica shards.

    Shard r of a global batch holds the images a single device would attack in its r-th batch of
    `per_replica_batch`; every replica runs the attack's own compiled step for all steps (an image
    that succeeded stops changing what it keeps), and `strategy.gather` merges the shards in
    replica order, so the result equals a single-device `attack.run(x, y, per_replica_batch)`.
    The attack's models must have been built under `strat.scope()`.
    """
    n_rep = strat.num_replicas_in_sync

    def steps(x0, yb):
        minus_one = strat.run(lambda t: tf.fill(tf.shape(t), tf.constant(-1, tf.int64)), args=(yb,))
        xa, state = x0, [strat.run(tf.zeros_like, args=(x0,)), x0, minus_one, x0, minus_one]
        for k in range(attack.steps):
            xa, *state = strat.run(lambda *a, k=k: attack._advance_fn(*a, tf.constant(k, tf.int64)),
                                   args=(xa, x0, yb, *state))
        return [strat.gather(t, axis=0).numpy() for t in (xa, *state[1:])]

    parts = []
    for s in range(0, len(x), global_batch(per_replica_batch, strat)):
        xb, yb = x[s : s + n_rep * per_replica_batch], y[s : s + n_rep * per_replica_batch].astype(np.int64)
        bounds = [(min(r * per_replica_batch, len(xb)), min((r + 1) * per_replica_batch, len(xb)))
                  for r in range(n_rep)]
        # a replica left without images gets one copy of the batch's first (discarded): no replica sees an empty batch
        shards = [(a, b) if b > a else (0, 1) for a, b in bounds]

        def shard(ctx, arr, shards=shards):
            a, b = shards[ctx.replica_id_in_sync_group]
            return tf.constant(arr[a:b])

        x0 = strat.experimental_distribute_values_from_function(lambda ctx, a=xb: shard(ctx, np.asarray(a)))
        y0 = strat.experimental_distribute_values_from_function(lambda ctx, a=yb: shard(ctx, a))
        offsets = np.cumsum([0] + [b - a for a, b in shards])
        parts.append([np.concatenate([m[offsets[r] : offsets[r] + b - a] for r, (a, b) in enumerate(bounds)])
                      for m in steps(x0, y0)])
    if not parts:
        empty = np.zeros((0, *np.shape(x)[1:]), np.float32)
        return AttackResult(empty, np.zeros(0, np.int64), empty, np.zeros(0, np.int64), empty)
    final, kept, first, evaded, evade_step = (np.concatenate(a) for a in zip(*parts, strict=True))
    settle(attack, final, np.asarray(y, np.int64), kept, first, evaded, evade_step)
    return AttackResult(kept, first, evaded, evade_step, final if keep_final else final[:0])

"""L∞ evasion attacks on a pair of models (original, adapted): PGD, DIVA and baselines.

Every attack is a small class on one base, `Attack`: projected gradient ascent of a per-example
loss, batched, with the whole step compiled by `tf.function`. Images are in [0, 1]; models take
[0, 1] images (their preprocessing is a layer inside them), so the ε-ball and the pixel range
are enforced in the space the attacker controls. Runs are memoised in an `ArrayCache` keyed
by the attack, its parameters, both models' weights and the images, so a rerun with nothing
changed reads its adversarial images instead of recomputing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm

from diva_lib import models, paper
from diva_lib.cache import ArrayCache, digest, fingerprint
from diva_lib.models import eager
from diva_lib.stream import ImageSet

_EPS = 1e-12
PROTOCOL = "first-success/1"  # part of every stored run's key: a change of protocol never reads an older run


@dataclass
class AttackResult:
    """Per image: the image kept, the step of its first success on the crafting pair (−1: none), the final iterate.

    As in the authors' `WBattack.py`, an image is kept at the first step at which the crafting
    pair's original is correct and its adapted model is wrong; an image that never gets there
    keeps its final iterate. `x_evade` is kept by the same first-event rule on Table 2's own
    criterion (the crafting pair's adapted model is wrong, whatever the original says).
    `x_final` holds every image's final iterate when the run kept it (`keep_final`), otherwise it
    is empty.
    """

    x_adv: np.ndarray
    first_step: np.ndarray  # (N,) int64 in [-1, steps]
    x_evade: np.ndarray
    evade_step: np.ndarray  # (N,) int64 in [-1, steps]
    x_final: np.ndarray


def _classes(model: tf_keras.Model) -> int:
    return int(model.output_shape[-1])


class Attack:
    """Projected gradient ascent in an L∞ ball of radius `eps` around natural images, stopped at first success."""

    def __init__(self, original: tf_keras.Model, adapted: tf_keras.Model, *, eps: float = paper.ATTACK.eps,
                 step: float = paper.ATTACK.step, steps: int = paper.ATTACK.steps, random_start: bool = False,
                 seed: int = 0):
        if not eps > 0:
            raise ValueError(f"eps={eps} must be > 0 (the paper uses 8/255)")
        if not step > 0:
            raise ValueError(f"step={step} must be > 0 (the paper uses 1/255)")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps={steps!r} must be an integer >= 1 (the paper uses 20)")
        if _classes(original) != _classes(adapted):
            raise ValueError(f"original has {_classes(original)} classes but adapted has {_classes(adapted)}; "
                             "attack a pair of models of the same task")
        self.original, self.adapted = original, adapted
        self.eps, self.step, self.steps = float(eps), float(step), steps
        self.random_start, self.seed = random_start, seed
        image = tf.TensorSpec([None, *original.input_shape[1:]], tf.float32)
        label = tf.TensorSpec([None], tf.int64)
        self._advance_fn = tf.function(self._advance, input_signature=[
            image, image, label, image, image, label, image, label, tf.TensorSpec([], tf.int64)])
        self._predict_fn = tf.function(self._predict_both, input_signature=[image])
        self._gradient_fn = tf.function(self._gradient, input_signature=[image, label])

    def name(self) -> str:
        """Short name for tables."""
        return type(self).__name__

    def params(self) -> dict[str, float | int | bool | str]:
        """Every hyperparameter that changes the adversarial images."""
        return {k: v for k, v in vars(self).items() if isinstance(v, float | int | bool | str)}

    def loss(self, p_orig: tf.Tensor, p_adapted: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Per-example loss to maximise, from both models' softmax outputs."""
        raise NotImplementedError

    def direction(self, grad: tf.Tensor, velocity: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Ascent direction from the gradient (signed gradient for L∞), and the updated velocity."""
        return tf.sign(grad), velocity

    def _advance(self, x, x0, y, velocity, kept, first, evaded, evade_step, k):
        """One step from x = x_k; x_k is kept where the pair first succeeds on it (original right, adapted wrong)

        and, separately, where the adapted model is first wrong on it.
        """
        with tf.GradientTape() as tape:
            tape.watch(x)
            p_orig, p_adapted = self.outputs(x)
            loss = self.loss(p_orig, p_adapted, y)
        grad = tape.gradient(loss, x)
        d, velocity = self.direction(grad, velocity)
        x_new = tf.clip_by_value(tf.clip_by_value(x + self.step * d, x0 - self.eps, x0 + self.eps), 0.0, 1.0)
        wrong = tf.argmax(p_adapted, 1) != y
        hit = (tf.argmax(p_orig, 1) == y) & wrong & (first < 0)
        miss = wrong & (evade_step < 0)
        return (x_new, velocity, tf.where(hit[:, None, None, None], x, kept), tf.where(hit, k, first),
                tf.where(miss[:, None, None, None], x, evaded), tf.where(miss, k, evade_step))

    def _gradient(self, x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = self.loss(*self.outputs(x), y)
        return tape.gradient(loss, x)

    def gradient(self, x: np.ndarray | ImageSet, y: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The gradient of the loss with respect to each image at `x`: what the first step ascends (its sign).

        Example:
            >>> masked = (PGD(fp32, qat).gradient(x, y) == 0).mean()  # doctest: +SKIP
        """
        x = x if isinstance(x, ImageSet) else np.asarray(x, np.float32)
        y = np.asarray(y, np.int64)
        self._check(x, y)
        self._ready()
        parts = [self._gradient_fn(np.asarray(x[s : s + batch_size], np.float32), y[s : s + batch_size]).numpy()
                 for s in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, *np.shape(x)[1:]), np.float32)

    def outputs(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """What the loss reads from the original and the adapted model: their softmax outputs."""
        return self.original(x, training=False), self.adapted(x, training=False)

    def _ready(self) -> None:
        """Build lazy models before a step is traced."""
        eager(self.original), eager(self.adapted)

    def _predict_both(self, x):
        return tf.stack([tf.argmax(self.original(x, training=False), 1),
                         tf.argmax(self.adapted(x, training=False), 1)])

    def _check(self, x: np.ndarray | ImageSet, y: np.ndarray) -> None:
        if x.ndim != 4 or y.shape != (len(x),):
            raise ValueError(f"images {x.shape} and labels {y.shape} must be (N, H, W, C) and (N,)")
        if isinstance(x, np.ndarray) and x.size and (x.min() < 0.0 or x.max() > 1.0):
            raise ValueError(f"images must be in [0, 1], got [{x.min():.3f}, {x.max():.3f}]")
        if y.size and (y.min() < 0 or y.max() >= _classes(self.adapted)):
            raise ValueError(f"labels must be in [0, {_classes(self.adapted)}), got [{y.min()}, {y.max()}]")

    def run(self, x: np.ndarray | ImageSet, y: np.ndarray, batch_size: int = 64, progress: bool = True,
            keep_final: bool = False, cache: ArrayCache | None = None) -> AttackResult:
        """Attack all images in batches, keeping each at its first success on the crafting pair.

        Without `keep_final` an image leaves its batch once it succeeds (the rest of the batch
        goes on, which saves work); with it every image runs all steps and its final iterate is
        kept too, for the final-iterate view. Models built under a strategy with several replicas
        split each batch across them (`distribute.craft`, `batch_size` per replica). `x` may be
        an `ImageSet`, decoded a batch at a time. The result is read from or stored in `cache`
        (default: `ArrayCache()`).
        """
        x = x if isinstance(x, ImageSet) else np.asarray(x, np.float32)
        y = np.asarray(y, np.int64)
        self._check(x, y)
        key = digest(PROTOCOL, type(self).__name__, self.params(), keep_final, batch_size, x, y,
                     fingerprint(self.original), fingerprint(self.adapted))
        arrays = (cache or ArrayCache()).get_or_compute(
            self.name(), key, lambda: vars(self._craft(x, y, batch_size, progress, keep_final)))
        return AttackResult(**arrays)

    def _craft(self, x: np.ndarray | ImageSet, y: np.ndarray, batch_size: int, progress: bool,
               keep_final: bool) -> AttackResult:
        self._ready()
        strat = eager(self.adapted).distribute_strategy
        if strat.num_replicas_in_sync > 1:
            from diva_lib import distribute  # it builds on this module

            return distribute.craft(self, x, y, batch_size, strat, keep_final)
        rng = np.random.default_rng(self.seed)
        parts = []
        for s in tqdm(range(0, len(x), batch_size), desc=self.name(), leave=False, disable=not progress):
            x0, yb = np.asarray(x[s : s + batch_size], np.float32), y[s : s + batch_size]
            xa = x0.copy()
            if self.random_start:
                xa = np.clip(x0 + rng.uniform(-self.eps, self.eps, x0.shape).astype(np.float32), 0.0, 1.0)
            parts.append((*self._batch(xa, x0, yb, keep_final), xa if keep_final else xa[:0]))
        if not parts:
            empty = np.zeros((0, *np.shape(x)[1:]), np.float32)
            return AttackResult(empty, np.zeros(0, np.int64), empty, np.zeros(0, np.int64), empty)
        return AttackResult(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))

    def _batch(self, xa: np.ndarray, x0: np.ndarray, y: np.ndarray, keep_final: bool) -> tuple[np.ndarray, ...]:
        """Run one batch in place on `xa` (it ends as the final iterate of the images still running).

        Returns the kept images, their first-success steps, the first-evasion images and steps.
        """
        state = [np.zeros_like(x0), xa.copy(), np.full(len(y), -1, np.int64), xa.copy(), np.full(len(y), -1, np.int64)]
        for k in range(self.steps):
            idx = np.arange(len(y)) if keep_final else np.flatnonzero(state[2] < 0)
            if not len(idx):
                break
            out = self._advance_fn(xa[idx], x0[idx], y[idx], *(a[idx] for a in state), tf.constant(k, tf.int64))
            xa[idx] = out[0].numpy()
            for a, t in zip(state, out[1:], strict=True):
                a[idx] = t.numpy()
        _, kept, first, evaded, evade_step = state
        settle(self, xa, y, kept, first, evaded, evade_step)
        return kept, first, evaded, evade_step

    def __call__(self, x: np.ndarray, y: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Adversarial images (first success) for a batch."""
        return self.run(x, y, batch_size, progress=False).x_adv


def settle(attack: Attack, final: np.ndarray, y: np.ndarray, kept: np.ndarray, first: np.ndarray,
           evaded: np.ndarray, evade_step: np.ndarray) -> None:
    """Check the final iterate x_T like every other step, in place; images with no event keep x_T."""
    idx = np.flatnonzero((first < 0) | (evade_step < 0))
    if not len(idx):
        return
    pred = attack._predict_fn(final[idx]).numpy()
    wrong = pred[1] != y[idx]
    for img, step, event in ((kept, first, (pred[0] == y[idx]) & wrong), (evaded, evade_step, wrong)):
        open_ = step[idx] < 0
        step[idx[open_ & event]] = attack.steps
        img[idx[open_]] = final[idx[open_]]


def _true_prob(p: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    return tf.gather(p, y, axis=1, batch_dims=1)


def _ce(p: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    return -tf.math.log(_true_prob(p, y) + _EPS)


class PGD(Attack):
    """Madry et al. PGD on the adapted model: maximise its cross-entropy."""

    def loss(self, p_orig, p_adapted, y):
        return _ce(p_adapted, y)


class DIVA(Attack):
    """Differential evasive attack: maximise p_orig[y] − c·p_adapted[y] (paper Eq. 5)."""

    def __init__(self, original, adapted, *, c: float = 1.0, **kw):
        self._c = tf.Variable(0.0, trainable=False, dtype=tf.float32)
        self.c = c
        super().__init__(original, adapted, **kw)

    @property
    def c(self) -> float:
        """Weight of the adapted model's term; setting it reuses the compiled step (e.g. in a sweep over c)."""
        return float(self._c.numpy())

    @c.setter
    def c(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"c={value} must be >= 0 (the paper's default is 1)")
        self._c.assign(float(value))

    def params(self) -> dict[str, float | int | bool | str]:
        """Every hyperparameter that changes the adversarial images, c included."""
        return {**super().params(), "c": self.c}

    def loss(self, p_orig, p_adapted, y):
        return _true_prob(p_orig, y) - self._c * _true_prob(p_adapted, y)


class TargetedDIVA(DIVA):
    """DIVA plus a term pulling the adapted model toward one target class (paper §6)."""

    def __init__(self, original, adapted, *, target: int, target_weight: float = 1.0, **kw):
        self._target = tf.Variable(0, trainable=False, dtype=tf.int32)
        super().__init__(original, adapted, **kw)
        self.target = target
        if not target_weight >= 0:
            raise ValueError(f"target_weight={target_weight} must be >= 0")
        self.target_weight = float(target_weight)

    @property
    def target(self) -> int:
        """The target class; setting it reuses the compiled step (e.g. in a loop over target people)."""
        return int(self._target.numpy())

    @target.setter
    def target(self, value: int) -> None:
        if not 0 <= value < _classes(self.adapted):
            raise ValueError(f"target={value} must be a class index in [0, {_classes(self.adapted)})")
        self._target.assign(int(value))

    def params(self) -> dict[str, float | int | bool | str]:
        """Every hyperparameter that changes the adversarial images, the target included."""
        return {**super().params(), "target": self.target}

    def loss(self, p_orig, p_adapted, y):
        return super().loss(p_orig, p_adapted, y) + self.target_weight * tf.gather(p_adapted, self._target, axis=1)


class MomentumPGD(PGD):
    """Momentum iterative PGD (Dong et al.): velocity = μ·velocity + g/‖g‖₁, step along its sign."""

    def __init__(self, original, adapted, *, momentum: float = 0.5, **kw):
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum={momentum} must be in [0, 1] (§5.4 uses 0.5)")
        self.momentum = float(momentum)
        super().__init__(original, adapted, **kw)

    def direction(self, grad, velocity):
        l1 = tf.reduce_sum(tf.abs(grad), axis=[1, 2, 3], keepdims=True)
        velocity = self.momentum * velocity + grad / (l1 + _EPS)
        return tf.sign(velocity), velocity


class CWLinf(Attack):
    """Carlini-Wagner margin loss under L∞ PGD: max_{j≠y} z_j − z_y on the adapted model's logits z.

    The logits are the model's own (`models.logits`), not log-probabilities: where the softmax
    saturates (the true class at exactly 1 in float32, the others at 0) log-probabilities are
    constant and give no gradient, while the logits still do.
    """

    def __init__(self, original, adapted, **kw):
        super().__init__(original, adapted, **kw)
        self.margin_of = "logits"  # in params(): memoised runs on log-probabilities are not reused
        self._logits = None

    def _ready(self) -> None:
        super()._ready()
        self._logits = self._logits or models.logits(eager(self.adapted))

    def outputs(self, x):
        return self.original(x, training=False), self._logits(x)

    def loss(self, p_orig, z_adapted, y):
        other = tf.reduce_max(z_adapted - 1e9 * tf.one_hot(y, tf.shape(z_adapted)[1]), axis=1)
        return other - _true_prob(z_adapted, y)


ATTACKS = {"pgd": PGD, "diva": DIVA, "momentum_pgd": MomentumPGD, "cw_linf": CWLinf, "targeted_diva": TargetedDIVA}

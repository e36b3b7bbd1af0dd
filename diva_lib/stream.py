"""ImageNet-scale data as a stream: image files decoded batch by batch through `tf.data`, never held whole.

The `paper` profile's splits (20,000 training, 12,811 surrogate, 3,000 test images at 224×224)
would take about 21 GB as float32 arrays. An `ImageSet` keeps only file names and labels; its
`dataset` decodes, resizes and centre-crops on the fly (Keras' evaluation preprocessing: short
side to size·256/224, bilinear, then the central size×size), and slicing it decodes just the
slice, so code written for arrays (`x[i:j]`, `len(x)`) reads a few batches at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf


def decode(path: tf.Tensor, size: int) -> tf.Tensor:
    """One image file -> (size, size, 3) float32 in [0, 1]: RGB, short side resized, centre-cropped."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = round(size * 256 / 224) / tf.reduce_min(shape)
    new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), size)
    image = tf.image.resize(tf.cast(image, tf.float32), new, method="bilinear")
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    return tf.clip_by_value(image[top : top + size, left : left + size] / 255.0, 0.0, 1.0)


@dataclass(frozen=True)
class ImageSet:
    """Image files with their labels, decoded only when read (a batch, a slice, or a `tf.data` stream)."""

    files: tuple[str, ...]
    labels: np.ndarray
    size: int = 224

    def __post_init__(self) -> None:
        if len(self.files) != len(self.labels):
            raise ValueError(f"{len(self.files)} files but {len(self.labels)} labels; give one label per file")

    @classmethod
    def of(cls, files: list[Path], labels: np.ndarray, size: int = 224) -> ImageSet:
        """An image set from paths and integer labels."""
        return cls(tuple(str(f) for f in files), np.asarray(labels, np.int64), size)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The shape the decoded set would have, as an array's."""
        return len(self), self.size, self.size, 3

    @property
    def ndim(self) -> int:
        """Images are 4-D, like the arrays they stand for."""
        return 4

    def content_key(self) -> list:
        """What identifies the decoded images, for cache keys: file names, labels and size."""
        return [list(self.files), self.labels.tolist(), self.size]

    def subset(self, idx: np.ndarray) -> ImageSet:
        """The images at the given indices (still undecoded)."""
        return ImageSet(tuple(self.files[i] for i in idx), self.labels[idx], self.size)

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        """Decoded images of a slice or index array, (n, size, size, 3) float32."""
        files = self.files[key] if isinstance(key, slice) else [self.files[i] for i in np.asarray(key)]
        if not files:
            return np.zeros((0, self.size, self.size, 3), np.float32)
        return np.stack([decode(tf.constant(f), self.size).numpy() for f in files])

    def dataset(self, batch_size: int, labels: np.ndarray | None = None, shuffle_seed: int | None = None,
                repeat: int = 1) -> tf.data.Dataset:
        """(images, labels) batches decoded in parallel and prefetched; `labels` overrides (e.g. soft targets)."""
        targets = self.labels if labels is None else labels
        ds = tf.data.Dataset.from_tensor_slices((list(self.files), targets))
        if shuffle_seed is not None:
            ds = ds.shuffle(len(self), seed=shuffle_seed, reshuffle_each_iteration=True)
        ds = ds.repeat(repeat).map(lambda f, y: (decode(f, self.size), y), num_parallel_calls=tf.data.AUTOTUNE,
                                   deterministic=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

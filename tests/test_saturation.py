"""Saturation counts: unfooled images whose true class the crafting model gives a probability of exactly 1."""

import numpy as np

from diva_lib import saturation


def test_saturation_counts_unfooled_images_whose_true_class_probability_is_exactly_one():
    y = np.array([0, 0, 1, 1])
    clean = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.2, 0.8]], np.float32)
    final = np.array([[1.0, 0.0], [0.9, 0.1], [0.7, 0.3], [0.6, 0.4]], np.float32)  # the first two resist
    row = saturation.row("resnet50 pruned", y, final, clean)
    assert (row["unfooled"], row["unfooled saturated"], row["saturated"].k) == (2, 1, 2)
    first = saturation.table([row]).iloc[0]
    assert first["model"] == "resnet50 pruned" and first["of them saturated"] == 1
    assert first["saturated among all attacked images"].startswith("50.0 %")
    assert saturation.to_json([row])["resnet50 pruned"]["saturated"] == row["saturated"].as_dict()


def test_nothing_is_saturated_when_every_image_is_fooled_or_uncertain():
    y = np.array([0, 1])
    clean = np.array([[0.99, 0.01], [0.3, 0.7]], np.float32)
    final = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)
    row = saturation.row("mobilenet", y, final, clean)
    assert (row["unfooled"], row["unfooled saturated"], row["saturated"].k) == (0, 0, 0)

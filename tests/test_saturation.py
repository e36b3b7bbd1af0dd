"""Why PGD leaves images unfooled: saturated softmax outputs and gradients that are exactly zero."""

import numpy as np

from diva_lib import saturation


def test_saturation_counts_unfooled_images_by_saturation_and_by_gradient():
    y = np.array([0, 0, 1, 1])
    clean = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.2, 0.8]], np.float32)
    final = np.array([[1.0, 0.0], [0.9, 0.1], [0.7, 0.3], [0.6, 0.4]], np.float32)  # the first two resist
    grad = np.ones((4, 2, 2, 1), np.float32)
    grad[0] = 0.0  # no gradient at all
    grad[1, 0] = 0.0  # half its pixels without one
    second = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.4]], np.float32)  # fools the 1st, not the 2nd
    row = saturation.row("resnet50 pruned", y, final, clean, grad, second)
    assert (row["unfooled"], row["unfooled saturated"], row["saturated"].k) == (2, 1, 2)
    assert row["second attack"].k == 3 and row["unfooled by both"] == 1
    assert row["unfooled without gradient"] == 1 and row["zero-gradient pixels"] == 0.75  # median of 1 and 0.5
    first = saturation.table([row]).iloc[0]
    assert first["model"] == "resnet50 pruned" and first["of them saturated"] == 1
    assert first["of them without any gradient"] == 1 and first["zero-gradient pixels in them (median)"] == "75.0 %"
    assert first["saturated among all attacked images"].startswith("50.0 %")
    out = saturation.to_json([row])["resnet50 pruned"]
    assert out["saturated"] == row["saturated"].as_dict() and out["unfooled_without_gradient"] == 1
    assert out["second_attack_evasion"]["rate"] == 0.75 and out["unfooled_by_both"] == 1
    assert first["unfooled by both"] == 1


def test_nothing_is_counted_when_every_image_is_fooled_or_uncertain():
    y = np.array([0, 1])
    clean = np.array([[0.99, 0.01], [0.3, 0.7]], np.float32)
    final = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)
    row = saturation.row("mobilenet", y, final, clean, np.zeros((2, 2, 2, 1), np.float32), final)
    assert (row["unfooled"], row["unfooled saturated"], row["saturated"].k) == (0, 0, 0)
    assert row["unfooled without gradient"] == 0 and row["zero-gradient pixels"] is None
    assert saturation.table([row]).iloc[0]["zero-gradient pixels in them (median)"] == "–"


def test_a_saturated_softmax_still_gives_pgd_a_gradient_until_the_other_classes_underflow():
    import tf_keras

    from diva_lib import attacks

    inp = tf_keras.Input((2, 2, 1))
    model = tf_keras.Model(inp, tf_keras.layers.Dense(2, activation="softmax")(tf_keras.layers.Flatten()(inp)))
    x, y = np.full((1, 2, 2, 1), 0.5, np.float32), np.array([0])
    for scale, zero in ((20.0, False), (200.0, True)):  # logit margins of 40 and 400
        model.layers[-1].set_weights([np.tile([[scale, -scale]], (4, 1)).astype(np.float32), np.zeros(2, np.float32)])
        assert model.predict(x, verbose=0)[0, 0] == 1.0  # saturated in float32 both times
        grad = attacks.PGD(model, model).gradient(x, y)
        assert np.all(grad == 0) == zero

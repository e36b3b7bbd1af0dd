"""Threat models (§4.2–§4.4): which models the attacker crafts with, and which ones are judged."""

from __future__ import annotations

import tf_keras

from diva_lib.zoo import Surrogates, ZooEntry

THREATS = ("whitebox", "semiblackbox", "blackbox")


def crafting_pair(threat: str, entry: ZooEntry, surrogates: Surrogates | None = None
                  ) -> tuple[tf_keras.Model, tf_keras.Model]:
    """(original, adapted) the attacker differentiates through under a threat model.

    whitebox: the true original and the true QAT model; semi-blackbox: a surrogate original
    started from the adapted model's parameters and distilled from the deployed model, plus the
    true QAT model recovered from the device; blackbox: a surrogate original trained from scratch
    on the deployed model's outputs and a QAT model made from it. Success is always judged
    on the true original and the true adapted (QAT graph and int8 TFLite) models.
    """
    if threat not in THREATS:
        raise ValueError(f"threat={threat!r} is unknown; use one of {THREATS}")
    if threat == "whitebox":
        return entry.fp32, entry.qat
    if surrogates is None:
        raise ValueError(f"threat={threat!r} needs surrogates; build them with zoo.get_surrogates")
    if threat == "semiblackbox":
        return surrogates.semiblackbox, entry.qat
    return surrogates.blackbox, surrogates.blackbox_qat

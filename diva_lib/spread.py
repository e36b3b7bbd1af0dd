"""Seed spread: Table 1 and the whitebox attack on models retrained from other seeds, as mean ± standard deviation.

Each seed draws its own data split and trains its own original and QAT models, so the spread
covers everything a seed changes: the split, the initial weights and the order of the batches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diva_lib import attacks, config, evaluate, metrics, models, zoo


def summarise(values: dict[int, float]) -> dict:
    """Per-seed values with their mean and sample standard deviation (n − 1)."""
    v = np.array(list(values.values()), float)
    return {"values": {str(k): float(x) for k, x in values.items()}, "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def _seeded(arch: str, cfg: config.Profile, seed: int) -> tuple[zoo.StandIn, zoo.ZooEntry]:
    """A seed's data split and the models trained (or cached) from it."""
    data = zoo.load_data(cfg, seed)
    return data, zoo.get(arch, cfg, seed, stand_in=data)


def table1(arch: str, cfg: config.Profile, seeds: tuple[int, ...]) -> dict:
    """fp32 and int8 accuracy and instability of `arch` trained from each seed, on that seed's test split.

    Example:
        >>> table1("mobilenet", config.get_profile("default"), (0, 1, 2))["instability"]["sd"]  # doctest: +SKIP
    """
    out: dict[str, dict[int, float]] = {"fp32_acc": {}, "tflite_int8_acc": {}, "instability": {}}
    for seed in seeds:
        data, e = _seeded(arch, cfg, seed)
        p32, p8 = evaluate.predict(e.fp32, data.x_test), evaluate.predict(e.tflite, data.x_test)
        out["fp32_acc"][seed] = metrics.accuracy(p32, data.y_test).value
        out["tflite_int8_acc"][seed] = metrics.accuracy(p8, data.y_test).value
        out["instability"][seed] = metrics.instability(p32, p8, data.y_test).value
        models.release(e.fp32, e.qat)
    return {"arch": arch, "seeds": list(seeds), **{k: summarise(v) for k, v in out.items()}}


def whitebox(arch: str, cfg: config.Profile, seeds: tuple[int, ...], n: int, c: float = 1.0) -> dict:
    """Whitebox DIVA and PGD top-1 success (deployed int8, first success) for `arch` trained from each seed.

    Each seed attacks the first `n` images of its test split that its original, QAT and int8
    models all classify correctly.
    """
    out: dict[str, dict[int, float]] = {"diva_top1": {}, "pgd_top1": {}}
    n_used, kw = {}, cfg.attack.kwargs()
    for seed in seeds:
        data, e = _seeded(arch, cfg, seed)
        x, y = evaluate.select_eval_set(data.x_test, data.y_test, [e.fp32, e.qat, e.tflite], n)
        for key, atk in (("diva_top1", attacks.DIVA(e.fp32, e.qat, c=c, **kw)),
                         ("pgd_top1", attacks.PGD(e.fp32, e.qat, **kw))):
            r = evaluate.evaluate_attack(atk, e.fp32, e.qat, e.tflite, x, y, batch_size=cfg.attack_batch_size,
                                         progress=False)
            out[key][seed] = r.tflite.top1.value
        n_used[str(seed)] = len(y)
        del atk
        models.release(e.fp32, e.qat)
    return {"arch": arch, "seeds": list(seeds), "n": n_used, **{k: summarise(v) for k, v in out.items()}}


def frame(spread: dict) -> pd.DataFrame:
    """One row per measure: each seed's value and the mean ± sd, in percent."""
    keys = [k for k, v in spread.items() if isinstance(v, dict) and "mean" in v]
    return pd.DataFrame([{"measure": k, **{f"seed {s}": f"{100 * x:.1f} %" for s, x in spread[k]["values"].items()},
                          "mean ± sd": f"{100 * spread[k]['mean']:.1f} ± {100 * spread[k]['sd']:.1f} %"}
                         for k in keys])

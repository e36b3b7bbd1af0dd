"""Throughput of ART's PGD vs our compiled PGD and DIVA on the same QAT model and batch.

Writes results/<profile>/bench_attacks.json with images·steps per second per architecture.
Speed does not depend on the weights, so freshly built (untrained) models are used.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import diva_lib  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from diva_lib import adapt, attacks, config, crosscheck, report, train  # noqa: E402
from diva_lib.models import build_model  # noqa: E402


def ips(fn, n_images: int, steps: int, repeats: int) -> float:
    """Best-of-`repeats` images·steps per second of `fn()` after one warm-up call."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return n_images * steps / best


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def art_pgd(qat, x, y, steps: int, batch: int):
    """ART's ProjectedGradientDescent with the paper's settings, as the attack-engine chapter cross-checks it."""
    return lambda: crosscheck.art_pgd(qat, x, y, eps=8 / 255, step=1 / 255, steps=steps, batch_size=batch)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--archs", nargs="+", default=["mobilenet", "resnet50"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cfg = config.get_profile(args.profile, archs=args.archs)
    config.check_positive_int("batch", args.batch)
    config.check_positive_int("steps", args.steps)
    train.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x = rng.random((args.batch, cfg.image_size, cfg.image_size, 3), dtype=np.float32)
    y = rng.integers(0, cfg.num_classes, args.batch)
    out = {"_meta": {"batch": args.batch, "steps": args.steps, "image_size": cfg.image_size,
                     "threads": tf.config.threading.get_intra_op_parallelism_threads(),
                     "machine": platform.machine(), "cpus": __import__("os").cpu_count(),
                     "weights": "untrained (throughput only)", "metric": "images*steps per second, best of repeats"}}
    for arch in cfg.archs:
        fp32 = build_model(arch, cfg.num_classes, cfg.image_size)
        qat = adapt.quantize(fp32)
        kw = {"steps": args.steps}
        pgd = attacks.PGD(fp32, qat, **kw)
        diva = attacks.DIVA(fp32, qat, **kw)
        r = {
            "art_pgd_ips": ips(art_pgd(qat, x, y, args.steps, args.batch), args.batch, args.steps, args.repeats),
            "pgd_ips": ips(lambda a=pgd: a(x, y, args.batch), args.batch, args.steps, args.repeats),
            "diva_ips": ips(lambda a=diva: a(x, y, args.batch), args.batch, args.steps, args.repeats),
        }
        r["diva_vs_art_speedup"] = r["diva_ips"] / r["art_pgd_ips"]
        r["diva_step_cost_vs_pgd"] = r["pgd_ips"] / r["diva_ips"]
        out[arch] = r
        print(arch, {k: round(v, 2) for k, v in r.items()}, flush=True)
    print("wrote", report.save_json(out, report.results_path(args.profile, "bench_attacks")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

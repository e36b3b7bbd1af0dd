"""What each training recipe costs and buys: Fashion-MNIST originals at 32×32, test accuracy and seconds.

Trains one architecture (default MobileNet) from scratch under several recipes, recalibrates
BatchNormalization, and measures accuracy on the `default` profile's test images with its 95 %
interval. Training sets are prefixes of the `default` profile's 45,000 training images (one seeded
permutation of Fashion-MNIST's). Writes results/<profile>/bench_recipes_<arch>.json with this
machine's `mobilenet_train_ips`, so the seconds read on the fast kind (normalised).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RECIPES = {  # name: (training images, epochs, augment, label smoothing, batch size, learning rate)
    "8,000 images, 5 epochs (the earlier default)": (8_000, 5, False, 0.0, 64, 1e-3),
    "+ label smoothing 0.1": (8_000, 5, False, 0.1, 64, 1e-3),
    "+ flips and 2-pixel shifts": (8_000, 5, True, 0.0, 64, 1e-3),
    "15 epochs": (8_000, 15, False, 0.0, 64, 1e-3),
    "20,000 images, 5 epochs": (20_000, 5, False, 0.0, 64, 1e-3),
    "20,000 images, 5 epochs, shifts, smoothing": (20_000, 5, True, 0.1, 64, 1e-3),
    "45,000 images, 4 epochs, batch 128, lr 2e-3 (the default)": (45_000, 4, False, 0.0, 128, 2e-3),
}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--arch", default="mobilenet")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from diva_lib import calibration, config, data, metrics, models, report, train

    cfg = config.get_profile(args.profile, archs=[args.arch])
    xtr, ytr = data.load_idx(cfg.dataset, "train")
    xte, yte = data.load_idx(cfg.dataset, "test")
    most = max(n for n, *_ in RECIPES.values())
    split = data.make_split(len(xtr), len(xte), most, cfg.n_surrogate, cfg.n_test, args.seed)
    x_train, y_train = data.to_rgb(xtr[split.train], cfg.image_size), ytr[split.train]
    x_test, y_test = data.to_rgb(xte[split.test], cfg.image_size), yte[split.test]
    rows = {}
    for name, (n, epochs, augment, smoothing, batch, lr) in RECIPES.items():
        train.set_seed(args.seed)
        model = models.build_model(args.arch, cfg.num_classes, cfg.image_size)
        t = time.perf_counter()
        train.fit(model, x_train[:n], y_train[:n], epochs=epochs, learning_rate=lr, batch_size=batch, seed=args.seed,
                  cosine=True, augment=augment, label_smoothing=smoothing)
        train.recalibrate_batchnorm(model, x_train[:n], cfg.bn_recalibration_batches, batch)
        seconds = time.perf_counter() - t
        acc = metrics.accuracy(train.predict(model, x_test), y_test)
        rows[name] = {"n_train": n, "epochs": epochs, "augment": augment, "label_smoothing": smoothing,
                      "batch_size": batch, "learning_rate": lr,
                      "seconds": round(seconds, 1), "test_acc": acc.value, "test_acc_ci": [acc.low, acc.high]}
        print(f"{name}: {acc} in {seconds:.0f} s", flush=True)
    ips = calibration.mobilenet_train_ips()
    for row in rows.values():
        row["normalised_seconds"] = round(calibration.normalised(row["seconds"], ips), 1)
    out = {"arch": args.arch, "seed": args.seed, "n_test": int(len(y_test)), "floor": 0.88, "recipes": rows,
           "mobilenet_train_ips": round(ips, 1), "machine": calibration.machine(),
           "note": "test accuracy with its 95 % Wilson interval; seconds include BN recalibration"}
    print("wrote", report.save_json(out, report.results_path(args.profile, f"bench_recipes_{args.arch}")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Seconds of `diva audit` on the default MobileNet pair: n = 500, three radii, QAT gradients, no attack cache.

Model builds are excluded (the pair comes from the model cache, built first if missing); the
attacks run into a fresh temporary folder, so nothing is read from an earlier run. Writes
results/<profile>/bench_audit.json with the seconds, this machine's `mobilenet_train_ips` and the
seconds normalised to the fast kind (target: ≤ 180).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--eps", default="2/255,4/255,8/255")
    args = ap.parse_args(argv)
    from diva_lib import audit, calibration, config, report, zoo

    cfg = config.get_profile(args.profile, archs=["mobilenet"])
    data = zoo.load_data(cfg, 0)
    entry = zoo.get("mobilenet", cfg, 0, stand_in=data)
    pair = audit.Pair(entry.fp32.model, entry.tflite, entry.qat.model, data.x_test, data.y_test)
    with tempfile.TemporaryDirectory(prefix="diva-bench-audit-") as out:
        t = time.perf_counter()
        result = audit.run(pair, audit.parse_eps(args.eps), args.n, Path(out))
        seconds = time.perf_counter() - t
    ips = calibration.mobilenet_train_ips()
    out = {"seconds": round(seconds, 1), "mobilenet_train_ips": round(ips, 1),
           "normalised_seconds": round(calibration.normalised(seconds, ips), 1), "target_normalised_seconds": 180,
           "n": args.n, "eps": args.eps, "machine": calibration.machine(),
           "diva_top1_at_largest_eps": list(result.report["by_eps"].values())[-1]["diva_top1"]}
    print(out)
    print("wrote", report.save_json(out, report.results_path(args.profile, "bench_audit")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

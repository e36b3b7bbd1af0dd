"""Host memory of the paper profile's data path: 224×224 ImageNet images streamed through `tf.data`.

Each size runs in its own process: the peak resident memory while every image is decoded, resized,
centre-cropped and batched (32 per batch), minus the resident memory before the first batch. The
100 real ImageNet-sample JPEGs are repeated to reach 800. Streaming holds a few batches whatever
the split's size, so the difference between 800 and 100 images (`growth_mb`) stays small; decoding
everything into one array would add about 0.4 GB. Writes results/<profile>/bench_paper_data.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def child(n: int) -> dict[str, float]:
    """Stream n images once; the resident memory before and at its peak (MiB)."""
    import numpy as np

    from diva_lib import data, stream

    files, labels = data.imagenet_files(data.verify("imagenet_sample"))
    reps = -(-n // len(files))
    images = stream.ImageSet.of((files * reps)[:n], np.tile(labels, reps)[:n])
    proc, peak, done = psutil.Process(), [0.0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    ds = images.dataset(32)
    before = proc.memory_info().rss
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    seen = sum(int(batch.shape[0]) for batch, _ in ds)
    done.set()
    watcher.join()
    assert seen == n, (seen, n)
    return {"before_mb": before / 2**20, "peak_mb": max(peak[0], before) / 2**20}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="default", help="results folder to write into")
    ap.add_argument("--sizes", type=int, nargs=2, default=[100, 800])
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    from diva_lib import calibration, report

    out = {"machine": calibration.machine(), "image_size": 224, "batch": 32}
    for n in args.sizes:
        run = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        out[str(n)] = {"growth_mb": round(r["peak_mb"] - r["before_mb"], 1), "peak_rss_mb": round(r["peak_mb"], 1)}
        print(n, out[str(n)], flush=True)
    small, large = (out[str(n)]["growth_mb"] for n in args.sizes)
    out["growth_mb"] = round(large - small, 1)
    out["full_array_would_add_mb"] = round((args.sizes[1] - args.sizes[0]) * 224 * 224 * 3 * 4 / 2**20, 1)
    print("wrote", report.save_json(out, report.results_path(args.profile, "bench_paper_data")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

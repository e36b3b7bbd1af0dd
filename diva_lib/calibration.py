"""The machine a measurement ran on, and its speed in one number, so timings compare across machines.

Budgets are read on the fast 2-core kind, where MobileNet at 32×32 trains at about 630 images/s
(batch 64): normalised seconds = seconds × `mobilenet_train_ips` / 630.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_IPS = 630.0  # MobileNet 32×32 training images/s on the fast 2-core kind


def machine() -> dict[str, Any]:
    """The CPU: model name, logical cores, whether it has AVX-512, its vector extensions (they pick float kernels)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in info.splitlines() if ":" in line)}
    flags = fields.get("flags", "").split()
    return {"cpu": fields.get("model name", platform.processor() or platform.machine()), "cores": os.cpu_count(),
            "avx512": "avx512f" in flags,
            "vector_extensions": sorted({f for f in flags if f.startswith(("avx", "amx")) or f == "fma"})}


def mobilenet_train_ips(batches: int = 30, batch_size: int = 64) -> float:
    """Training images per second of an untrained MobileNet at 32×32 (10 classes), after a warm-up epoch."""
    import tf_keras

    from diva_lib.models import build_model

    tf_keras.utils.set_random_seed(0)
    model = build_model("mobilenet", 10, 32)
    model.compile(tf_keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((batches * batch_size, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # warm-up: tracing is not training
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - t)


def normalised(seconds: float, ips: float) -> float:
    """Seconds on this machine expressed on the fast reference kind."""
    return seconds * ips / REFERENCE_IPS

"""On-disk caches, written atomically: trained models keyed by their configuration, and arrays
(adversarial images, model outputs) keyed by a hash of everything they were computed from.

Builds of one model are serialised by a lock file, so two processes (two notebooks, two test
workers) asking for the same model build it once; the second waits and then loads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from diva_lib.files import atomic_write

CACHE_DIR = Path(os.environ.get("DIVA_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "models"))


def config_key(config: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def release_memory() -> None:
    """Collect garbage and return freed heap pages to the OS (glibc keeps them after a build otherwise)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class ModelCache:
    """A folder of entries `<name>-<hash>/`, each built in a temporary folder and renamed into place."""

    def __init__(self, root: str | Path = CACHE_DIR):
        self.root = Path(root)

    def path(self, name: str, config: dict[str, Any]) -> Path:
        """Folder of the entry for this name and configuration (it may not exist yet)."""
        return self.root / f"{name}-{config_key(config)}"

    def has(self, name: str, config: dict[str, Any]) -> bool:
        """Whether a complete entry exists."""
        return (self.path(name, config) / "config.json").is_file()

    @contextlib.contextmanager
    def _lock(self, entry: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the entry's build lock (yield False if not blocking and another process holds it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".lock-{entry}", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get_or_build(self, name: str, config: dict[str, Any], build: Callable[[Path], None]) -> Path:
        """Return the entry's folder, calling `build(tmp_dir)` to create it first if it is missing."""
        final = self.path(name, config)
        if self.has(name, config):
            return final
        with self._lock(final.name):
            if self.has(name, config):  # another process built it while this one waited
                return final
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{final.name}-"))
            start = time.perf_counter()
            try:
                build(tmp)
                (tmp / "build.json").write_text(json.dumps({"seconds": round(time.perf_counter() - start, 1)}))
                (tmp / "config.json").write_text(json.dumps(config, sort_keys=True, indent=1, default=str))
                if final.exists():  # an entry without config.json is a leftover of an older layout
                    shutil.rmtree(final)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
                release_memory()  # training and conversion leave gigabytes of freed but held heap
        return final

    def build_record(self, entry: str) -> dict[str, Any]:
        """What the entry named `entry` (`<name>-<hash>`) is and how long it took to build (None: not recorded).

        Example: {"model": "qat resnet50", "seconds": 227.2}; a model of seed s > 0 says "(seed s)".
        """
        folder = self.root / entry
        chain, node = [], json.loads((folder / "config.json").read_text())
        while isinstance(node, dict):
            chain.append(node)
            node = node.get("parent")
        arch = next((n["arch"] for n in chain if "arch" in n), "")
        seed = next((n["seed"] for n in chain if "seed" in n), 0)
        model = f"{chain[0].get('role', entry.rsplit('-', 1)[0])} {arch}".strip() + (f" (seed {seed})" if seed else "")
        built = folder / "build.json"
        return {"model": model, "seconds": json.loads(built.read_text())["seconds"] if built.is_file() else None}

    def clean_partial(self) -> int:
        """Remove temporary folders left by killed builds (not those of running builds); return how many."""
        removed = 0
        for p in sorted(self.root.glob(".tmp-*")) if self.root.exists() else []:
            entry = p.name[len(".tmp-"):].rsplit("-", 1)[0]
            with self._lock(entry, blocking=False) as free:
                if free:
                    shutil.rmtree(p, ignore_errors=True)
                    removed += 1
        return removed


ATTACK_CACHE_DIR = Path(os.environ.get("DIVA_ATTACK_CACHE", CACHE_DIR.parent / "attacks"))
MODES = ("use", "refresh", "off")


def digest(*arrays: Any) -> str:
    """Content hash of arrays (shape, dtype and bytes) and JSON-serialisable values."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = a.content_key() if hasattr(a, "content_key") else a  # e.g. an ImageSet: its files, labels and size
        if isinstance(a, np.ndarray):
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        else:
            h.update(json.dumps(a, sort_keys=True, default=str).encode())
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """Content hash of a file."""
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()


def fingerprint(model: Any) -> str:
    """Identity of a model's parameters: its own `fingerprint()` (a file hash) if it has one, else a weights hash."""
    if hasattr(type(model), "fingerprint"):
        return model.fingerprint()
    return digest([type(layer).__name__ for layer in model.layers], *model.get_weights())


class ArrayCache:
    """Results of deterministic computations (e.g. adversarial images) stored as `<name>-<key>.npz`.

    `mode` (default: env DIVA_ATTACK_CACHE_MODE, else "use"): "use" reads a stored result or
    computes and stores it, "refresh" always computes and stores (how `make verify` re-measures),
    "off" computes and stores nothing.
    """

    def __init__(self, root: str | Path = ATTACK_CACHE_DIR, mode: str | None = None):
        mode = mode or os.environ.get("DIVA_ATTACK_CACHE_MODE", "use")
        if mode not in MODES:
            raise ValueError(f"attack cache mode {mode!r} is unknown; set DIVA_ATTACK_CACHE_MODE to one of {MODES}")
        self.root, self.mode = Path(root), mode

    def get_or_compute(self, name: str, key: str,
                       compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The arrays stored under (name, key), computing and storing them first if needed."""
        path = self.root / f"{name}-{key}.npz"
        if self.mode == "use" and path.is_file():
            with np.load(path) as stored:
                return {k: stored[k] for k in stored.files}
        arrays = compute()
        if self.mode != "off":
            with atomic_write(path) as fh:
                np.savez(fh, **arrays)
        return arrays

"""On-disk cache of trained models, keyed by a hash of their full configuration, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_DIR = Path(os.environ.get("DIVA_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "models"))


def config_key(config: dict[str, Any]) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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

    def get_or_build(self, name: str, config: dict[str, Any], build: Callable[[Path], None]) -> Path:
        """Return the entry's folder, calling `build(tmp_dir)` to create it first if it is missing."""
        final = self.path(name, config)
        if self.has(name, config):
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{final.name}-"))
        try:
            build(tmp)
            (tmp / "config.json").write_text(json.dumps(config, sort_keys=True, indent=1, default=str))
            if final.exists():  # an entry without config.json is a leftover of an older layout
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    def clean_partial(self) -> int:
        """Remove temporary folders left by killed builds; return how many were removed."""
        stale = list(self.root.glob(".tmp-*")) if self.root.exists() else []
        for p in stale:
            shutil.rmtree(p, ignore_errors=True)
        return len(stale)

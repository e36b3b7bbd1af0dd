"""Public sources of the datasets: pooch downloads (retries, pinned SHA-256) unpacked into each dataset's layout.

Every source builds its dataset in a temporary folder next to the destination, which replaces the
destination only when complete, so a dead link or a bad checksum leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pooch

from diva_lib.data import DataError, DatasetSpec, Source, _read_idx_bytes, read_manifest

REGISTRY = Path(__file__).resolve().parent / "registry"
pooch.get_logger().setLevel("WARNING")


def fetch(spec: DatasetSpec, dest: Path, base_url: str | None = None) -> Path:
    """Build `dest` from the first public source of `spec` that works (only `base_url` when one is given)."""
    if not spec.sources:
        raise DataError(f"dataset {spec.name!r} has no public source: {spec.placement}")
    candidates = [dataclasses.replace(spec.sources[0], base_url=base_url)] if base_url else list(spec.sources)
    errors = []
    for src in candidates:
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
        try:
            _BUILDERS[src.kind](spec, src, tmp)
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(tmp, dest)
            return dest
        except DataError as e:
            errors.append(f"{src.name} ({src.base_url}): {e}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise DataError(f"could not fetch {spec.name!r} from any public source; " + "; ".join(errors)
                    + " (check the network, or set DATA_MIRROR to a folder that holds it)")


def _retrieve(src: Source, files: dict[str, str | None], path: Path, workers: int = 8) -> None:
    """Download `files` (name -> SHA-256 or None) from `src.base_url` into `path`, several at a time."""
    store = pooch.create(path=path, base_url=src.base_url, registry=files, retry_if_failed=2)
    for parent in {(Path(path) / name).parent for name in files}:  # pooch's own mkdir races between threads
        parent.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> None:
        try:
            store.fetch(name, progressbar=False)
        except ValueError as e:  # pooch's hash mismatch
            raise DataError(f"{name} does not match its pinned SHA-256 ({str(e).splitlines()[0]})") from e
        except Exception as e:  # requests' HTTP and connection errors
            raise DataError(f"{src.base_url}{name} could not be downloaded ({type(e).__name__}: {e})") from e

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, sorted(files)))


def _shipped(spec: DatasetSpec) -> dict[str, str]:
    """The manifest shipped with the library for a dataset: relative path -> SHA-256."""
    return read_manifest(REGISTRY / spec.folder / "SHA256SUMS")


def _idx(spec: DatasetSpec, src: Source, tmp: Path) -> None:
    """MNIST-style `.gz` files, accepted on the SHA-256 of their decompressed content."""
    names = {f"{stem}.gz": None for stem in spec.content_sha256}
    _retrieve(src, names, tmp, workers=4)
    for stem, digest in spec.content_sha256.items():
        _read_idx_bytes(tmp / f"{stem}.gz", digest, f"the source {src.name} serves other data")


def _files(spec: DatasetSpec, src: Source, tmp: Path) -> None:
    """The dataset's own files at a pinned commit, each checked against the shipped manifest."""
    pinned = {rel: digest for rel, digest in _shipped(spec).items() if rel != "PROVENANCE.md"}
    _retrieve(src, pinned, tmp)
    for extra in ("PROVENANCE.md", "SHA256SUMS"):
        shutil.copy(REGISTRY / spec.folder / extra, tmp / extra)


def _write_derived(tmp: Path, images: dict[str, bytes], note: str) -> None:
    """Write files built from a pinned archive, their manifest, and a SOURCE note naming the archive."""
    lines = []
    for rel, raw in sorted(images.items()):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(raw)
        lines.append(f"{hashlib.sha256(raw).hexdigest()}  ./{rel}")
    (tmp / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    (tmp / "SOURCE").write_text(note + "\n")


def _archive(src: Source, tmp: Path) -> Path:
    """Download a source's pinned archive into the shared download folder (kept for later runs)."""
    downloads = tmp.parent / ".downloads"
    _retrieve(src, {src.archive: src.sha256}, downloads, workers=1)
    return downloads / src.archive


def _olivetti(spec: DatasetSpec, src: Source, tmp: Path) -> None:
    """AT&T faces from scikit-learn's Olivetti file: the same 400 photographs at 64x64, as `sN/M.pgm`."""
    from PIL import Image
    from scipy.io import loadmat

    faces = np.float32(loadmat(_archive(src, tmp))["faces"].T)  # as sklearn.datasets.fetch_olivetti_faces
    faces = (faces - faces.min()) / (faces.max() - faces.min())
    faces = faces.reshape(-1, 64, 64).transpose(0, 2, 1)
    if len(faces) != 400:
        raise DataError(f"the Olivetti file holds {len(faces)} faces, not 400")
    images = {}
    for i, face in enumerate(faces):
        buf = io.BytesIO()
        Image.fromarray(np.round(face * 255).astype(np.uint8), "L").save(buf, format="PPM")
        images[f"s{i // 10 + 1}/{i % 10 + 1}.pgm"] = buf.getvalue()
    _write_derived(tmp, images, f"olivetti: {src.base_url}{src.archive} (sha256 {src.sha256}), 64x64, "
                                "scaled to [0, 255] as scikit-learn's fetch_olivetti_faces does")


def _lfw(spec: DatasetSpec, src: Source, tmp: Path) -> None:
    """LFW from its original archive: the manifest's identities and images, in their original RGB."""
    wanted = [rel for rel in _shipped(spec) if rel.endswith(".jpg")]
    images = {}
    with tarfile.open(_archive(src, tmp)) as archive:
        for rel in wanted:
            try:
                member = archive.extractfile(f"lfw/{rel}")
            except KeyError as e:
                raise DataError(f"the LFW archive lacks lfw/{rel}") from e
            images[rel] = member.read()
    _write_derived(tmp, images, f"lfw-archive: {src.base_url}{src.archive} (sha256 {src.sha256}), the "
                                f"{len(images)} images of diva_lib/registry/lfw_faces/SHA256SUMS in RGB")


_BUILDERS: dict[str, Callable[[DatasetSpec, Source, Path], None]] = {
    "idx": _idx,
    "files": _files,
    "olivetti": _olivetti,
    "lfw": _lfw,
}

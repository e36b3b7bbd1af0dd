"""Datasets: a registry with pinned SHA-256 checksums, a local mirror or download, and loaders."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diva_lib.files import atomic_write

_CHECKOUT = Path(__file__).resolve().parent.parent  # the source checkout, when the library runs from one
_IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file()
DATA_DIR = Path(os.environ.get("DIVA_DATA", _CHECKOUT / "data" if _IN_CHECKOUT else Path.home() / ".cache" / "diva"))
DEFAULT_MIRROR = Path(os.environ.get("DATA_MIRROR", _CHECKOUT.parent / "shared" / "data"))
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DataError(RuntimeError):
    """A dataset file is missing or does not match its pinned checksum."""


@dataclass(frozen=True)
class Source:
    """A public place a dataset can be fetched from: a pinned base URL and the kind of files it serves.

    kind "idx": MNIST-style `.gz` files, checked on their decompressed content (gzip wrappers differ
    between hosts); "files": the dataset's own files at a pinned commit, checked against the
    manifest shipped in `diva_lib/registry/<folder>/`; "olivetti" and "lfw": one pinned archive that
    `diva_lib.sources` unpacks into the dataset's layout.
    """

    name: str
    kind: str
    base_url: str
    archive: str | None = None  # file name under base_url, for the archive kinds
    sha256: str | None = None  # pin of that archive


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and how to check it."""

    name: str
    folder: str
    manifest_sha256: str
    content_sha256: dict[str, str] | None = None  # sha256 of the *decompressed* IDX files
    sources: tuple[Source, ...] = ()  # public sources, tried in order when no mirror holds the set
    placement: str = ""  # how to place a dataset that no public source serves


_GITHUB = "https://raw.githubusercontent.com/"
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "mnist",
        "mnist",
        "9643ed3bd4a89f0a453df1098f8792957b3fca27496032de3d2d08f755b48109",
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        (Source("cvdf", "idx", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
         Source("ossci", "idx", "https://ossci-datasets.s3.amazonaws.com/mnist/")),
    ),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        "fashion-mnist",
        "5e36572d7efd8b625fcfdec79607672f4f682aef9d8a7af664cc7a1ff148f17a",
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        (Source("zalando-s3", "idx", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),),
    ),
    "imagenet_sample": DatasetSpec(
        "imagenet_sample", "imagenet_sample", "67a21117090f7b0c5e0ca2584c9ec691c55b3ef106e300f47e2a6b7e0f6c06d1",
        sources=(Source("github:EliSchwartz/imagenet-sample-images", "files",
                        _GITHUB + "EliSchwartz/imagenet-sample-images/bc69043e2862758a1906c6a24a792bb28c6bb2ff/"),),
    ),
    "att_faces": DatasetSpec(
        "att_faces", "att_faces", "6bd89f2efadbb2b7065009c3b35d4ce701157ca9af90f1728438baa6aed51622",
        sources=(Source("github:ChiTatZhang/server_graduate", "files",
                        _GITHUB + "ChiTatZhang/server_graduate/0493bc9ab41f854477d891d1553ffce41918e8ae/att_faces/"),
                 Source("olivetti", "olivetti", "https://ndownloader.figshare.com/files/", "5976027",
                        "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794")),
    ),
    "pins_faces": DatasetSpec(
        "pins_faces", "pins_faces", "dc03c426aec67b0ede1294a58092a5accfc9ebaf50128c6a686a1c5d254d019b",
        placement="Pins Face Recognition has no pinned public download: get it from Kaggle "
                  "(hereisburak/pins-face-recognition) and place the first 40 images of each identity as "
                  "data/pins_faces/<Identity>/<file>.jpg (names as in diva_lib/registry/pins_faces/PROVENANCE.md), "
                  "or point DATA_MIRROR at a mirror; the face chapter's 'att' source runs without it",
    ),
    "lfw_faces": DatasetSpec(
        "lfw_faces", "lfw_faces", "7344e628df31c5b7a0f0128aeb690efe7ddc3078a9019d638904d1615264f0fd",
        sources=(Source("lfw-archive", "lfw", "https://ndownloader.figshare.com/files/", "5976018",
                        "055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0"),),
    ),
}
_FIX = "run `diva fetch {name}` (copies from DATA_MIRROR when there is one, else downloads) to restore it"


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def spec(name: str) -> DatasetSpec:
    """Registry entry for a dataset name."""
    if name not in DATASETS:
        raise DataError(f"dataset {name!r} is unknown; registered: {', '.join(DATASETS)}")
    return DATASETS[name]


def read_manifest(path: Path) -> dict[str, str]:
    """A `sha256sum`-style manifest as {relative path: SHA-256}."""
    lines = Path(path).read_text().splitlines()
    return {rel.strip().removeprefix("./"): digest for digest, rel in (line.split(maxsplit=1) for line in lines)}


def verify(name: str, data_dir: Path = DATA_DIR) -> Path:
    """Check every file of a prepared dataset against its pinned checksums; return its folder.

    A folder built from a pinned archive (a `SOURCE` file names it) is checked against the manifest
    written when the archive, whose SHA-256 is pinned, was unpacked.
    """
    s = spec(name)
    root = Path(data_dir) / s.folder
    fix = _FIX.format(name=name)
    if s.content_sha256:
        for stem, digest in s.content_sha256.items():
            _read_idx_bytes(root / f"{stem}.gz", digest, fix)
        return root
    manifest = root / "SHA256SUMS"
    if not manifest.is_file():
        raise DataError(f"{manifest} is missing; {fix}")
    if not (root / "SOURCE").is_file() and sha256_file(manifest) != s.manifest_sha256:
        raise DataError(f"{manifest} does not match its pinned SHA-256; {fix}")
    for rel, digest in read_manifest(manifest).items():
        path = root / rel
        if not path.is_file():
            raise DataError(f"{path} is missing; {fix}")
        if sha256_file(path) != digest:
            raise DataError(f"{path} is corrupt (SHA-256 mismatch); {fix}")
    return root


def prepare(
    name: str, data_dir: Path = DATA_DIR, mirror: Path | None = DEFAULT_MIRROR, base_url: str | None = None
) -> Path:
    """Copy a dataset from a local mirror, or fetch it from its public sources, then verify it.

    Args:
        name: a key of `DATASETS`.
        data_dir: the git-ignored folder that receives it.
        mirror: a local mirror holding `<folder>/` (first choice); None to skip it.
        base_url: replaces the first public source's base URL (a fixture server in the tests).

    Example:
        >>> prepare("mnist", mirror=None)  # doctest: +SKIP
    """
    from diva_lib import sources

    s = spec(name)
    dest = Path(data_dir) / s.folder
    try:
        return verify(name, data_dir)
    except DataError:
        pass
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    if mirror is not None and (Path(mirror) / s.folder).is_dir():
        tmp = Path(tempfile.mkdtemp(dir=data_dir, prefix=f".{s.folder}."))
        shutil.copytree(Path(mirror) / s.folder, tmp, dirs_exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    else:
        sources.fetch(s, dest, base_url)
    return verify(name, data_dir)


def download(url: str, path: Path, timeout: float = 60.0) -> Path:
    """Download a URL to a path via a temporary file, so a failure leaves nothing behind."""
    with atomic_write(path) as f, urllib.request.urlopen(url, timeout=timeout) as r:
        shutil.copyfileobj(r, f)
    return Path(path)


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract a .tar(.gz/.tgz) or .zip archive into `dest`, refusing members that would land outside it.

    Absolute paths, `..` components and links are rejected before anything is written; the
    archive is extracted into a temporary folder that replaces `dest` only when complete.
    """
    import tarfile
    import zipfile

    archive, dest = Path(archive), Path(dest)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names, links = z.namelist(), []
    else:
        with tarfile.open(archive) as t:
            members = t.getmembers()
            names = [m.name for m in members]
            links = [m.name for m in members if m.issym() or m.islnk() or m.isdev()]
    for name in names:
        parts = Path(name).parts
        if Path(name).is_absolute() or name.startswith(("/", "\\")) or ".." in parts or ":" in name.split("/")[0]:
            raise DataError(f"archive {archive} has an unsafe member {name!r} (absolute path or '..'); "
                            "refusing to extract it. Re-download the archive from its canonical source.")
    if links:
        raise DataError(f"archive {archive} has link or device members {links[:3]}; refusing to extract it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                t.extractall(tmp, filter="data")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _read_idx_bytes(path: Path, digest: str, fix: str) -> bytes:
    if not path.is_file():
        raise DataError(f"{path} is missing; {fix}")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as e:
        raise DataError(f"{path} is not a valid gzip file ({e}); {fix}") from e
    if hashlib.sha256(raw).hexdigest() != digest:
        raise DataError(f"{path} is corrupt (SHA-256 of its content mismatches); {fix}")
    return raw


def load_idx(name: str, split: str, data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Verified uint8 images (N, 28, 28) and int labels of MNIST or Fashion-MNIST ('train' or 'test')."""
    s = spec(name)
    if not s.content_sha256:
        raise DataError(f"dataset {name!r} is not an IDX dataset")
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise DataError(f"split={split!r} must be 'train' or 'test'")
    root = Path(data_dir) / s.folder
    fix = _FIX.format(name=name)
    img_stem, lab_stem = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    images = _read_idx_bytes(root / f"{img_stem}.gz", s.content_sha256[img_stem], fix)
    labels = _read_idx_bytes(root / f"{lab_stem}.gz", s.content_sha256[lab_stem], fix)
    x = np.frombuffer(images, np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(labels, np.uint8, offset=8).astype(np.int64)
    return x, y


CLASS_NAMES = {
    "fashion_mnist": ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "ankle boot"),
    "mnist": tuple(str(d) for d in range(10)),
}


def class_names(dataset: str, num_classes: int) -> list[str]:
    """Readable label names of a dataset (class indices where none are known, e.g. ImageNet wnid order)."""
    return list(CLASS_NAMES.get(dataset, [str(i) for i in range(num_classes)]))


def to_rgb(images: np.ndarray, size: int = 32) -> np.ndarray:
    """28x28 uint8 grayscale -> (N, size, size, 3) float32 in [0, 1], zero-padded at the border."""
    if size < 28:
        raise DataError(f"size={size} must be >= 28 for 28x28 images")
    pad = (size - 28) // 2
    x = np.pad(images, ((0, 0), (pad, size - 28 - pad), (pad, size - 28 - pad)))
    return np.repeat(x[..., None], 3, axis=-1).astype(np.float32) / 255.0


@dataclass(frozen=True)
class Split:
    """Disjoint index sets into the training pool, and the test images used for evaluation."""

    train: np.ndarray
    surrogate: np.ndarray
    test: np.ndarray
    unused: np.ndarray  # training-pool images in neither split (held out from every model)


def make_split(n_pool: int, n_test_pool: int, n_train: int, n_surrogate: int, n_test: int, seed: int) -> Split:
    """Seeded, disjoint training / surrogate indices from the train pool and test indices from the test pool."""
    if n_train + n_surrogate > n_pool:
        raise DataError(f"n_train + n_surrogate = {n_train + n_surrogate} exceeds the {n_pool} training images")
    if n_test > n_test_pool:
        raise DataError(f"n_test={n_test} exceeds the {n_test_pool} test images")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_pool)
    return Split(perm[:n_train], perm[n_train : n_train + n_surrogate], rng.permutation(n_test_pool)[:n_test],
                 perm[n_train + n_surrogate :])


def imagenet_files(root: Path, wnids: list[str] | None = None) -> tuple[list[Path], np.ndarray]:
    """Image files under `root` (class sub-folders or `<wnid>_*.JPEG` files) and their labels.

    Labels index the sorted wnid list (the Keras ImageNet class order); pass `wnids` when the
    folder holds only some of the 1,000 classes.
    """
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".jpeg", ".jpg", ".png"})
    if not files:
        raise DataError(f"no JPEG/PNG images under {root}; pass the ImageNet validation folder")

    def wnid_of(p: Path) -> str:
        return p.parent.name if p.parent != root else p.name.split("_")[0]

    classes = sorted(wnids) if wnids is not None else sorted({wnid_of(p) for p in files})
    index = {w: i for i, w in enumerate(classes)}
    missing = sorted({wnid_of(p) for p in files} - set(index))
    if missing:
        raise DataError(f"{root}: classes {missing[:3]} are not in the given wnid list")
    return files, np.asarray([index[wnid_of(p)] for p in files], np.int64)


FACE_SETS = ("pins_faces", "lfw_faces", "att_faces")


def face_identities(name: str, data_dir: Path = DATA_DIR) -> dict[str, list[Path]]:
    """Image files per person of a verified face set, people and files in a stable (natural) order."""
    if name not in FACE_SETS:
        raise DataError(f"face set {name!r} is unknown; use one of {FACE_SETS}")
    root = verify(name, data_dir)

    def natural(p: Path) -> tuple:
        return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name))

    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted((f for f in folder.iterdir() if f.suffix.lower() in {".jpg", ".jpeg", ".png", ".pgm"}),
                       key=natural)
        if files:
            people[f"{name}:{folder.name}"] = files
    if not people:
        raise DataError(f"{root} holds no identity folders with images")
    return people


def load_faces(files: list[Path], size: int) -> np.ndarray:
    """Decode face crops to [0, 1] RGB, squashed to size×size (grey images repeated over 3 channels)."""
    from PIL import Image

    out = np.empty((len(files), size, size, 3), np.float32)
    for i, p in enumerate(files):
        with Image.open(p) as im:
            out[i] = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255.0
    return out

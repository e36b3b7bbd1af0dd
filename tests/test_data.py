import dataclasses
import functools
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from diva_lib import data
from diva_lib.data import DataError

ROOT = Path(__file__).resolve().parent.parent
MIRROR = data.DEFAULT_MIRROR
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no local data mirror at {MIRROR} (set DATA_MIRROR)")


@pytest.fixture
def fashion_copy(tmp_path):
    src = data.DATA_DIR / "fashion-mnist"
    if not src.is_dir():
        pytest.skip("dataset fashion_mnist not prepared: run `diva fetch fashion_mnist`")
    shutil.copytree(src, tmp_path / "fashion-mnist")
    return tmp_path


@pytest.mark.needs_data("mnist", "fashion_mnist", "imagenet_sample")
def test_verify_accepts_prepared_sets():
    for name in ("mnist", "fashion_mnist", "imagenet_sample"):
        assert data.verify(name).is_dir()


def test_corrupt_file_is_named(fashion_copy):
    target = fashion_copy / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] ^= 1
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is corrupt.*diva fetch fashion_mnist"):
        data.verify("fashion_mnist", fashion_copy)


def test_missing_and_truncated_files_are_named(fashion_copy):
    (fashion_copy / "fashion-mnist" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz is missing"):
        data.load_idx("fashion_mnist", "train", fashion_copy)
    img = fashion_copy / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    img.write_bytes(img.read_bytes()[:1000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is not a valid gzip"):
        data.load_idx("fashion_mnist", "test", fashion_copy)


@needs_mirror
def test_manifest_corruption_detected(tmp_path):
    shutil.copytree(MIRROR / "imagenet_sample", tmp_path / "imagenet_sample")
    victim = sorted((tmp_path / "imagenet_sample").glob("*.JPEG"))[3]
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(DataError, match=victim.name):
        data.verify("imagenet_sample", tmp_path)
    (tmp_path / "imagenet_sample" / "SHA256SUMS").write_text("")
    with pytest.raises(DataError, match="SHA256SUMS does not match"):
        data.verify("imagenet_sample", tmp_path)


@needs_mirror
def test_prepare_copies_from_mirror(tmp_path):
    root = data.prepare("mnist", tmp_path, MIRROR)
    assert (root / "train-images-idx3-ubyte.gz").is_file()
    assert not list(tmp_path.glob(".*"))  # no temporary folders left


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a folder."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.needs_data("mnist", "fashion_mnist")
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_download_canonical_from_local_server(http_root, tmp_path, name):
    served, url = http_root
    for f in (data.DATA_DIR / data.spec(name).folder).glob("*.gz"):  # gzip wrappers differ; the content is pinned
        served.joinpath(f.name).write_bytes(gzip.compress(gzip.decompress(f.read_bytes()), compresslevel=1, mtime=1))
    out = tmp_path / "out"
    root = data.prepare(name, out, mirror=None, base_url=url)
    x, y = data.load_idx(name, "test", out)
    assert root.is_dir() and x.shape == (10_000, 28, 28) and set(np.unique(y)) == set(range(10))


@pytest.fixture
def served_att(http_root):
    """The AT&T files as the public source serves them: the data files only, no manifest."""
    served, url = http_root
    src = data.DATA_DIR / "att_faces"
    for f in src.glob("s*/*.pgm"):
        served.joinpath(f.parent.name).mkdir(exist_ok=True)
        shutil.copy(f, served / f.parent.name / f.name)
    return served, url


@pytest.mark.needs_data("att_faces")
def test_att_faces_from_public_files_source(served_att, tmp_path):
    _, url = served_att
    root = data.prepare("att_faces", tmp_path / "out", mirror=None, base_url=url)
    assert data.sha256_file(root / "SHA256SUMS") == data.spec("att_faces").manifest_sha256
    assert len(data.face_identities("att_faces", tmp_path / "out")) == 40


@pytest.mark.needs_data("att_faces")
def test_public_source_bad_checksum_and_dead_link_leave_nothing(served_att, tmp_path):
    served, url = served_att
    out = tmp_path / "out"
    (served / "s2" / "3.pgm").write_bytes(b"P5 not a face")
    with pytest.raises(DataError, match="s2/3.pgm does not match its pinned SHA-256"):
        data.prepare("att_faces", out, mirror=None, base_url=url)
    assert list(out.iterdir()) == []
    (served / "s2" / "3.pgm").unlink()
    with pytest.raises(DataError, match="s2/3.pgm could not be downloaded.*DATA_MIRROR"):
        data.prepare("att_faces", out, mirror=None, base_url=url)
    assert list(out.iterdir()) == []


def test_olivetti_source_builds_the_att_layout(http_root, tmp_path):
    from scipy.io import savemat

    from diva_lib import sources

    served, url = http_root
    faces = np.random.default_rng(0).random((4096, 400)).astype(np.float32)
    savemat(served / "5976027", {"faces": faces})
    olivetti = data.Source("olivetti", "olivetti", url, "5976027", data.sha256_file(served / "5976027"))
    spec = dataclasses.replace(data.spec("att_faces"), sources=(olivetti,))
    (tmp_path / "att_faces").mkdir()
    sources.fetch(spec, tmp_path / "att_faces")
    assert "olivetti" in (tmp_path / "att_faces" / "SOURCE").read_text()
    people = data.face_identities("att_faces", tmp_path)
    assert len(people) == 40 and all(len(files) == 10 for files in people.values())
    assert data.load_faces(people["att_faces:s1"][:1], 64).shape == (1, 64, 64, 3)
    wrong = dataclasses.replace(spec, sources=(dataclasses.replace(olivetti, sha256="0" * 64),))
    with pytest.raises(DataError, match="5976027 does not match its pinned SHA-256"):
        sources.fetch(wrong, tmp_path / "att_faces")


def test_dataset_without_public_source_names_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match="no public source.*Kaggle.*hereisburak/pins-face-recognition"):
        data.prepare("pins_faces", tmp_path, mirror=None)


def test_shipped_manifests_match_their_pins():
    from diva_lib import sources

    for name in ("imagenet_sample", "att_faces", "pins_faces", "lfw_faces"):
        folder = data.spec(name).folder
        assert data.sha256_file(sources.REGISTRY / folder / "SHA256SUMS") == data.spec(name).manifest_sha256


def test_download_of_bad_content_is_rejected(http_root, tmp_path):
    served, url = http_root
    for stem in data.DATASETS["mnist"].content_sha256:
        served.joinpath(f"{stem}.gz").write_bytes(gzip.compress(b"not mnist"))
    out = tmp_path / "out"
    with pytest.raises(DataError, match="is corrupt"):
        data.prepare("mnist", out, mirror=None, base_url=url)


def test_failed_download_leaves_nothing(http_root, tmp_path):
    _, url = http_root
    with pytest.raises(OSError):
        data.download(url + "absent.gz", tmp_path / "dl" / "absent.gz")
    assert list((tmp_path / "dl").iterdir()) == []


@pytest.mark.needs_data("fashion_mnist")
def test_to_rgb_and_split():
    x, _ = data.load_idx("fashion_mnist", "test")
    rgb = data.to_rgb(x[:5], 32)
    assert rgb.shape == (5, 32, 32, 3) and rgb.dtype == np.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0 and np.all(rgb[:, :2] == 0)
    np.testing.assert_array_equal(rgb[:, 2:30, 2:30, 0] * 255, x[:5])
    s1, s2 = data.make_split(100, 50, 40, 30, 20, seed=3), data.make_split(100, 50, 40, 30, 20, seed=3)
    np.testing.assert_array_equal(s1.train, s2.train)
    assert not set(s1.train) & set(s1.surrogate) and len(s1.test) == 20
    assert sorted([*s1.train, *s1.surrogate, *s1.unused]) == list(range(100))  # held out: the 30 left
    with pytest.raises(DataError, match="n_train \\+ n_surrogate"):
        data.make_split(100, 50, 80, 30, 20, seed=0)


@pytest.mark.needs_data("imagenet_sample")
def test_imagenet_folder_loader_on_real_jpegs():
    root = data.verify("imagenet_sample")
    files, y = data.imagenet_files(root)
    from diva_lib import stream

    x = stream.ImageSet.of(files, y)[:]
    assert x.shape == (100, 224, 224, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(y, np.arange(100))  # one image per class, sorted wnids
    gray = [i for i, p in enumerate(sorted(root.glob("*.JPEG"))) if np.ptp(x[i] - x[i][..., :1]) == 0]
    assert len(gray) == 1  # the one grayscale JPEG became 3 equal channels
    with pytest.raises(DataError, match="not in the given wnid list"):
        data.imagenet_files(root, wnids=["n01440764"])


@pytest.mark.needs_data("imagenet_sample")
def test_paper_profile_split_on_real_jpegs(monkeypatch):
    from diva_lib import config, zoo

    monkeypatch.setenv("DIVA_IMAGENET_VAL", str(data.verify("imagenet_sample")))
    cfg = config.get_profile("paper", n_train=30, n_surrogate=20, n_test=10)
    d = zoo.load_data(cfg, seed=0)
    assert d.x_train.shape == (30, 224, 224, 3) and d.x_surrogate.shape[0] == 20 and d.x_test.shape[0] == 10
    seen = np.concatenate([d.y_train, d.y_surrogate, d.y_test])
    assert len(set(seen.tolist())) == 60  # one image per class: the three sets are disjoint


@pytest.mark.parametrize("member", ["/etc/evil", "../evil", "ok/../../evil"])
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_archive_members_outside_the_target_are_refused(tmp_path, member, kind):
    import io
    import tarfile
    import zipfile

    archive = tmp_path / f"bad.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("good.txt", "fine")
            z.writestr(member, "evil")
    else:
        with tarfile.open(archive, "w:gz") as t:
            for name, text in (("good.txt", b"fine"), (member, b"evil")):
                info = tarfile.TarInfo(name)
                info.size = len(text)
                t.addfile(info, io.BytesIO(text))
    with pytest.raises(data.DataError, match="unsafe member"):
        data.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_safe_archive_is_extracted(tmp_path):
    import zipfile

    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("faces/a.txt", "x")
    assert (data.safe_extract(archive, tmp_path / "out") / "faces" / "a.txt").read_text() == "x"


def test_pubfig_fetch_verifies_crops_and_reports_dead_links(http_root, tmp_path):
    import hashlib
    import io

    from PIL import Image

    from diva_lib import pubfig

    served, url = http_root
    img = Image.new("RGB", (120, 100), (200, 10, 10))
    img.paste((10, 200, 10), (30, 20, 90, 80))  # the "face" rectangle is green
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    served.joinpath("face.png").write_bytes(buf.getvalue())
    md5 = hashlib.md5(buf.getvalue()).hexdigest()
    text = ("# PubFig dev set\n"
            f"Nicolas Cage\t1\t{url}face.png\t30,20,90,80\t{md5}\n"
            f"Nicolas Cage\t2\t{url}gone.jpg\t0,0,10,10\t{md5}\n"
            f"Jerry Seinfeld\t7\t{url}face.png\t30,20,90,80\t{'0' * 32}\n")
    entries = pubfig.parse_urls(text)
    assert [e.person for e in entries] == ["Nicolas Cage", "Nicolas Cage", "Jerry Seinfeld"]
    counts = pubfig.fetch(entries, tmp_path / "pubfig", size=32, timeout=5, workers=2)
    assert counts == {"ok": 1, "dead link": 1, "md5 mismatch": 1}
    with Image.open(tmp_path / "pubfig" / "Nicolas_Cage" / "00001.jpg") as face:
        assert face.size == (32, 32)
        r, g, _ = np.asarray(face, np.float32).mean((0, 1))
        assert g > 150 and r < 60  # the crop is the face rectangle, not the whole picture
    failures = (tmp_path / "pubfig" / "failures.tsv").read_text().splitlines()
    assert len(failures) == 3 and "gone.jpg" in failures[1] and "md5 mismatch" in failures[2]


def test_pubfig_bad_line_is_named():
    from diva_lib import pubfig

    with pytest.raises(DataError, match="line 1 .* 2 tab-separated fields"):
        pubfig.parse_urls("Nicolas Cage\thttp://x\n")

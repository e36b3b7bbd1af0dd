import pytest

from diva_lib.cache import ModelCache, config_key


def test_key_is_stable_and_order_free():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_builds_once(tmp_path):
    cache, calls = ModelCache(tmp_path), []

    def build(d):
        calls.append(d)
        (d / "weights.bin").write_bytes(b"w")

    p1 = cache.get_or_build("m", {"x": 1}, build)
    p2 = cache.get_or_build("m", {"x": 1}, build)
    assert p1 == p2 and len(calls) == 1 and (p1 / "weights.bin").read_bytes() == b"w"
    assert cache.has("m", {"x": 1}) and not cache.has("m", {"x": 2})


def test_an_entry_records_what_it_is_and_how_long_it_took(tmp_path):
    cache = ModelCache(tmp_path)
    orig = cache.get_or_build("original", {"role": "original", "arch": "resnet50", "seed": 0}, lambda d: None)
    assert cache.build_record(orig.name)["model"] == "original resnet50"
    qat = cache.get_or_build("qat", {"role": "qat", "parent": {"role": "original", "arch": "mobilenet", "seed": 2}},
                             lambda d: None)
    record = cache.build_record(qat.name)
    assert record["model"] == "qat mobilenet (seed 2)" and 0 <= record["seconds"] < 60
    (qat / "build.json").unlink()  # an entry of an older layout
    assert cache.build_record(qat.name)["seconds"] is None


def test_killed_build_leaves_no_entry(tmp_path):
    cache = ModelCache(tmp_path)

    def crash(d):
        (d / "weights.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("m", {"x": 1}, crash)
    assert not cache.has("m", {"x": 1})
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".lock-")] == []


def test_leftover_partial_entries_are_ignored_and_cleaned(tmp_path):
    cache = ModelCache(tmp_path)
    (tmp_path / ".tmp-m-123").mkdir()
    half = cache.path("m", {"x": 1})
    half.mkdir()  # a folder without config.json is not an entry
    assert not cache.has("m", {"x": 1})
    p = cache.get_or_build("m", {"x": 1}, lambda d: (d / "ok").write_text("1"))
    assert (p / "ok").is_file()
    assert cache.clean_partial() == 1


def test_sigkill_mid_build_leaves_no_entry_and_rerun_completes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        "from diva_lib.cache import ModelCache\n"
        "def build(d):\n"
        "    (d / 'weights.bin').write_bytes(b'half')\n"
        "    (d.parent / 'started').touch()\n"
        "    time.sleep(60)\n"
        f"ModelCache({str(tmp_path)!r}).get_or_build('m', {{'x': 1}}, build)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cache = ModelCache(tmp_path)
    assert not cache.has("m", {"x": 1})
    p = cache.get_or_build("m", {"x": 1}, lambda d: (d / "weights.bin").write_bytes(b"full"))
    assert (p / "weights.bin").read_bytes() == b"full"
    assert cache.clean_partial() == 1  # the killed build's temporary folder


def test_concurrent_processes_build_an_entry_once(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from diva_lib.cache import ModelCache\n"
        "def build(d):\n"
        "    with open(Path(sys.argv[1]) / 'builds.log', 'a') as f:\n"
        "        f.write('build\\n')\n"
        "    time.sleep(2)\n"
        "    (d / 'weights.bin').write_bytes(b'w')\n"
        "p = ModelCache(Path(sys.argv[1]) / 'cache').get_or_build('m', {'x': 1}, build)\n"
        "print((p / 'weights.bin').read_bytes().decode())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == ["w", "w"]
    assert (tmp_path / "builds.log").read_text().splitlines() == ["build"]


def test_clean_partial_spares_a_running_build(tmp_path):
    cache = ModelCache(tmp_path)
    seen = []

    def build(d):
        seen.append(cache.clean_partial())
        (d / "ok").write_text("1")

    p = cache.get_or_build("m", {"x": 1}, build)
    assert seen == [0] and (p / "ok").is_file()

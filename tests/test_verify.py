"""`make verify`: a fresh run is compared with the reference metric by metric, and mismatches fail."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "book"))

import verify  # noqa: E402

REF = {"mobilenet": {"whitebox": {"diva_top1": 0.64, "n": 500}},
       "claims": [{"id": "x", "verdict": "holds", "rule_result": True}], "seconds": 12.0}


def write(folder: Path, obj: dict, name: str = "quantization.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(obj))
    return folder


def test_identical_run_passes(tmp_path, capsys):
    ref, new = write(tmp_path / "ref", REF), write(tmp_path / "new", REF)
    assert verify.main(["--reference", str(ref), "--fresh", str(new)]) == 0
    assert "4 of 4 metrics match" in capsys.readouterr().out


def test_small_drift_is_tolerated_and_large_drift_fails(tmp_path, capsys):
    ref = write(tmp_path / "ref", REF)
    near = json.loads(json.dumps(REF))
    near["mobilenet"]["whitebox"]["diva_top1"] = 0.65
    assert verify.main(["--reference", str(ref), "--fresh", str(write(tmp_path / "near", near))]) == 0
    far = json.loads(json.dumps(REF))
    far["mobilenet"]["whitebox"]["diva_top1"] = 0.70
    assert verify.main(["--reference", str(ref), "--fresh", str(write(tmp_path / "far", far))]) == 1
    assert "FAIL quantization.json:mobilenet.whitebox.diva_top1" in capsys.readouterr().out


def test_flipped_verdict_and_missing_file_fail(tmp_path, capsys):
    ref = write(tmp_path / "ref", REF)
    write(ref, {"fp32_acc": 0.9}, "table1.json")
    flipped = json.loads(json.dumps(REF))
    flipped["claims"][0]["verdict"] = "not testable here"
    assert verify.main(["--reference", str(ref), "--fresh", str(write(tmp_path / "new", flipped))]) == 1
    out = capsys.readouterr().out
    assert "claims[0].verdict" in out and "table1.json:fp32_acc" in out and "new=None" in out
    assert "| quantization | 3 | 3 | 1 | 1 |" in out and "| table1 | 1 | 0 | 0 | 0 |" in out  # per chapter


def test_benchmarks_and_timings_are_not_results(tmp_path):
    ref = write(tmp_path / "ref", REF)
    write(ref, {"seconds": 80.0, "normalised_seconds": 46.1}, "bench_recipes_mobilenet.json")
    write(ref, {"avx512": True}, "machine.json")
    assert verify.main(["--reference", str(ref), "--fresh", str(write(tmp_path / "new", REF))]) == 0


def test_timings_name_the_machine_and_the_normalised_total():
    from diva_lib import report

    note = report.machine_note({"cpu": "AMD EPYC", "cores": 2, "avx512": False, "mobilenet_train_ips": 93.0}, 600.0)
    assert note == ", on AMD EPYC (2 cores, no AVX-512, MobileNet 93 img/s): 10.0 min on the fast kind"
    assert report.machine_note(None, 600.0) == ""

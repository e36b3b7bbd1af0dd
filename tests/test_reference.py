"""The committed reference: its stamp names the files that changed, and promotion is all or nothing."""

import json
from pathlib import Path

import pytest

from diva_lib import cli, reference


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project: a library, two notebooks and a lock."""
    (tmp_path / "diva_lib" / "__pycache__").mkdir(parents=True)
    (tmp_path / "diva_lib" / "a.py").write_text("A = 1\n")
    (tmp_path / "diva_lib" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "notebooks").mkdir()
    for stem in ("01_x", "99_y"):
        (tmp_path / "notebooks" / f"{stem}.py").write_text(f"# {stem}\n")
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    return tmp_path


def finished_run(root: Path) -> tuple[Path, Path]:
    run, nbs = root / "run" / "default", root / "run" / "notebooks"
    run.mkdir(parents=True)
    nbs.mkdir()
    (run / "timings.json").write_text("{}")
    (run / "table1.json").write_text(json.dumps({"acc": 0.9}))
    for stem in ("01_x", "99_y"):
        (nbs / f"{stem}.ipynb").write_text("{}")
    return run, nbs


def test_stamp_covers_library_notebooks_and_lock_but_not_bytecode(project):
    s = reference.stamp(project)
    assert set(s["files"]) == {"diva_lib/a.py", "notebooks/01_x.py", "notebooks/99_y.py", "requirements.txt"}
    assert reference.stamp(project)["hash"] == s["hash"]


def test_differences_name_changed_added_and_removed_files(project):
    dest = project / "results" / "default"
    (dest / "bench_x.json").parent.mkdir(parents=True)
    (dest / "bench_x.json").write_text("{}")
    reference.promote(*finished_run(project), dest, root=project)
    assert reference.differences(dest, project) == []
    assert (dest / "bench_x.json").is_file() and (dest / "notebooks" / "99_y.ipynb").is_file()
    (project / "diva_lib" / "a.py").write_text("A = 2\n")
    (project / "diva_lib" / "b.py").write_text("")
    (project / "requirements.txt").unlink()
    assert reference.differences(dest, project) == ["changed: diva_lib/a.py", "added: diva_lib/b.py",
                                                    "removed: requirements.txt"]


def test_promoted_notebooks_keep_their_outputs_but_not_stderr(project):
    run, nbs = finished_run(project)
    cell = {"cell_type": "code", "source": "1", "outputs": [
        {"output_type": "stream", "name": "stderr", "text": "/home/me/.venv/…: UserWarning"},
        {"output_type": "stream", "name": "stdout", "text": "1"}]}
    (nbs / "01_x.ipynb").write_text(json.dumps({"cells": [cell]}))
    dest = reference.promote(run, nbs, project / "results" / "default", root=project)
    outputs = json.loads((dest / "notebooks" / "01_x.ipynb").read_text())["cells"][0]["outputs"]
    assert outputs == [{"output_type": "stream", "name": "stdout", "text": "1"}]


def test_an_unfinished_run_is_not_promoted_and_the_reference_stays(project):
    dest = project / "results" / "default"
    reference.promote(*finished_run(project), dest, root=project)
    before = (dest / "stamp.json").read_text()
    (project / "notebooks" / "05_new.py").write_text("")
    with pytest.raises(ValueError, match="05_new"):
        reference.promote(project / "run" / "default", project / "run" / "notebooks", dest, root=project)
    assert (dest / "stamp.json").read_text() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["default"]


def test_reference_check_exits_1_on_a_difference_and_2_without_a_stamp(tmp_path, capsys):
    assert cli.main(["reference", "check", "--results", str(tmp_path)]) == 2
    assert "make reference" in capsys.readouterr().err
    (tmp_path / "stamp.json").write_text(json.dumps({"files": {"diva_lib/gone.py": "0"}}))
    assert cli.main(["reference", "check", "--results", str(tmp_path)]) == 1
    assert "removed: diva_lib/gone.py" in capsys.readouterr().out




def test_committed_reference_has_every_chapter_executed_with_outputs_and_a_stamp():
    root = Path(reference.ROOT) / "results" / "default"
    chapters = {p.stem for p in (Path(reference.ROOT) / "notebooks").glob("*.py")}
    executed = {p.stem: p for p in (root / "notebooks").glob("*.ipynb")}
    assert set(executed) == chapters and (root / "stamp.json").is_file()
    for stem, path in executed.items():
        assert path.stat().st_size <= reference.MAX_NOTEBOOK_BYTES, stem
        cells = json.loads(path.read_text())["cells"]
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), f"{stem} has no outputs"

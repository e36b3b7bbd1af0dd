"""The package as a user installs it: declared dependencies, its citation file, its console script."""

import ast
import json
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _requirement_names(reqs: list[str]) -> set[str]:
    return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower().replace("_", "-")
            for r in reqs}


def test_every_third_party_import_of_the_library_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    imported = set()
    for path in (ROOT / "diva_lib").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"diva_lib"}
    dists = packages_distributions()
    missing = {m: dists.get(m) for m in third_party
               if not {d.lower().replace("_", "-") for d in dists.get(m, [m])} & declared}
    assert not missing, f"imported by diva_lib but not in pyproject.toml's dependencies: {missing}"


def test_lock_pins_every_declared_package_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.txt").read_text()
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lock.splitlines() if "==" in line}
    wanted = _requirement_names(project["dependencies"] + project["optional-dependencies"]["book"]
                                + project["optional-dependencies"]["test"])
    assert wanted <= pinned, f"declared but not locked: {sorted(wanted - pinned)}"
    blocks = [b for b in lock.split("\n") if "==" in b]
    assert blocks and lock.count("--hash=sha256:") >= len(blocks)


def test_citation_file_is_valid_cff_1_2_0():
    schema = json.loads((ROOT / "tests" / "schemas" / "cff-1.2.0.schema.json").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    jsonschema.validate(citation, schema)
    assert citation["preferred-citation"]["title"].startswith("A Tale of Two Models")
    broken = {k: v for k, v in citation.items() if k != "authors"}
    try:
        jsonschema.validate(broken, schema)
    except jsonschema.ValidationError as e:
        assert "authors" in e.message
    else:
        raise AssertionError("a citation without authors passed the schema")


def test_readme_is_short_and_its_results_block_matches_the_reference():
    from diva_lib import report

    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 120 and "make book" in text and "make test" in text
    block = text.split(report.README_START)[1].split(report.README_END)[0].strip()
    assert block == report.results_summary(ROOT / "results" / "default"), "run `make readme`"


def test_wheel_ships_the_registry_and_the_console_script(tmp_path):
    import subprocess
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(ROOT), "-w", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = zipfile.ZipFile(next(tmp_path.glob("diva_lib-*.whl")))
    names = set(wheel.namelist())
    for folder in ("att_faces", "imagenet_sample", "lfw_faces", "pins_faces"):
        assert {f"diva_lib/registry/{folder}/SHA256SUMS", f"diva_lib/registry/{folder}/PROVENANCE.md"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "diva = diva_lib.cli:main" in wheel.read(entry_points).decode()

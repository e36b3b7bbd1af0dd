"""The committed smoke references, one per CPU kind, and how a finished smoke run becomes one.

    python tests/scripts/smoke_reference.py --run /tmp/diva-tests-<id>/results/smoke

copies the run's JSON (not its timings) into tests/smoke_reference/<kind>/ with the machine and
the stamp of the code (`diva_lib.reference.stamp`); the folder is replaced only once complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from diva_lib import calibration, reference

ROOT = Path(__file__).resolve().parents[2]
SMOKE_REFERENCE = ROOT / "tests" / "smoke_reference"
PRIMARY_KIND = "avx512"  # the kind the default run is made on: its smoke reference is kept current by hand


def cpu() -> dict:
    """This CPU's kind ('avx512' or 'avx2') and its vector extensions (the flags that choose float kernels)."""
    here = calibration.machine()
    return {"kind": "avx512" if here["avx512"] else "avx2", "vector_extensions": here["vector_extensions"]}


def exact_reference(here: dict, references: Path = SMOKE_REFERENCE, root: Path = ROOT) -> Path | None:
    """The smoke reference a run on `here` is held to exactly, or None where there is none.

    It must be made on this kind of CPU (the same vector extensions, where it records them); a
    reference of a kind other than the primary also carries the stamp of its code and holds only
    while the code is unchanged (`reference.differences`), since no session can remake every kind.
    """
    folder = references / here["kind"]
    if not (folder / "machine.json").is_file():
        return None
    made_on = json.loads((folder / "machine.json").read_text())
    if made_on.get("vector_extensions", here["vector_extensions"]) != here["vector_extensions"]:
        return None
    if here["kind"] == PRIMARY_KIND:
        return folder
    return folder if (folder / "stamp.json").is_file() and not reference.differences(folder, root) else None


def promote(run: Path, references: Path = SMOKE_REFERENCE) -> Path:
    """Make a finished smoke run the reference of this CPU kind, with its machine and the stamp of this code."""
    missing = sorted({p.name for p in references.glob("*/*.json")} - {"machine.json", "stamp.json"}
                     - {p.name for p in run.glob("*.json")})
    if missing:
        raise SystemExit(f"{run} is not a finished smoke run (no {', '.join(missing)}): run `make test` first")
    here = cpu()
    dest = references / here["kind"]
    tmp = dest.with_name(f".{dest.name}.promoting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for p in sorted(run.glob("*.json")):
        if p.name != "timings.json":
            shutil.copy2(p, tmp / p.name)
    (tmp / "machine.json").write_text(json.dumps(calibration.machine(), indent=2, sort_keys=True) + "\n")
    (tmp / "stamp.json").write_text(json.dumps(reference.stamp(ROOT), indent=1, sort_keys=True) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a finished smoke run's results folder")
    print(promote(ap.parse_args().run))

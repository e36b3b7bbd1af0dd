"""The committed reference run: its stamp (a content hash of what determines the results) and its promotion.

`results/default/` holds the JSON and executed notebooks of one `default` run with `stamp.json`:
the SHA-256 of every file in `STAMPED` when the run was made. `differences` names the files whose
content changed since, so a reader knows whether the reference still describes the code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMPED = ("diva_lib", "notebooks", "requirements.txt")
"""What determines the results: the library, the notebooks and the lock."""
MAX_NOTEBOOK_BYTES = 2 * 2**20


def file_hashes(root: Path = ROOT) -> dict[str, str]:
    """SHA-256 of every stamped file (bytecode caches left out), by path relative to `root`."""
    out = {}
    for name in STAMPED:
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()
                                                   and "__pycache__" not in p.parts and p.suffix != ".pyc")
        for p in files:
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def stamp(root: Path = ROOT) -> dict:
    """The stamp of the code as it is now: one hash over all stamped files, and each file's hash."""
    files = file_hashes(root)
    total = hashlib.sha256("".join(f"{k} {v}\n" for k, v in sorted(files.items())).encode()).hexdigest()
    return {"hash": total, "stamped": list(STAMPED), "files": files}


def differences(results: Path, root: Path = ROOT) -> list[str]:
    """The stamped files that differ from the reference's stamp ('changed: …', 'added: …', 'removed: …').

    Example:
        >>> differences(Path("results/default"))  # doctest: +SKIP
        []
    """
    path = Path(results) / "stamp.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: promote a finished run with `make reference`")
    then, now = json.loads(path.read_text())["files"], file_hashes(root)
    return ([f"changed: {k}" for k in sorted(then.keys() & now.keys()) if then[k] != now[k]]
            + [f"added: {k}" for k in sorted(now.keys() - then.keys())]
            + [f"removed: {k}" for k in sorted(then.keys() - now.keys())])


def _copy_without_stderr(src: Path, dst: Path) -> None:
    """Copy an executed notebook without its stderr streams (library warnings, log lines; the book hides them)."""
    nb = json.loads(src.read_text())
    stderr = ("stream", "stderr")
    for cell in nb.get("cells", []):
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if (o.get("output_type"), o.get("name")) != stderr]
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def promote(run: Path, notebooks: Path, dest: Path, root: Path = ROOT) -> Path:
    """Make a finished run the reference: its JSON and executed notebooks into `dest`, with a fresh stamp.

    The benchmarks already in `dest` stay unless the run has its own. Notebooks lose their stderr
    streams. `dest` is replaced only once everything is in place.

    Example:
        >>> promote(Path(".verify/default"), Path(".verify/notebooks"), Path("results/default"))  # doctest: +SKIP
    """
    run, notebooks, dest = Path(run), Path(notebooks), Path(dest)
    sources = sorted((root / "notebooks").glob("*.py"))
    missing = [s.stem for s in sources if not (notebooks / f"{s.stem}.ipynb").is_file()]
    if missing or not (run / "timings.json").is_file():
        raise ValueError(f"{run} is not a finished run: no executed notebook for {missing or 'every chapter'} "
                         f"in {notebooks}, or no {run / 'timings.json'}; run `make reproduce` first")
    big = [f"{p.name} ({p.stat().st_size / 2**20:.1f} MiB)" for p in notebooks.glob("*.ipynb")
           if p.stat().st_size > MAX_NOTEBOOK_BYTES]
    if big:
        raise ValueError(f"executed notebooks over 2 MiB: {big}; shrink their figures before promoting")
    tmp = dest.with_name(f".{dest.name}.promoting")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "notebooks").mkdir(parents=True)
    for p in dest.glob("bench_*.json"):
        shutil.copy2(p, tmp / p.name)
    for p in run.glob("*.json"):
        shutil.copy2(p, tmp / p.name)
    for s in sources:
        _copy_without_stderr(notebooks / f"{s.stem}.ipynb", tmp / "notebooks" / f"{s.stem}.ipynb")
    (tmp / "stamp.json").write_text(json.dumps(stamp(root), indent=1, sort_keys=True) + "\n")
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest

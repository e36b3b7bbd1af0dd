"""Execute every notebook with papermill for a profile, recording wall time and peak memory.

    python book/execute.py --profile default [--only 01_table1_instability] [--param n_eval=200 ...]

Executed notebooks go to book/notebooks/ (written to a temporary file, then renamed), and
per-notebook seconds and peak RSS of the kernel to results/<profile>/timings.json (or the name
given with --timings), with the machine: CPU, cores, AVX-512, and MobileNet training images per
second measured at the start, from which the total is normalised to the fast 2-core kind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jupytext
import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diva_lib import calibration, report  # noqa: E402
from diva_lib.cache import ATTACK_CACHE_DIR, CACHE_DIR, ModelCache  # noqa: E402


def _watch(proc: subprocess.Popen, peak: list[float], stop: threading.Event) -> None:
    """Sample the resident memory of a process tree until told to stop; keep the maximum (MiB)."""
    try:
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            rss = 0
            for p in [root, *root.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak[0] = max(peak[0], rss / 2**20)
            stop.wait(0.5)
    except psutil.NoSuchProcess:
        pass


def _cached() -> tuple[set[str], set[str]]:
    """Names of the finished model-cache entries and of the stored attack-cache results present now."""
    def names(folder: Path) -> set[str]:
        return {p.name for p in folder.glob("*") if not p.name.startswith(".")}  # not locks or unfinished builds

    return names(CACHE_DIR), names(ATTACK_CACHE_DIR)


def run(src: Path, out_dir: Path, profile: str, params: tuple[str, ...] = ()) -> dict[str, float]:
    """Execute one notebook (papermill parameters as `name=value`); return its wall time, peak RSS and what it built.

    `models_built` and `results_stored` count the model-cache entries and attack-cache results the
    notebook added: zero for both on full caches, every model and attack it needs on empty ones.
    `builds` names each added model and its build seconds (a build includes any entry it needed first).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="diva-run-") as tmp:  # outside the book, so a kill leaves no page
        src_nb, out_nb = Path(tmp) / f"{src.stem}.ipynb", Path(tmp) / f"{src.stem}.out.ipynb"
        jupytext.write(jupytext.read(src), src_nb)
        extra = [arg for p in params for arg in ("-p", *p.split("=", 1))]
        cmd = [sys.executable, "-m", "papermill", "--cwd", str(src.parent), "-p", "profile", profile, *extra,
               str(src_nb), str(out_nb)]
        peak, stop = [0.0], threading.Event()
        models, runs = _cached()
        t = time.perf_counter()
        proc = subprocess.Popen(cmd)
        watcher = threading.Thread(target=_watch, args=(proc, peak, stop), daemon=True)
        watcher.start()
        rc = proc.wait()
        stop.set()
        watcher.join()
        seconds = time.perf_counter() - t
        if rc != 0:
            raise SystemExit(f"{src.name} failed in profile {profile!r} (papermill exit {rc}); see the output above")
        partial = out_dir / f".{src.stem}.ipynb.partial"
        executed = nbformat.read(out_nb, as_version=4)
        for cell in executed.cells:  # the book shows the parameters cell, not papermill's copy of the overrides
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.metadata["tags"].append("remove-cell")
        nbformat.write(executed, partial)
        partial.replace(out_dir / f"{src.stem}.ipynb")
    models_after, runs_after = _cached()
    builds = [ModelCache(CACHE_DIR).build_record(m) for m in sorted(models_after - models)]
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak[0], 1), "models_built": len(builds),
            "results_stored": len(runs_after - runs), "builds": builds}


def machine_record() -> dict:
    """The CPU this run executes on and its MobileNet training speed, measured now in a fresh process."""
    code = "from diva_lib import calibration; print(calibration.mobilenet_train_ips())"
    ips = float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1])
    return {**calibration.machine(), "mobilenet_train_ips": round(ips, 1)}


def totals(timings: dict) -> dict[str, float]:
    """Total seconds, and their sum normalised to the fast kind chapter by chapter.

    Each chapter is normalised by the calibration of the call that ran it (a chapter recorded
    without one by the machine's latest), since the speed measured at the start of a call varies.

    Example:
        >>> totals({"machine": {"mobilenet_train_ips": 630}, "a": {"seconds": 10.0, "mobilenet_train_ips": 315}})
        {'total_seconds': 10.0, 'normalised_total_seconds': 5.0}
    """
    runs = [v for v in timings.values() if isinstance(v, dict) and "seconds" in v]
    latest = timings["machine"]["mobilenet_train_ips"]
    normalised = sum(calibration.normalised(v["seconds"], v.get("mobilenet_train_ips", latest)) for v in runs)
    return {"total_seconds": round(sum(v["seconds"] for v in runs), 1),
            "normalised_total_seconds": round(normalised, 1)}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--only", nargs="*", default=None, help="notebook stems to run (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "book" / "notebooks", help="folder for executed notebooks")
    ap.add_argument("--timings", default="timings",
                    help="name of the timings file in results/<profile>/ (e.g. timings_warm for a run on full caches)")
    ap.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE",
                    help="papermill parameters for the notebooks run, e.g. n_eval=200 seed=1")
    args = ap.parse_args(argv)
    bad = [p for p in args.param if "=" not in p or not p.split("=", 1)[0].isidentifier()]
    if bad:
        raise SystemExit(f"--param {bad}: write each parameter as NAME=VALUE, e.g. n_eval=200")
    sources = sorted((ROOT / "notebooks").glob("*.py"))
    if args.only:
        unknown = set(args.only) - {s.stem for s in sources}
        if unknown:
            raise SystemExit(f"--only {sorted(unknown)}: no such notebook in notebooks/")
        sources = [s for s in sources if s.stem in args.only]
    removed = ModelCache().clean_partial()  # build folders a killed run left behind
    if removed:
        print(f"removed {removed} unfinished model build(s) from the cache", flush=True)
    path = report.results_path(args.profile, args.timings)
    timings = report.load_json(path) if args.only and path.is_file() else {}
    timings["machine"] = machine_record()
    print(f"   machine: {timings['machine']}", flush=True)
    for src in sources:
        print(f"== {src.stem} ({args.profile})", flush=True)
        timings[src.stem] = {**run(src, args.out, args.profile, tuple(args.param)),
                             "mobilenet_train_ips": timings["machine"]["mobilenet_train_ips"]}
        print(f"   {timings[src.stem]}", flush=True)
        timings |= totals(timings)
        report.save_json(timings, path)  # after every notebook, so later chapters can show the run so far
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

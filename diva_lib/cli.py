"""The `diva` command line: `diva fetch` prepares the datasets, `diva plan` sizes a run, `diva audit` tests
your own edge model.

    diva fetch all                                  # from DATA_MIRROR (default ../shared/data), else public sources
    diva fetch fashion_mnist mnist --mirror none    # always from the public sources
    diva fetch --imagenet-val /path/to/ILSVRC2012/val   # paper profile
    diva fetch --pubfig dev                             # paper profile, face chapter
    diva fetch --vggface-weights rcmalli_vggface_tf_notop_resnet50.h5 [--vggface-sha256 HEX]
    diva plan --profile paper                       # what the paper profile needs, and how long it takes here
    diva audit --original fp32.keras --adapted model.tflite --data test.npz --out audit/ --fail-above 0.05
    diva reference check                            # does results/default still describe this code?
    diva reference promote --run .verify/default --notebooks .verify/notebooks
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from diva_lib import data

FETCH_HELP = """Prepare datasets into data/ (DIVA_DATA): copied from a local mirror when it holds them, else
downloaded from each dataset's public sources, every file checked against its pinned SHA-256."""


def link_imagenet(val_dir: Path, data_dir: Path) -> Path:
    """Link a user-supplied ImageNet validation folder into the data dir after a quick sanity check."""
    val_dir = val_dir.resolve()
    n = sum(1 for p in val_dir.rglob("*") if p.suffix.lower() in {".jpeg", ".jpg"})
    if n == 0:
        raise data.DataError(f"--imagenet-val {val_dir} holds no JPEG files; pass the ILSVRC2012 validation folder")
    dest = data_dir / "imagenet_val"
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    dest.symlink_to(val_dir, target_is_directory=True)
    print(f"imagenet_val -> {val_dir} ({n} images)")
    return dest


def fetch_pubfig(which: str, dest: Path) -> None:
    """Download a PubFig URL list (or read a local one), then every image, checked by md5 and cropped."""
    from diva_lib import pubfig

    if which in pubfig.URLS:
        listing = data.download(pubfig.URLS[which], dest / f"{which}_urls.txt")
    elif Path(which).is_file():
        listing = Path(which)
    else:
        raise SystemExit(f"--pubfig {which!r} is neither 'dev', 'eval' nor a PubFig *_urls.txt file")
    counts = pubfig.fetch(pubfig.parse_urls(listing.read_text()), dest)
    print(f"pubfig: {counts} (failures listed in {dest / 'failures.tsv'})")


def link_vggface(path: Path, sha256: str | None, data_dir: Path) -> Path:
    """Check the VGGFace weights (HDF5 structure, optional SHA-256; never unpickled) and link them into data/."""
    from diva_lib import models

    path = path.resolve()
    models.load_vggface_weights(models.build_vggface_resnet50(2, 224), path, sha256)
    digest = data.sha256_file(path)
    dest = data_dir / "vggface_notop.h5"
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    dest.symlink_to(path)
    print(f"vggface_notop.h5 -> {path} (SHA-256 {digest}; set DIVA_VGGFACE_SHA256 to pin it)")
    return dest


def add_fetch(sub: argparse._SubParsersAction) -> None:
    """The `diva fetch` subcommand."""
    ap = sub.add_parser("fetch", help="prepare the datasets (mirror first, else public sources), checked by SHA-256",
                        description=FETCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", default=["all"], help=f"'all' or names from {list(data.DATASETS)}")
    ap.add_argument("--mirror", type=Path, default=Path(os.environ.get("DATA_MIRROR", data.DEFAULT_MIRROR)))
    ap.add_argument("--data-dir", type=Path, default=data.DATA_DIR)
    ap.add_argument("--base-url", default=None, help="replace the first public source's base URL")
    ap.add_argument("--imagenet-val", type=Path, default=None, help="ImageNet validation folder (paper profile)")
    ap.add_argument("--pubfig", default=None, help="'dev', 'eval' or a local PubFig *_urls.txt: download and crop")
    ap.add_argument("--vggface-weights", type=Path, default=None, help="keras-vggface notop ResNet50 .h5 to check")
    ap.add_argument("--vggface-sha256", default=None, help="expected SHA-256 of the VGGFace weights file")
    ap.set_defaults(run=fetch)


def fetch(args: argparse.Namespace) -> int:
    """Prepare the named datasets; exit status 1 if any failed."""
    names = list(data.DATASETS) if "all" in args.datasets else args.datasets
    mirror = args.mirror if args.mirror and args.mirror.is_dir() else None
    if mirror is None:
        print(f"no mirror at {args.mirror}; fetching from public sources")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        if mirror is None and not data.spec(name).sources and "all" in args.datasets:
            print(f"skip {name:15s} {data.spec(name).placement}")
            continue
        try:
            root = data.prepare(name, args.data_dir, mirror, args.base_url)
            print(f"ok  {name:16s} {root}")
        except (data.DataError, OSError) as e:
            print(f"ERR {name:16s} {e}", file=sys.stderr)
            failed.append(name)
    if args.imagenet_val:
        link_imagenet(args.imagenet_val, args.data_dir)
    if args.pubfig:
        fetch_pubfig(args.pubfig, args.data_dir / "pubfig")
    if args.vggface_weights:
        link_vggface(args.vggface_weights, args.vggface_sha256, args.data_dir)
    return 1 if failed else 0


def add_plan(sub: argparse._SubParsersAction) -> None:
    """The `diva plan` subcommand."""
    ap = sub.add_parser("plan", help="what a profile's run builds and needs, its memory and time on this machine",
                        description="Print what a run of PROFILE will build and attack, the data it needs (and "
                                    "which is missing), a host-memory estimate, and a time estimate from rates "
                                    "measured here by a short calibration.")
    ap.add_argument("--profile", default="paper", help="smoke, default or paper (default: paper)")
    ap.add_argument("--archs", nargs="+", default=None, help="architectures (default: the profile's)")
    ap.add_argument("--calibration-steps", type=int, default=2, help="timed steps per architecture (default 2)")
    ap.set_defaults(run=plan)


def plan(args: argparse.Namespace) -> int:
    """Print the plan; exit status 2 on a bad profile or architecture."""
    from diva_lib import config
    from diva_lib import plan as planner

    try:
        config.check_positive_int("calibration_steps", args.calibration_steps)
        print(planner.report(args.profile, args.archs, args.calibration_steps))
    except config.ParameterError as e:
        print(f"diva plan: {e}", file=sys.stderr)
        return 2
    return 0


def add_audit(sub: argparse._SubParsersAction) -> None:
    """The `diva audit` subcommand."""
    ap = sub.add_parser("audit", help="DIVA against your own edge model: a report, and an exit status for CI",
                        description="Search an L-inf ball around your images for inputs on which the deployed "
                                    "model is wrong and the original right (DIVA), next to PGD; judged on the "
                                    "deployed .tflite with LiteRT. Exit status: 0 passed, 1 DIVA's top-1 success at "
                                    "the largest eps exceeds --fail-above, 2 bad input.")
    ap.add_argument("--original", type=Path, required=True, help="the full-precision Keras model (.keras, .h5, "
                                                                   "SavedModel)")
    ap.add_argument("--adapted", type=Path, required=True, help="the deployed .tflite (int8, float or pruned)")
    ap.add_argument("--qat", type=Path, default=None, help="its QAT Keras model, if any: the gradient source")
    ap.add_argument("--data", type=Path, required=True, help=".npz with x, y, or one sub-folder per class")
    ap.add_argument("--scale", type=float, default=None,
                    help="pixels are divided by this to reach [0, 1] (default: 255 for uint8 data and image folders, "
                         "else 1)")
    ap.add_argument("--eps", default="2/255,4/255,8/255", help="radii, comma-separated (default 2/255,4/255,8/255)")
    ap.add_argument("--n", type=int, default=500, help="images attacked per radius (default 500)")
    ap.add_argument("--out", type=Path, required=True, help="report folder (its .cache makes a rerun resume)")
    ap.add_argument("--fail-above", type=float, default=None, help="exit 1 if DIVA's top-1 success exceeds this rate")
    ap.add_argument("--seed", type=int, default=0)
    ap.set_defaults(run=audit)


def audit(args: argparse.Namespace) -> int:
    """Run an audit; 0 passed, 1 over --fail-above, 2 bad input (nothing is attacked then)."""
    from diva_lib import audit as auditor

    try:
        eps = auditor.parse_eps(args.eps)
        if args.n < 1:
            raise auditor.AuditError(f"--n {args.n} must be at least 1 (images attacked per radius), e.g. --n 500")
        if args.fail_above is not None and not 0 <= args.fail_above <= 1:
            raise auditor.AuditError(f"--fail-above {args.fail_above} must be a rate in [0, 1], e.g. 0.05")
        if args.scale is not None and not args.scale > 0:
            raise auditor.AuditError(f"--scale {args.scale} must be > 0, e.g. --scale 255 for 0-255 pixels")
        pair = auditor.open_pair(args.original, args.adapted, args.data, args.qat, args.scale)
    except auditor.AuditError as e:
        print(f"diva audit: {e}", file=sys.stderr)
        return 2
    result = auditor.run(pair, eps, args.n, args.out, args.seed)
    result.report["files"] = auditor.files_digest(args.original, args.adapted, args.qat, args.data)
    json_path, html_path = auditor.save(result, args.out)
    print(auditor.summary(result.report).to_string(index=False))
    print(f"gradient source: {result.report['gradient_source']}; wrote {json_path} and {html_path}")
    largest = max(result.report["by_eps"].values(), key=lambda r: r["eps"])
    if args.fail_above is not None and largest["diva_top1"] > args.fail_above:
        low, high = largest["diva_top1_ci"]
        print(f"FAIL: DIVA top-1 success {100 * largest['diva_top1']:.1f} % (95 % interval {100 * low:.1f}–"
              f"{100 * high:.1f}) at eps {largest['eps']:.4g} exceeds --fail-above {args.fail_above}")
        return 1
    return 0


def add_reference(sub: argparse._SubParsersAction) -> None:
    """The `diva reference` subcommand."""
    ap = sub.add_parser("reference", help="check or promote the committed reference run (results/default)",
                        description="check: exit 1 when a file of diva_lib/, notebooks/ or the lock differs from "
                                    "the reference's stamp, naming it. promote: make a finished run the reference.")
    ap.add_argument("action", choices=("check", "promote"))
    ap.add_argument("--results", type=Path, default=Path("results/default"), help="the reference folder")
    ap.add_argument("--run", dest="run_dir", type=Path,
                    help="promote: the run's results folder, e.g. .verify/default")
    ap.add_argument("--notebooks", type=Path, help="promote: its executed notebooks, e.g. .verify/notebooks")
    ap.set_defaults(run=reference)


def reference(args: argparse.Namespace) -> int:
    """Check the stamp (exit 1 on a difference) or promote a run (exit 2 on a bad run)."""
    from diva_lib import reference as ref

    try:
        if args.action == "promote":
            if not (args.run_dir and args.notebooks):
                raise ValueError("promote needs --run and --notebooks, e.g. --run .verify/default "
                                 "--notebooks .verify/notebooks")
            print(f"promoted {args.run_dir} to {ref.promote(args.run_dir, args.notebooks, args.results)}")
            return 0
        diff = ref.differences(args.results)
    except (ValueError, FileNotFoundError) as e:
        print(f"diva reference: {e}", file=sys.stderr)
        return 2
    for line in diff:
        print(line)
    print(f"{args.results} {'does not match' if diff else 'matches'} the code ({len(diff)} stamped file(s) differ)")
    return 1 if diff else 0


def main(argv: list[str] | None = None) -> int:
    """The `diva` command line."""
    ap = argparse.ArgumentParser(prog="diva", description="DIVA, reproduced: datasets and tools of the book.")
    sub = ap.add_subparsers(dest="command", required=True)
    add_fetch(sub)
    add_plan(sub)
    add_audit(sub)
    add_reference(sub)
    args = ap.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

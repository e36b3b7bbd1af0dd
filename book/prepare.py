"""Put the notebooks the book renders into book/notebooks/ and say on its first page where they come from.

    python book/prepare.py --reference results/default   # the committed reference run: nothing executes
    python book/prepare.py --executed default            # what `make notebooks` just executed

The note goes to book/build_note.md, which the first page includes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diva_lib import reference  # noqa: E402

BOOK_NOTEBOOKS = ROOT / "book" / "notebooks"


def reference_note(results: Path) -> str:
    """The first page's note for a book rendered from a committed reference run."""
    try:
        diff = reference.differences(results)
    except FileNotFoundError:
        return (f"```{{warning}}\nThese pages render `{results}`, which has no stamp: nothing says which code "
                "produced them.\n```\n")
    if not diff:
        return (f"```{{note}}\nThese pages render the committed reference run (`{results}`) without executing "
                "anything. Its stamp matches this code (`diva reference check`); `make reproduce` re-runs it and "
                "compares every number.\n```\n")
    files = "\n".join(f"- `{d}`" for d in diff)
    return (f"```{{warning}}\nThese pages render the committed reference run (`{results}`), but the code differs "
            f"from the code that produced it:\n\n{files}\n\n`make book EXECUTE=1` renders this code's own "
            "run.\n```\n")


def executed_note(profile: str) -> str:
    """The first page's note for a book rendered from notebooks executed in this checkout."""
    return (f"```{{note}}\nThese pages were executed in this checkout with the `{profile}` profile "
            "(`make book EXECUTE=1` or another profile), not read from the committed reference run.\n```\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--reference", type=Path, help="a reference folder with notebooks/, e.g. results/default")
    group.add_argument("--executed", metavar="PROFILE", help="the profile book/notebooks/ was executed with")
    args = ap.parse_args(argv)
    if args.reference:
        sources = sorted((args.reference / "notebooks").glob("*.ipynb"))
        if not sources:
            raise SystemExit(f"{args.reference}/notebooks holds no executed notebook; `make book EXECUTE=1` "
                             "executes them here")
        shutil.rmtree(BOOK_NOTEBOOKS, ignore_errors=True)
        BOOK_NOTEBOOKS.mkdir(parents=True)
        for nb in sources:
            shutil.copy2(nb, BOOK_NOTEBOOKS / nb.name)
        note = reference_note(args.reference)
    else:
        note = executed_note(args.executed)
    (ROOT / "book" / "build_note.md").write_text(note)
    print(note.splitlines()[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

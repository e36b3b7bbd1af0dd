"""PubFig (Kumar et al., 2009) for the `paper` profile: download from its URL lists, check md5, crop faces.

PubFig is distributed as lists of image URLs on the web, one line per image:
`person<TAB>imagenum<TAB>url<TAB>x0,y0,x1,y1<TAB>md5`. Many links are dead by now; each
failure is recorded (dead link, md5 mismatch, undecodable image) and the image skipped.
"""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from diva_lib.data import DataError
from diva_lib.files import atomic_write

URLS = {
    "dev": "https://www.cs.columbia.edu/CAVE/databases/pubfig/download/dev_urls.txt",
    "eval": "https://www.cs.columbia.edu/CAVE/databases/pubfig/download/eval_urls.txt",
}


@dataclass(frozen=True)
class Entry:
    """One line of a PubFig URL list."""

    person: str
    imagenum: int
    url: str
    rect: tuple[int, int, int, int]
    md5: str


def parse_urls(text: str) -> list[Entry]:
    """Entries of a PubFig `*_urls.txt` file (comment lines start with '#')."""
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 5:
            raise DataError(f"line {n} of the PubFig URL list has {len(parts)} tab-separated fields, expected 5: "
                            f"{line[:80]!r}")
        person, num, url, rect, md5 = parts
        x0, y0, x1, y1 = (int(v) for v in rect.split(","))
        entries.append(Entry(person.strip(), int(num), url.strip(), (x0, y0, x1, y1), md5.strip().lower()))
    return entries


def _target(out_dir: Path, e: Entry) -> Path:
    return out_dir / e.person.replace(" ", "_") / f"{e.imagenum:05d}.jpg"


def fetch_one(e: Entry, out_dir: Path, size: int, timeout: float) -> str:
    """Download, verify, crop and store one image; return 'ok' or the reason it was skipped."""
    from PIL import Image

    path = _target(out_dir, e)
    if path.is_file():
        return "ok"
    try:
        with urllib.request.urlopen(e.url, timeout=timeout) as r:
            blob = r.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        return f"dead link ({err})"
    if hashlib.md5(blob).hexdigest() != e.md5:
        return "md5 mismatch"
    try:
        with Image.open(io.BytesIO(blob)) as im:
            face = im.convert("RGB").crop(e.rect).resize((size, size), Image.BILINEAR)
    except OSError as err:
        return f"undecodable ({err})"
    with atomic_write(path) as f:
        face.save(f, format="JPEG", quality=95)
    return "ok"


def fetch(entries: list[Entry], out_dir: Path, size: int = 224, timeout: float = 10.0,
          workers: int = 8) -> dict[str, int]:
    """Fetch every entry into `out_dir/<person>/<imagenum>.jpg`; write failures.tsv; return counts by outcome."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(tqdm(pool.map(lambda e: fetch_one(e, out_dir, size, timeout), entries), total=len(entries),
                             desc="PubFig"))
    failed = [(e, o) for e, o in zip(entries, outcomes, strict=True) if o != "ok"]
    lines = "".join(f"{e.person}\t{e.imagenum}\t{e.url}\t{o}\n" for e, o in failed)
    (out_dir / "failures.tsv").write_text("person\timagenum\turl\treason\n" + lines)
    counts: dict[str, int] = {}
    for o in outcomes:
        key = o.split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    return counts

import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("0*.py"))


def test_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"
    res = subprocess.run([str(ruff), "check", "diva_lib", "tests", "data_scripts", "benchmarks", "book", "notebooks"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def code_lines(cell) -> list[str]:
    """The non-blank lines of a code cell."""
    return [line for line in cell.source.splitlines() if line.strip()]


@pytest.mark.parametrize("src", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_are_prose_over_short_calls(src):
    """No code cell over 15 lines, at most 60 code lines per chapter: the logic lives in diva_lib."""
    cells = [c for c in jupytext.read(src).cells if c.cell_type == "code"]
    longest = max(len(code_lines(c)) for c in cells)
    total = sum(len(code_lines(c)) for c in cells)
    assert longest <= 15, f"{src.name}: a code cell has {longest} lines"
    assert total <= 60, f"{src.name}: {total} code lines"


def test_the_shape_rule_can_fail(tmp_path):
    long = tmp_path / "09_long.py"
    long.write_text("# %%\n" + "\n".join(f"x{i} = {i}" for i in range(16)) + "\n")
    assert max(len(code_lines(c)) for c in jupytext.read(long).cells if c.cell_type == "code") == 16

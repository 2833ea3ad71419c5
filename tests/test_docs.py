"""The README and the docs site are tested as code: every ```python block runs, and the site builds
with ``mkdocs build --strict``.

A page's blocks run in order in one namespace (a later block may use an earlier one's names), in a
fresh Python process per page (a page's ``register_loss`` must not reach another page or test) and in
a temporary directory (the examples write ``runs/...``, ``baseline.json``, ...). A block that is
really a shell command is a ```bash block and is not run here; there is no skip list."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)

# Runs one page's blocks in order in one namespace; names the block that failed.
RUNNER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
for k, code in enumerate(blocks, 1):
    try:
        exec(compile(code, f"{sys.argv[2]}, python block {k}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"{sys.argv[2]}: python block {k} of {len(blocks)} failed")
"""


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_pages_have_python_blocks_to_run():
    """The extraction finds what a reader sees: the README's quick starts and the guides' examples."""
    counts = {p.name: len(python_blocks(p)) for p in PAGES}
    assert counts["README.md"] >= 2
    assert counts["trace.md"] >= 1 and counts["score.md"] >= 1 and counts["plugins.md"] >= 1
    # an unterminated or oddly fenced block would be silently skipped: every opening fence is paired
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert text.count("```python\n") == len(python_blocks(page)), page.name


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_of_the_page_runs(page, tmp_path):
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps(python_blocks(page)), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", RUNNER, str(blocks), page.name], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]


def test_the_docs_site_builds_strict(tmp_path):
    """``make docs`` (about 5 s, so not marked slow): every page, the CLI reference from click and the API from docstrings, with
    every warning (a broken link, a docstring that does not parse) an error."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    assert mkdocs, "mkdocs is in the dev extra (pip install -e '.[dev]')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([mkdocs, "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-6000:]
    site = tmp_path / "site"
    assert "ganeval bench" in (site / "cli" / "index.html").read_text(encoding="utf-8")
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "GANTracer" in api and "generator" in api

"""The docs stay true: the ```python blocks of each docs/*.md, joined in order, run clean in one
fresh namespace (their asserts and checks are the page's own claims)."""
import re
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parent.parent / "docs").glob("*.md"))
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_the_testing_guide_exists():
    assert any(p.name == "testing.md" for p in DOCS)


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_doc_code_runs(path: Path):
    code = "\n".join(FENCE.findall(path.read_text(encoding="utf-8")))
    assert code.strip(), f"{path.name} has no python blocks"
    exec(compile(code, str(path), "exec"), {"__name__": f"doc_{path.stem}"})

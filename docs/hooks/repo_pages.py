"""MkDocs hook: pages made at build time from files that live elsewhere in the repository.

The README becomes the home page and each tutorial (`tutorials/NN_*.py`, a jupytext "percent"
script) becomes a page, so neither is copied into docs/ and goes stale. Tutorials are read as
notebooks by jupytext and shown without being run: building the docs needs no OpenCL device.
"""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
# As tests/test_tutorials.py finds them: NN_name.py (percent scripts) or NN_name.md.
TUTORIALS = sorted(p for p in (ROOT / "tutorials").iterdir() if re.match(r"\d\d_\w+\.(py|md)$", p.name))
SOURCE_URL = "https://github.com/tinygradlike/tinygradlike/blob/main/"
# A relative Markdown link target: not a URL, not an anchor, not an absolute path.
RELATIVE_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#|/)([^)\s]+)\)", re.IGNORECASE)


def tutorial_page(path: Path) -> str:
    """One tutorial as Markdown: its markdown cells as they are, its code cells as Python blocks
    (a tutorial written as Markdown already is its page)."""
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    notebook = jupytext.read(path, fmt="py:percent")
    parts = []
    for cell in notebook.cells:
        source = cell.source.strip("\n")
        if source:
            parts.append(source if cell.cell_type == "markdown" else f"```python\n{source}\n```")
    # After the first cell (the title and introduction), so the page's title stays its own H1.
    parts.insert(1, f"*This page is [`tutorials/{path.name}`]({SOURCE_URL}tutorials/{path.name}), "
                    f"shown without running it: run it (`cd tutorials && python {path.name}`) or open "
                    "it as a notebook to see its output and do its exercises.*")
    return "\n\n".join(parts) + "\n"


def site_link(target: str) -> str:
    """Where a README link points on the site: docs pages and tutorials are pages here; any other
    file of the repository is shown on GitHub."""
    path, _, anchor = target.partition("#")
    anchor = f"#{anchor}" if anchor else ""
    if path.startswith("docs/") and path.endswith(".md"):
        return path.removeprefix("docs/") + anchor
    if (ROOT / path).resolve() in TUTORIALS:
        return f"tutorials/{Path(path).stem}.md{anchor}"
    return SOURCE_URL + path + anchor


def home_page() -> str:
    """The README with its links rewritten for the site."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return RELATIVE_LINK.sub(lambda m: f"]({site_link(m.group(1))})", readme)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # The nav names a "Tutorials" section; its pages are whatever tutorials exist.
    for entry in config.nav or []:
        if isinstance(entry, dict) and "Tutorials" in entry:
            entry["Tutorials"] = [f"tutorials/{path.stem}.md" for path in TUTORIALS]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, "index.md", content=home_page()))
    for path in TUTORIALS:
        files.append(File.generated(config, f"tutorials/{path.stem}.md", content=tutorial_page(path)))
    return files

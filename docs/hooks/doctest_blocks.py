"""MkDocs hook: doctest lines in docstrings render as code.

Docstrings here are prose plus `>>>` example lines with their output, not Google or NumPy
sections. Markdown would read `>>>` as three nested quotes; this fences each run of lines that
starts with `>>>` (through its output, up to the next blank line) as a Python code block, in the
pages and in the docstrings mkdocstrings renders (it builds its Markdown from the same extensions).
"""
from __future__ import annotations

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority


class FenceDoctests(Preprocessor):
    """Wraps each doctest example outside a code fence in a ```python fence."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        in_fence = in_doctest = False
        for line in lines:
            if in_doctest and not line.strip():
                out += ["```", ""]
                in_doctest = False
            elif not in_doctest and line.lstrip().startswith(("```", "~~~")):
                in_fence = not in_fence
            elif not in_fence and not in_doctest and line.startswith(">>>"):
                out += ["", "```python"]
                in_doctest = True
            out.append(line)
        return out + (["```"] if in_doctest else [])


class DoctestBlocks(Extension):
    """The Python-Markdown extension that runs FenceDoctests."""

    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 (Python-Markdown's name)
        # After whitespace normalization (30), before fenced code blocks are parsed (25).
        md.preprocessors.register(FenceDoctests(md), "doctest_blocks", 28)


@event_priority(100)  # in the list before mkdocstrings hands it to the Markdown of its docstrings
def on_config(config: MkDocsConfig) -> MkDocsConfig:
    config.markdown_extensions.append(DoctestBlocks())
    return config

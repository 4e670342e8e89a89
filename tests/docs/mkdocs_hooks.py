"""mkdocs hook: links from the guide to files outside ``docs/`` point at the repository on the site.

In the repository, ``docs/*.md`` link to ``../examples/x.py`` and ``../bench/README.md`` so the links
work on GitHub and in an editor; the built site has no such files, so those links are rewritten to the
repository's copies. Links inside ``docs/`` are left alone and checked by mkdocs (strict build).
"""

from __future__ import annotations

import re
from typing import Any, Final

REPOSITORY: Final = "https://github.com/edda-mcp/edda-mcp"
# ](../path) where path leaves docs/: a file or folder of the repository
_OUTSIDE_DOCS: Final = re.compile(r"\]\(\.\./(?P<path>[^)\s]*)\)")


def repository_url(path: str) -> str:
    """The repository's page for ``path`` (relative to the repository root, ``#anchor`` kept)."""
    kind = "tree" if path.endswith("/") or not path.split("#")[0].rsplit("/", 1)[-1].count(".") else "blob"
    return f"{REPOSITORY}/{kind}/main/{path}"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Rewrite ``](../path)`` links of top-level guide pages to the repository."""
    if "/" in page.file.src_uri:  # pages in sub-folders (the API reference) link nowhere outside
        return markdown
    return _OUTSIDE_DOCS.sub(lambda match: f"]({repository_url(match['path'])})", markdown)

"""Markdown that offices write, rendered and then sanitised: what a page shows is safe HTML.

markdown-it-py renders CommonMark with raw HTML switched off (a `<script>` is shown as text);
nh3 (the Rust ammonia sanitiser) then keeps only the tags below, whatever the renderer let
through, and links get rel="noopener noreferrer nofollow" and only http(s)/mailto schemes.
"""

import nh3
from markdown_it import MarkdownIt

MAX_MARKDOWN_CHARS = 50_000  # a notice is a few pages; anything longer is not a notice

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable(
        "strikethrough")


def render_markdown(text: str) -> str:
    """Safe HTML for `text` (Markdown)."""
    html = _renderer().render(text or "")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")

"""``results/report.html``: report.md as one self-contained page. Ascend hosts are often offline,
and the file is mailed around: no script, font, style or image is fetched from anywhere; the
plots are inlined as data: URIs, the style is inline and print-friendly.

Markdown to HTML is the ``markdown`` package's job (tables, fenced code); this module only wraps
it in a page, inlines the images, draws the verdict marks and embeds the CJK glyphs the page
uses (fonts.py).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from . import fonts

STYLE = """
body { font-family: "ascend-oss CJK", sans-serif;
       max-width: 1200px; margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; vertical-align: top; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
code { font-size: 12px; word-break: break-all; } pre { background: #f6f6f6; padding: .6em;
overflow-x: auto; } img { max-width: 100%; border: 1px solid #ddd; }
svg.mark { vertical-align: -2px; } summary { cursor: pointer; font-weight: bold; margin: .6em 0; }
@media print { body { max-width: none; margin: 0; } h2 { page-break-after: avoid; }
               img, table { page-break-inside: avoid; } }
"""
# Inline and offline: after load, the page records how many images decoded (a browser check
# reads it back from the DOM; a reader never notices it).
CHECK = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute("data-images", ok + "/" + imgs.length);
  document.fonts.load('13px "ascend-oss CJK"', "\u7cbe").then(function (faces) {
    document.body.setAttribute("data-cjk-font", faces.length);
  });
});
"""
_IMG = re.compile(r'<img alt="([^"]*)" src="([^"]+\.png)"\s*/?>')
# The verdict marks drawn, not typed: a reader without an emoji font (a stock server image, a
# headless browser) would see empty boxes for ✅ ❌ ⚠️ 📼 ⬜. Inline SVG needs no font.
_SVG = ('<svg class="mark" viewBox="0 0 16 16" width="14" height="14" role="img" '
        'aria-label="{label}">{shape}</svg>')
MARKS = {
    "✅": _SVG.format(label="pass", shape='<circle cx="8" cy="8" r="7.5" fill="#2e7d32"/>'
                      '<path d="M4.3 8.4l2.4 2.4 5-5.2" stroke="#fff" stroke-width="2" '
                      'fill="none"/>'),
    "❌": _SVG.format(label="fail", shape='<circle cx="8" cy="8" r="7.5" fill="#c62828"/>'
                      '<path d="M5 5l6 6M11 5l-6 6" stroke="#fff" stroke-width="2"/>'),
    "⚠️": _SVG.format(label="not measured", shape='<path d="M8 1l7.5 14H.5z" fill="#f9a825"/>'
                      '<path d="M8 6v4.5M8 12v1.5" stroke="#222" stroke-width="1.6"/>'),
    "⬜": _SVG.format(label="not measured", shape='<rect x="1.5" y="1.5" width="13" height="13" '
                      'fill="#fff" stroke="#888" stroke-width="1.5"/>'),
    "📼": _SVG.format(label="recorded", shape='<rect x="1" y="3" width="14" height="10" rx="1.5" '
                      'fill="#1565c0"/><circle cx="5" cy="8" r="2" fill="#fff"/>'
                      '<circle cx="11" cy="8" r="2" fill="#fff"/>'),
}


def _draw_marks(body: str) -> str:
    for mark, svg in MARKS.items():
        body = body.replace(mark, svg)
    return body.replace("\ufe0f", "")  # a stray emoji presentation selector


def render(markdown_text: str, results_dir: Path, title: str) -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code", "md_in_html"],
                             output_format="html")
    body = _draw_marks(body)
    results_dir = Path(results_dir)

    def inline(match: re.Match) -> str:
        path = results_dir / match.group(2)
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            return f'<p><em>missing figure: {html.escape(match.group(2))}</em></p>'
        return f'<img alt="{match.group(1)}" src="data:image/png;base64,{data}">'

    body = _IMG.sub(inline, body)
    cjk = fonts.embed(title + body)
    if cjk.characters and not cjk.css:
        body += (f"\n<p><em>{html.escape(cjk.source)}: the Chinese text shows only where the "
                 "reader has a CJK font (each heading has its English beside it).</em></p>")
    elif cjk.missing:
        body += (f"\n<p><em>{cjk.missing} of {cjk.characters} CJK characters are not in the "
                 f"embedded font ({html.escape(cjk.source)}).</em></p>")
    return ("<!doctype html>\n<html lang=\"zh\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{cjk.css}\n{STYLE}</style>\n"
            f"</head>\n<body>\n{body}\n<script>{CHECK}</script>\n</body>\n</html>\n")

"""The CJK glyphs report.html needs, embedded: a reader without a CJK font (a stock server image,
a headless browser, a colleague abroad) sees the guide's Chinese headings and the Chinese
prompts, not empty boxes.

Only the characters the page uses are taken, from a CJK font of the host that writes the report
(fontconfig's best match for Chinese), subset by fontTools (matplotlib's own dependency) into a
WOFF data URI under a family of our own whose ``unicode-range`` covers CJK only, so Latin text
keeps the reader's fonts. A host with no CJK font embeds nothing and the page says so; every
Chinese heading has its English beside it.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from dataclasses import dataclass

FAMILY = "ascend-oss CJK"
# CJK punctuation, kana, ideographs (extension A and the unified block), compatibility forms,
# full-width forms: the characters of Chinese text.
RANGES = ((0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
          (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))
UNICODE_RANGE = ", ".join(f"U+{lo:04X}-{hi:04X}" for lo, hi in RANGES)


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in RANGES)


@dataclass
class Embedded:
    css: str          # the @font-face rule ("" when nothing is embedded)
    source: str       # the host font the glyphs came from, or why none
    characters: int   # CJK characters the page uses
    missing: int      # of those, how many the font lacks


def _host_cjk_font() -> tuple[str, int] | None:
    """(file, index in a collection) of the host's best CJK font; None without fontconfig or
    without a font that claims Chinese."""
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}\n%{index}\n%{lang}", ":lang=zh-cn"],
                               capture_output=True, text=True, timeout=10,
                               check=False).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if len(found) < 3 or "zh-cn" not in found[2].split("|"):
        return None  # fontconfig's fallback for a language no installed font covers
    return found[0], int(found[1] or 0)


def embed(text: str, font: tuple[str, int] | None = None) -> Embedded:
    """The @font-face rule carrying the glyphs of every CJK character of ``text``."""
    chars = sorted({c for c in text if is_cjk(c)})
    if not chars:
        return Embedded("", "no CJK text", 0, 0)
    font = font or _host_cjk_font()
    if font is None:
        return Embedded("", "no CJK font on the host that wrote this report", len(chars),
                        len(chars))
    from fontTools import subset
    from fontTools.ttLib import TTFont

    path, index = font
    try:
        ttf = TTFont(path, fontNumber=index, lazy=False)
    except Exception as exc:  # noqa: BLE001 - fontTools raises many kinds on a damaged file
        return Embedded("", f"{path}: not readable by fontTools ({exc})", len(chars), len(chars))
    covered = ttf.getBestCmap() or {}
    missing = sum(1 for c in chars if ord(c) not in covered)
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # the font's names and licence notice travel with its glyphs
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(chars))
    subsetter.subset(ttf)
    buffer = io.BytesIO()
    ttf.flavor = "woff"
    ttf.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    css = (f'@font-face {{ font-family: "{FAMILY}"; src: url(data:font/woff;base64,{data}) '
           f'format("woff"); unicode-range: {UNICODE_RANGE}; }}')
    return Embedded(css, f"{path}#{index}", len(chars), missing)

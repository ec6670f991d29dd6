"""Text on ClueWorld signs: real words for scripts a bundled font covers, drawn glyphs for the others.

matplotlib ships DejaVu Sans, which covers Latin, Greek, Cyrillic and Hebrew, so those signs show the
country's real sign words. Arabic, Devanagari, Thai, Hangul, Japanese and Chinese need shaping or
fonts that are not available offline; for them each script has a small family of procedurally drawn
glyphs with its tell-tale features (Devanagari's headline, Arabic's joined baseline and dots, Thai's
loops, Hangul's syllable blocks, dense Han characters), which is what a player recognises at a glance.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import ImageDraw, ImageFont

FONT_SCRIPTS = frozenset({"latin", "greek", "cyrillic", "hebrew"})
RTL_SCRIPTS = frozenset({"hebrew", "arabic"})


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
    return str(path) if path.is_file() else None


@lru_cache(maxsize=64)
def _font(size: int):
    path = _font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


# Each writer returns strokes in "cell" units: x in [0, count], y in [0, 1].
def _arabic(rng, count):
    strokes = [("l", 0.0, 0.72, float(count), 0.72)]  # joined baseline
    for i in range(count):
        x = count - i - 0.5  # right to left
        choice = rng.integers(4)
        if choice == 0:
            strokes.append(("l", x, 0.72, x, 0.2))  # alif-like upright
        elif choice == 1:
            strokes.append(("e", x, 0.58, 0.18, 0.14))
        elif choice == 2:
            strokes += [("l", x - 0.3, 0.72, x - 0.35, 0.95), ("l", x - 0.35, 0.95, x + 0.2, 0.95)]
        else:
            strokes += [("l", x - 0.2, 0.72, x - 0.2, 0.55), ("l", x + 0.2, 0.72, x + 0.2, 0.55)]
        if rng.random() < 0.6:
            strokes.append(("d", x, 0.35 if rng.random() < 0.5 else 0.95))
    return strokes


def _devanagari(rng, count):
    strokes = [("l", 0.0, 0.18, float(count), 0.18)]  # the headline (shirorekha)
    for i in range(count):
        x = float(i)
        strokes.append(("l", x + 0.75, 0.18, x + 0.75, 0.95))
        if rng.random() < 0.7:
            strokes.append(("e", x + 0.4, 0.55, 0.2, 0.17))
        else:
            strokes.append(("l", x + 0.15, 0.3, x + 0.6, 0.8))
        if rng.random() < 0.25:
            strokes.append(("l", x + 0.6, 0.18, x + 0.85, 0.0))
    return strokes


def _thai(rng, count):
    strokes = []
    for i in range(count):
        x = float(i)
        strokes.append(("e", x + 0.22, 0.78 if rng.random() < 0.6 else 0.35, 0.1, 0.1))
        strokes += [
            ("l", x + 0.2, 0.4, x + 0.45, 0.3),
            ("l", x + 0.45, 0.3, x + 0.7, 0.4),
            ("l", x + 0.7, 0.4, x + 0.7, 0.95),
        ]
        if rng.random() < 0.3:
            strokes.append(("l", x + 0.7, 0.3, x + 0.75, 0.0))
    return strokes


def _hangul(rng, count):
    strokes = []
    for i in range(count):
        x = float(i)
        initial = rng.integers(3)
        if initial == 0:
            strokes.append(("e", x + 0.3, 0.3, 0.17, 0.17))
        elif initial == 1:
            strokes += [("l", x + 0.1, 0.15, x + 0.5, 0.15), ("l", x + 0.5, 0.15, x + 0.45, 0.5)]
        else:
            strokes += [("l", x + 0.12, 0.12, x + 0.12, 0.48), ("l", x + 0.12, 0.48, x + 0.5, 0.48)]
        if rng.random() < 0.5:
            strokes += [("l", x + 0.75, 0.05, x + 0.75, 0.6), ("l", x + 0.75, 0.3, x + 0.92, 0.3)]
        else:
            strokes += [("l", x + 0.1, 0.62, x + 0.9, 0.62), ("l", x + 0.5, 0.62, x + 0.5, 0.52)]
        if rng.random() < 0.5:
            strokes += [("l", x + 0.2, 0.8, x + 0.75, 0.8), ("l", x + 0.2, 0.8, x + 0.2, 0.98)]
    return strokes


def _han(rng, count):
    strokes = []
    for i in range(count):
        x = float(i)
        left = 0.1
        if rng.random() < 0.5:  # a left-hand radical
            strokes += [("l", x + 0.2, 0.05, x + 0.08, 0.45), ("l", x + 0.2, 0.25, x + 0.2, 0.95)]
            left = 0.35
        for y in np.linspace(0.12, 0.9, int(rng.integers(3, 6))):
            strokes.append(("l", x + left, float(y), x + 0.92, float(y)))
        for vx in np.linspace(left + 0.1, 0.82, int(rng.integers(1, 3))):
            strokes.append(("l", x + float(vx), 0.08, x + float(vx), 0.95))
    return strokes


def _shift(strokes, dx: float):
    """Move strokes right by ``dx`` cells (an ellipse's radii stay as they are)."""
    moved = []
    for kind, *c in strokes:
        if kind == "e":
            moved.append((kind, c[0] + dx, c[1], c[2], c[3]))
        else:
            moved.append((kind, *[v + dx if j % 2 == 0 else v for j, v in enumerate(c)]))
    return moved


def _japanese(rng, count):
    strokes = []
    for i in range(count):
        x = float(i)
        if rng.random() < 0.35:  # a kanji among the kana
            strokes += _shift(_han(rng, 1), x)
        else:  # kana: a few sweeping strokes and a loop
            strokes += [("l", x + 0.15, 0.3, x + 0.85, 0.25), ("l", x + 0.55, 0.05, x + 0.35, 0.95)]
            if rng.random() < 0.5:
                strokes.append(("e", x + 0.6, 0.65, 0.2, 0.2))
    return strokes


GLYPH_WRITERS = {
    "arabic": _arabic,
    "devanagari": _devanagari,
    "thai": _thai,
    "hangul": _hangul,
    "chinese": _han,
    "japanese": _japanese,
}


def draw_word(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    word: str,
    script: str,
    colour: tuple[int, int, int],
    rng: np.random.Generator,
) -> bool:
    """Write ``word`` (or glyphs of ``script``) inside ``box`` = (x0, y0, x1, y1). False if too small."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    if width < 6 or height < 4:
        return False
    if script in FONT_SCRIPTS:
        text = word[::-1] if script in RTL_SCRIPTS else word
        size = max(4, int(height * 0.7))
        font = _font(size)
        text_width = draw.textlength(text, font=font)
        if text_width > width * 0.92:
            size = max(4, int(size * width * 0.92 / text_width))
            font = _font(size)
            text_width = draw.textlength(text, font=font)
        draw.text(
            (x0 + (width - text_width) / 2, y0 + (height - size) / 2 - size * 0.1),
            text,
            fill=colour,
            font=font,
        )
        return True
    cell = min(height * 0.75, width / 3)
    count = max(2, min(8, int(width * 0.9 / cell)))
    start = x0 + (width - count * cell) / 2
    top = y0 + (height - cell) / 2
    line = max(1, int(cell / 9))
    for kind, *coords in GLYPH_WRITERS[script](rng, count):
        if kind == "l":
            draw.line(
                [
                    (start + coords[0] * cell, top + coords[1] * cell),
                    (start + coords[2] * cell, top + coords[3] * cell),
                ],
                fill=colour,
                width=line,
            )
        elif kind == "e":
            cx, cy = start + coords[0] * cell, top + coords[1] * cell
            rx, ry = coords[2] * cell, coords[3] * cell
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=colour, width=line)
        else:  # a dot
            cx, cy = start + coords[0] * cell, top + coords[1] * cell
            r = max(0.6, cell / 14)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return True

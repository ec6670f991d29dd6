"""Are the reasons about the image? Clue recall and precision of a model's explanations against ClueWorld.

ClueWorld knows which clues each view shows and words each one as a fixed phrase (``describe``), and its
reasoning traces cite them as "I see <phrase>, ...", "The vegetation, <phrase>, fits ..." and "... the
landmark of <city> ...". The same patterns pick the clues a model's reasons mention. Then

* clue recall = true visible clues the reasons mention / true visible clues (does it look?), and
* clue precision = mentioned clues that are truly visible / mentioned clues (does it make things up?).

A mention counts when its phrase is exactly a visible clue's phrase: "a long yellow rear plate" for a white
one is a wrong mention, not half a right one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

_MENTIONS = (
    re.compile(r"\bI see (.+?), (?:which|so)\b", re.IGNORECASE),
    re.compile(r"\bThe vegetation, (.+?), fits\b"),
)
_LANDMARK = re.compile(r"\bthe landmark of (.+?), so the city\b")


def mentioned_clues(reasons: str) -> set[str]:
    """The clue phrases that a reasoning text cites."""
    found = {m.group(1).strip() for pattern in _MENTIONS for m in pattern.finditer(reasons or "")}
    found |= {f"the landmark tower of {m.group(1).strip()}" for m in _LANDMARK.finditer(reasons or "")}
    return found


def clue_scores(reasons: Sequence[str], visible: Sequence[dict[str, str] | Sequence[str]]) -> dict:
    """Micro-averaged clue recall and precision of ``reasons`` against each view's ``visible`` clue phrases
    (ClueWorld's ``sample.clues`` or just its values), and the per-view counts."""
    if len(reasons) != len(visible):
        raise ValueError(f"{len(reasons)} reasons for {len(visible)} views")
    hits = said = shown = 0
    rows = []
    for text, truth in zip(reasons, visible, strict=True):
        truth_set = set(truth.values() if isinstance(truth, dict) else truth)
        mentioned = mentioned_clues(text)
        right = len(mentioned & truth_set)
        hits, said, shown = hits + right, said + len(mentioned), shown + len(truth_set)
        rows.append({"visible": len(truth_set), "mentioned": len(mentioned), "correct": right})
    return {
        "recall": hits / shown if shown else 0.0,
        "precision": hits / said if said else 0.0,
        "visible": shown,
        "mentioned": said,
        "correct": hits,
        "per_view": rows,
    }


def recall_by_kind(
    texts: Sequence[str],
    visible: Sequence[dict[str, str]],
    mentions: Callable[[str], set[str]] = mentioned_clues,
) -> dict[str, float]:
    """For each kind of clue (``plate``, ``script``, ...), the share of views showing one whose text names its
    phrase. ``visible`` is each view's ``{kind: phrase}``; ``mentions`` picks the phrases a text names
    (:func:`mentioned_clues` for reasons, ``geolib.lvlm.tiny.caption_mentions`` for captions)."""
    if len(texts) != len(visible):
        raise ValueError(f"{len(texts)} texts for {len(visible)} views")
    shown, named = Counter(), Counter()
    for text, clues in zip(texts, visible, strict=True):
        said = mentions(text)
        for kind, phrase in clues.items():
            shown[kind] += 1
            named[kind] += phrase in said
    return {kind: named[kind] / shown[kind] for kind in sorted(shown)}


# Words that carry a geo-guessing clue in any model's reasons (ClueWorld's and real players' vocabulary)
CLUE_WORDS = re.compile(
    r"\b(?:(?:licen[cs]e |number |rear |front )?plates?|(?:\w+ )?script|alphabet|signs?|"
    r"(?:centre|center|edge|road) lines?|bollards?|(?:utility |telegraph |electricity )?poles?|flags?|"
    r"(?:left|right)(?:-hand)? (?:traffic|side)|drives? on the (?:left|right)|keeping to the (?:left|right)|"
    r"roofs?|architecture|vegetation|palms?|conifers?|broadleaf trees|sun|landmark(?: tower)?|language|"
    r"Cyrillic|Latin|Arabic|Greek|Hebrew|Thai|Hangul|Devanagari|Georgian|Armenian|kana|kanji|hanzi)\b",
    re.IGNORECASE,
)


def clue_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of ``text`` that name a clue: the whole phrase where a ClueWorld clue is
    cited, else clue words; sorted, never overlapping."""
    text = text or ""
    spans = [m.span(1) for pattern in _MENTIONS for m in pattern.finditer(text)]
    spans += [m.span() for m in CLUE_WORDS.finditer(text)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight_html(text: str, tag: str = "mark") -> str:
    """``text`` as HTML (escaped) with each clue span in ``<tag>``, for the reasoning display and report."""
    import html

    text = text or ""
    parts, at = [], 0
    for start, end in clue_spans(text):
        parts += [html.escape(text[at:start]), f"<{tag}>{html.escape(text[start:end])}</{tag}>"]
        at = end
    parts.append(html.escape(text[at:]))
    return "".join(parts)

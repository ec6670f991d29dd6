"""What a model wrote, read as far as it can be: country, city and reasons, never an exception.

Datasets are read strictly (:func:`geolib.formats.sft.parse_answer` raises on a malformed record); model
answers are not data but text, and models write everything: JSON, Python dicts with single quotes, the
reasons as a list, prose or ```json fences around the object, "Country: France" lines, an object cut off
by the token limit, curly quotes, nothing at all. :func:`read_model_answer` tries, in order,

1. the first JSON object or dict literal in the text (as ``parse_answer`` finds it), also one nested one level deep
   (``{"answer": {"country": ...}}``);
2. the fields one by one (``country: "France"``, ``'city': 'Lyon`` cut off, ``**Reasons:** ...``), which
   recovers truncated objects and plain "key: value" answers.

A country or city whose quoted value was cut off is dropped (half a name is not an answer); cut-off reasons
are kept. What yields neither a country nor a city is *unparseable*: the raw text is kept and
``geolib.geo.evaluate`` counts it as a refusal (it lowers recall, not precision).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from geolib.errors import DataError

FIELDS = ("country", "city", "reasons")
_QUOTES = "\"'\u201c\u201d\u2018\u2019`"
# a key, quoted or not, possibly in Markdown bold, then ":" or "=" and the value up to the line's end
_FIELD = re.compile(
    r"""(?:^|[\s{,*"'\u201c\u2018])(country|city|reasons?|explanation)[\s"'\u201d\u2019*]*[:=]\s*\**\s*(?=(.*))""",
    re.IGNORECASE,
)
_NON_ANSWERS = {"", "none", "null", "unknown", "n/a", "-", "?"}


@dataclass(frozen=True)
class ModelAnswer:
    """A model's answer: the fields it gave (None where it gave none) and whether any could be read."""

    raw: str
    country: str | None = None
    city: str | None = None
    reasons: str | None = None
    problem: str | None = None  # why nothing could be read; None when the answer was parsed

    @property
    def parsed(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in FIELDS}


def _as_text(value, field: str) -> str | None:
    """A field's value as text: lists of reasons joined, a list of guesses reduced to the first."""
    if isinstance(value, list):
        items = [_as_text(v, field) for v in value]
        items = [v for v in items if v]
        if not items:
            return None
        return "; ".join(items) if field == "reasons" else items[0]
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if field == "reasons" else None
    if value is None or isinstance(value, bool) or (field != "reasons" and not isinstance(value, str)):
        return None  # a number is not a place name
    text = str(value).strip().strip(_QUOTES).strip()
    return None if text.lower() in _NON_ANSWERS else text


def _from_object(text: str) -> dict | None:
    from geolib.formats.sft import first_object

    try:
        found = first_object(text, "answer", None)
    except DataError:
        return None
    found = {str(key).strip().lower(): value for key, value in found.items()}
    if not any(key in found for key in FIELDS):  # {"answer": {...}}: look one level down
        inner = [v for v in found.values() if isinstance(v, dict)]
        if inner:
            found = {str(key).strip().lower(): value for key, value in inner[0].items()}
    values = {key: _as_text(found.get(key), key) for key in FIELDS}
    return values if values["country"] or values["city"] else None


def _field_value(rest: str, field: str) -> str | None:
    """The value at the start of ``rest``: a quoted string (None if a country or city is cut off inside
    its quotes), else the text up to the line's end or the next comma or brace."""
    rest = rest.strip()
    if rest[:1] in _QUOTES:
        closing = {"\u201c": "\u201d", "\u2018": "\u2019"}.get(rest[0], rest[0])
        end = rest.find(closing, 1)
        if end < 0:
            return _as_text(rest[1:], field) if field == "reasons" else None
        return _as_text(rest[1:end], field)
    value = rest.split("\n", 1)[0] if field == "reasons" else re.split(r"[,}\n]", rest, maxsplit=1)[0]
    return _as_text(value.rstrip("*").strip(), field)


def _from_fields(text: str) -> dict | None:
    values: dict[str, str | None] = dict.fromkeys(FIELDS)
    for match in _FIELD.finditer(text):
        key = match.group(1).lower()
        field = "reasons" if key in ("reason", "reasons", "explanation") else key
        if values[field] is None:
            values[field] = _field_value(match.group(2), field)
    return values if values["country"] or values["city"] else None


def read_model_answer(text) -> ModelAnswer:
    """Country, city and reasons from a model's raw answer; never raises (see the module's docstring)."""
    raw = text if isinstance(text, str) else ""
    if not raw.strip():
        return ModelAnswer(raw, problem="the answer is empty")
    values = _from_object(raw) or _from_fields(raw)
    if values is None:
        return ModelAnswer(raw, problem=f"no country or city in {raw.strip()[:80]!r}")
    return ModelAnswer(raw, **values)

"""GeoReasoner / Qwen-VL supervised fine-tuning conversations (stage 1: reasons, stage 2: location).

Each record is ``{"id", "conversations": [{"from": "user", "value": "Picture 1: <img>PATH</img>\\nPROMPT"},
{"from": "assistant", "value": "{'country': ..., ...}"}]}``; the answer is a Python-style dict literal,
as in the GeoReasoner_SFT release. :func:`parse_answer` also accepts JSON, for model outputs.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from geolib.errors import DataError
from geolib.formats.validate import check_id, check_text, read_json_file
from geolib.iox import write_json

STAGE1_PROMPT = "Which country is the image located? Explain the reason."
STAGE2_PROMPT = "Which country and city is the image located?"
# GeoReasoner's infer.py asks this with both adapters loaded (georeasoner_recipe.json)
INFERENCE_PROMPT = (
    "According to the content of the image, please think step by step and deduce in which country and city "
    "the image is most likely located and offer possible explanations. Output in JSON format, e.g., "
    "{'country': '', 'city': '' ,'reasons':''}."
)
ANSWER_KEYS = {1: ("country", "reasons"), 2: ("country", "city")}
IMAGE_TAG = re.compile(r"<img>(.+?)</img>")


@dataclass(frozen=True)
class SFTExample:
    id: str
    image: str
    prompt: str
    answer: dict


def make_record(example: SFTExample) -> dict:
    return {
        "id": example.id,
        "conversations": [
            {"from": "user", "value": f"Picture 1: <img>{example.image}</img>\n{example.prompt}"},
            {"from": "assistant", "value": repr(example.answer)},
        ],
    }


def stage1_example(ident: str, image: str, country: str, reasons: str) -> SFTExample:
    return SFTExample(ident, image, STAGE1_PROMPT, {"country": country, "reasons": reasons})


def stage2_example(ident: str, image: str, country: str, city: str) -> SFTExample:
    return SFTExample(ident, image, STAGE2_PROMPT, {"country": country, "city": city})


def write_sft_json(examples: list[SFTExample], path: str | Path) -> Path:
    return write_json(path, [make_record(e) for e in examples], indent=1)


# Bounds that keep parse_answer linear on hostile input (a 1 MB rant, "{" * 100000, ...): a real
# answer is a flat object of a few hundred characters, so these leave a wide margin.
MAX_ANSWER_OBJECT_CHARS = 20_000  # an object longer than this is not looked for
MAX_ANSWER_CANDIDATES = 50  # "{" positions tried before giving up
MAX_ANSWER_DEPTH = 20  # brackets nested deeper than this are an error, not a parser crash
ANSWER_TEXT_KEYS = ("country", "city", "reasons")
_STRUCTURE = re.compile(r"""[{}()\[\]"'\\]""")
_CLOSING = {"}": "{", "]": "[", ")": "("}


def _object_end(text: str, start: int, source: str, record) -> int | None:
    """The index just past the ``}`` that closes the ``{`` at ``start``, or None if it does not close.

    Brackets must balance and quoted strings are skipped (braces inside ``"a {b}"`` do not count).
    Quotes are only tracked inside the object: an apostrophe in the prose around it is not a string.
    """
    stack: list[str] = []
    quote, escaped_at = None, -1
    for match in _STRUCTURE.finditer(text, start, min(len(text), start + MAX_ANSWER_OBJECT_CHARS)):
        at, char = match.start(), match.group()
        if at == escaped_at:
            continue
        if quote:
            if char == "\\":
                escaped_at = at + 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "{[(":
            stack.append(char)
            if len(stack) > MAX_ANSWER_DEPTH:
                raise DataError(
                    f"brackets nested more than {MAX_ANSWER_DEPTH} levels deep",
                    source=source,
                    record=record,
                    field="answer",
                )
        elif char in _CLOSING:
            if not stack or stack.pop() != _CLOSING[char]:
                return None
            if not stack:
                return at + 1
    return None


def _literal(candidate: str):
    """JSON, else a Python literal (single quotes, trailing commas), else None."""
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" in a model's text is not our concern
            warnings.simplefilter("ignore")
            return ast.literal_eval(candidate)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # TypeError: {{"a": 1}} is a set of dicts to Python


def first_object(text: str, source: str, record) -> dict:
    """The first balanced ``{...}`` in ``text`` that parses to a dict (fenced or not, prose around it)."""
    problem = f"no JSON object in {text[:80]!r}"
    position = 0
    for _ in range(MAX_ANSWER_CANDIDATES):
        start = text.find("{", position)
        if start < 0:
            break
        end = _object_end(text, start, source, record)
        if end is not None:
            value = _literal(text[start:end])
            if isinstance(value, dict):
                return value
            problem = f"not JSON nor a dict literal: {text[start:end][:80]!r}"
        position = start + 1  # also finds an object nested in a failed one: {{"country": "France"}}
    raise DataError(problem, source=source, record=record, field="answer")


def parse_answer(text: str, *, source: str = "answer", record=None, required: tuple[str, ...] = ()) -> dict:
    """Parse a model or dataset answer: the first JSON object or Python dict literal in ``text``, which may
    sit inside ``` fences or prose. Keys come back lower-cased and stripped; ``country``, ``city`` and
    ``reasons`` are text or None (a blank or null value means "not answered"; a list of reasons is joined
    with "; "); any other type is a :class:`DataError` naming the field, as is a missing ``required`` key."""
    if not isinstance(text, str) or not text.strip():
        raise DataError("the answer is empty", source=source, record=record, field="answer")
    answer = {}
    for key, value in first_object(text, source, record).items():
        name = key.strip().lower() if isinstance(key, str) else key
        if name in answer:
            raise DataError(f"the key '{name}' appears twice", source=source, record=record, field=name)
        if name == "reasons" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = "; ".join(value)
        if name in ANSWER_TEXT_KEYS and value is not None:
            check_text(value, source, record, name, allow_empty=True)
            value = value if value.strip() else None  # blank means "not answered", as null does
        answer[name] = value
    for key in required:
        if not answer.get(key):
            raise DataError(f"the answer lacks a non-empty '{key}'", source=source, record=record, field=key)
    return answer


def read_sft_json(path: str | Path, stage: int) -> list[SFTExample]:
    """Read and validate a stage-1 or stage-2 SFT file; errors name the record and the field."""
    if stage not in ANSWER_KEYS:
        raise DataError(f"stage must be 1 or 2, got {stage}", source=str(path))
    path = Path(path)
    source = path.name
    data = read_json_file(path, source)
    if not isinstance(data, list):
        raise DataError("expected a JSON list of conversations", source=source)
    examples = []
    for position, item in enumerate(data):
        record = f"#{position}" + (
            f" (id {item.get('id')!r})" if isinstance(item, dict) and "id" in item else ""
        )
        if not isinstance(item, dict):
            raise DataError("expected an object", source=source, record=record)
        ident = check_id(item.get("id"), source, record)
        turns = item.get("conversations")
        if not isinstance(turns, list) or len(turns) < 2:
            raise DataError(
                "expected at least a user and an assistant turn",
                source=source,
                record=record,
                field="conversations",
            )
        roles = [t.get("from") if isinstance(t, dict) else None for t in turns[:2]]
        if roles != ["user", "assistant"]:
            raise DataError(
                f"expected turns from user then assistant, got {roles}",
                source=source,
                record=record,
                field="conversations[].from",
            )
        question = check_text(turns[0].get("value"), source, record, "conversations[0].value")
        image = IMAGE_TAG.search(question)
        if image is None:
            raise DataError(
                "the user turn has no <img>...</img> tag",
                source=source,
                record=record,
                field="conversations[0].value",
            )
        prompt = question[image.end() :].strip()
        answer = parse_answer(
            turns[1].get("value"), source=source, record=record, required=ANSWER_KEYS[stage]
        )
        examples.append(SFTExample(ident, image.group(1), prompt, answer))
    return examples

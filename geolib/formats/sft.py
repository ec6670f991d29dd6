"""GeoReasoner / Qwen-VL supervised fine-tuning conversations (stage 1: reasons, stage 2: location).

Each record is ``{"id", "conversations": [{"from": "user", "value": "Picture 1: <img>PATH</img>\\nPROMPT"},
{"from": "assistant", "value": "{'country': ..., ...}"}]}``; the answer is a Python-style dict literal,
as in the GeoReasoner_SFT release. :func:`parse_answer` also accepts JSON, for model outputs.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from geolib.errors import DataError
from geolib.formats.validate import check_text
from geolib.iox import write_json

STAGE1_PROMPT = "Which country is the image located? Explain the reason."
STAGE2_PROMPT = "Which country and city is the image located?"
INFERENCE_PROMPT = (
    "Which country and city is the image located? Explain the reasons. Answer in JSON with "
    "the keys 'country', 'city' and 'reasons'."
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


def parse_answer(text: str, *, source: str = "answer", record=None, required: tuple[str, ...] = ()) -> dict:
    """Parse a model or dataset answer: JSON or a Python dict literal, optionally inside ``` fences or prose."""
    if not isinstance(text, str) or not text.strip():
        raise DataError("the answer is empty", source=source, record=record, field="answer")
    candidate = text.strip()
    fenced = re.search(r"```(?:json|python)?\s*(.*?)```", candidate, re.S)
    if fenced:
        candidate = fenced.group(1).strip()
    if not candidate.startswith("{"):
        braces = re.search(r"\{.*\}", candidate, re.S)
        if braces is None:
            raise DataError(f"no JSON object in {text[:80]!r}", source=source, record=record, field="answer")
        candidate = braces.group(0)
    value = None
    try:
        value = json.loads(candidate)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(candidate)
        except (ValueError, SyntaxError):
            raise DataError(
                f"not JSON nor a dict literal: {text[:80]!r}", source=source, record=record, field="answer"
            ) from None
    if not isinstance(value, dict):
        raise DataError(
            f"expected an object, got {type(value).__name__}", source=source, record=record, field="answer"
        )
    for key in required:
        if key not in value or not isinstance(value[key], str) or not value[key].strip():
            raise DataError(f"the answer lacks a non-empty '{key}'", source=source, record=record, field=key)
    return value


def read_sft_json(path: str | Path, stage: int) -> list[SFTExample]:
    """Read and validate a stage-1 or stage-2 SFT file; errors name the record and the field."""
    if stage not in ANSWER_KEYS:
        raise DataError(f"stage must be 1 or 2, got {stage}", source=str(path))
    path = Path(path)
    source = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"cannot read: {err.strerror or err}", source=str(path)) from None
    except json.JSONDecodeError as err:
        raise DataError(
            f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}", source=source
        ) from None
    if not isinstance(data, list):
        raise DataError("expected a JSON list of conversations", source=source)
    examples = []
    for position, item in enumerate(data):
        record = f"#{position}" + (
            f" (id {item.get('id')!r})" if isinstance(item, dict) and "id" in item else ""
        )
        if not isinstance(item, dict):
            raise DataError("expected an object", source=source, record=record)
        ident = check_text(item.get("id"), source, record, "id")
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

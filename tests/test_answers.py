"""Reading model answers: the corpus in tests/data/answers.jsonl, hostile input, and scoring end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from geolib.errors import DataError
from geolib.formats.sft import parse_answer
from geolib.geo.evaluate import Prediction, Truth, evaluate, format_metrics, read_predictions, read_truth

CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "answers.jsonl").read_text(encoding="utf-8").splitlines()
]


def test_corpus_is_large_and_well_formed():
    assert len(CORPUS) >= 40
    for row in CORPUS:
        assert set(row) <= {"answer", "expected", "note", "error"} and row["note"]
        assert row["expected"] is None or set(row["expected"]) == {"country", "city"}
        assert "error" not in row or row["expected"] is None  # an unreadable answer expects nothing


@pytest.mark.parametrize("row", CORPUS, ids=[row["note"] for row in CORPUS])
def test_corpus_answer(row):
    if "error" in row:
        with pytest.raises(DataError, match=row["error"]):
            parse_answer(row["answer"], source="answers.jsonl", record=7)
        return
    answer = parse_answer(row["answer"])
    expected = row["expected"] or {"country": None, "city": None}  # null: read, but nothing answered
    assert {"country": answer.get("country"), "city": answer.get("city")} == expected


def test_errors_name_source_record_and_field():
    with pytest.raises(DataError, match=r"^p.jsonl, record line 3, field 'city': expected text, got 12$"):
        parse_answer('{"country": "Spain", "city": 12}', source="p.jsonl", record="line 3")


def test_keys_are_lower_cased_and_other_values_kept():
    answer = parse_answer('{" Country ": "Kenya", "CONFIDENCE": 0.8, "reasons": ["matatu", "red soil"]}')
    assert answer == {"country": "Kenya", "confidence": 0.8, "reasons": "matatu; red soil"}


def test_required_keys_must_be_non_empty_text():
    assert parse_answer("{'Country': 'Chile', 'reasons': 'Andes'}", required=("country", "reasons")) == {
        "country": "Chile",
        "reasons": "Andes",
    }
    with pytest.raises(DataError, match="field 'city': the answer lacks a non-empty 'city'"):
        parse_answer('{"country": "Chile", "city": null}', required=("country", "city"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000, "no JSON object"),
        ('{"a":' * 5000, "nested more than 20 levels"),
        ("{" * 100_000, "nested more than 20 levels"),
        ('{"a": ' + "(" * 300 + ")" * 300 + "}", "nested more than 20 levels"),  # literal_eval would choke
        ('{"a": ' + "[" * 2000 + "]" * 2000 + "}", "nested more than 20 levels"),  # json would recurse
    ],
)
def test_deep_nesting_is_a_data_error(text, message):
    with pytest.raises(DataError, match=message):
        parse_answer(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It is sunny. " * 80_000 + '{"country": "Spain"}', {"country": "Spain"}),
        ("a {b} " * 170_000, None),  # a million characters of braces that are never an answer
        (('{"' + '""' * 10_000) * 60, None),  # strings that never close, from every "{"
    ],
)
def test_long_input_is_read_in_bounded_time(text, expected):
    assert len(text) >= 1_000_000
    started = time.perf_counter()
    if expected is None:
        with pytest.raises(DataError):
            parse_answer(text)
    else:
        assert parse_answer(text) == expected
    assert time.perf_counter() - started < 3.0  # about 0.2 s at worst; quadratic would take minutes


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_chatty_answers_score_and_unreadable_ones_are_reported(tmp_path):
    truths = read_truth(
        _write(
            tmp_path,
            "truth.csv",
            "id,latitude,longitude,country,city\n"
            "0,40.4168,-3.7038,ES,Madrid\n1,48.8566,2.3522,FR,Paris\n2,35.6762,139.6503,JP,Tokyo\n",
        )
    )
    rows = [
        {"id": 0, "answer": 'Looks like Spain. {"country": "Spain", "city": "Madrid"} I am confident.'},
        {"id": 1, "answer": '{"country": 33, "city": "Paris"}'},
        {"id": 2, "answer": "I think this is in Japan."},
    ]
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    predictions = read_predictions(_write(tmp_path, "pred.jsonl", lines), {t.id for t in truths})
    assert [(p.id, p.country, p.city) for p in predictions] == [
        ("0", "Spain", "Madrid"),  # "id": 0 is a valid id
        ("1", None, "Paris"),  # a number is no country, but the city is read
        ("2", None, None),
    ]
    assert predictions[1].problem is None
    assert predictions[2].problem.startswith(
        "pred.jsonl, record line 3, field 'answer': no country or city in"
    )
    metrics = evaluate(predictions, truths)
    country = metrics["country"]
    assert (country["answered"], country["correct"], country["total"]) == (1, 1, 3)
    assert country["precision"] == 1.0 and country["recall"] == pytest.approx(1 / 3)
    assert metrics["city"]["precision"] == 1.0 and metrics["city"]["recall"] == pytest.approx(2 / 3)
    unreadable = metrics["unreadable_answers"]
    assert unreadable["count"] == 1
    assert unreadable["examples"] == [{"id": "2", "problem": predictions[2].problem}]
    assert "note: 1 answer(s) could not be read and count as refusals" in format_metrics(metrics)


def test_unreadable_examples_are_capped_at_five():
    predictions = [Prediction(str(i), problem=f"bad {i}") for i in range(8)]
    metrics = evaluate(predictions, [Truth(str(i), 48.8566, 2.3522, "FR") for i in range(8)])
    assert metrics["unreadable_answers"]["count"] == 8
    assert [e["problem"] for e in metrics["unreadable_answers"]["examples"]] == [f"bad {i}" for i in range(5)]
    assert metrics["country"]["answered"] == 0

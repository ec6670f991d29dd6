"""Model answers as models really write them: the reader never raises and keeps what it cannot read."""

import json
from pathlib import Path

import pytest

from geolib.formats.answers import read_model_answer
from geolib.geo.evaluate import Truth, evaluate, prediction_from_answer

FR = ("France", "Lyon")
# (what the model wrote, country, city, a word the reasons must contain or None for no reasons)
READABLE = [
    ('{"country": "France", "city": "Lyon", "reasons": "blue plates"}', *FR, "plates"),
    ("{'country': 'France', 'city': 'Lyon', 'reasons': 'blue plates'}", *FR, "plates"),
    ("{'country': 'France', 'city': 'Lyon', 'reasons': ['blue plates', 'yellow lines']}", *FR, "yellow"),
    ('```json\n{"country": "France", "city": "Lyon", "reasons": "x"}\n```', *FR, "x"),
    ('Sure! Here is my answer:\n{"country": "France", "city": "Lyon"}\nHope it helps.', *FR, None),
    ('{"country": "France", "city": "Lyon", "reasons": "the plates are blue and the li', *FR, "plates"),
    ('{"country": "France", "city": "Ly', "France", None, None),
    ("{'country': 'France', 'city': 'Lyon', 'reasons': 'cut", *FR, "cut"),
    ("Country: France\nCity: Lyon\nReasons: blue plates, yellow lines", *FR, "yellow"),
    ("**Country:** France\n**City:** Lyon\n**Reasons:** the plates", *FR, "plates"),
    ("\ufeff{'country': 'France', 'city': 'Lyon'}", *FR, None),
    ("{\u201ccountry\u201d: \u201cFrance\u201d, \u201ccity\u201d: \u201cLyon\u201d}", *FR, None),
    ('{"Country": "France", "CITY": "Lyon"}', *FR, None),
    ('{"country": "France", "city": "Lyon",}', *FR, None),
    ('{"country": "France", "city": null, "reasons": "no city clue"}', "France", None, "clue"),
    ('{"country": "France", "city": "", "reasons": ""}', "France", None, None),
    ('{"country": "France", "city": "unknown"}', "France", None, None),
    ('{"answer": {"country": "France", "city": "Lyon"}}', *FR, None),
    ('{"country": ["France", "Belgium"], "city": "Lyon"}', *FR, None),
    ('{"country": "France", "city": "Lyon", "reasons": {"plate": "blue"}}', *FR, "plate"),
    ('{"country": "France", "city": "Lyon", "reasons": "he said "bonjour" twice"}', *FR, "he said"),
    ('{"country": "France", "city": "Lyon"} {"country": "Spain", "city": "Madrid"}', *FR, None),
    ('I think {"country": "France"} fits, since the plates {are blue}.', "France", None, None),
    ("{'country': 'France', 'city': 'Lyon', 'reasons': 'C:\\\\path with \\d escapes'}", *FR, "escapes"),
    ('{"country": "Côte d\'Ivoire", "city": "Abidjan"}', "Côte d'Ivoire", "Abidjan", None),
    ('{"country": "\\u00c9gypte", "city": "Le Caire"}', "\u00c9gypte", "Le Caire", None),
    ("country = 'France', city = 'Lyon'", *FR, None),
    ('{"country": "Spain", "city": "Lyon", "country": "France"}', *FR, None),  # JSON's rule: the last
    ("The image was taken in... country: 'France'", "France", None, None),
    ('{"city": "Lyon", "reasons": "a river"}', None, "Lyon", "river"),
]
UNREADABLE = [
    "",
    "   \n\t ",
    None,
    "I'm sorry, I cannot determine the location of this image.",
    "{" * 5000,
    '{"reasons": "there are trees"}',
    "{'country': None, 'city': None}",
    '{"country": "',
    "<|im_end|>",
    "x" * 100_000,
]


@pytest.mark.parametrize(("text", "country", "city", "reason_word"), READABLE)
def test_readable_answers(text, country, city, reason_word):
    answer = read_model_answer(text)
    assert answer.parsed and answer.problem is None
    assert (answer.country, answer.city) == (country, city)
    if reason_word is None:
        assert answer.reasons is None
    else:
        assert reason_word in answer.reasons
    assert answer.raw == text


@pytest.mark.parametrize("text", UNREADABLE)
def test_unreadable_answers_are_kept_raw_and_say_why(text):
    answer = read_model_answer(text)
    assert not answer.parsed and answer.problem
    assert answer.country is answer.city is answer.reasons is None
    assert answer.raw == (text or "")


def test_the_corpus_is_large_enough():
    assert len(READABLE) + len(UNREADABLE) >= 30


def test_an_unreadable_answer_is_a_refusal_for_the_evaluation():
    truths = [Truth("a", 45.76, 4.84, "FR", "Lyon"), Truth("b", 45.76, 4.84, "FR", "Lyon")]
    predictions = [
        prediction_from_answer("a", "{'country': 'France', 'city': 'Lyon', 'reasons': 'cut off mid-"),
        prediction_from_answer("b", "I cannot tell."),
    ]
    metrics = evaluate(predictions, truths)
    assert metrics["country"]["precision"] == 1.0 and metrics["country"]["recall"] == 0.5
    assert metrics["city"]["correct"] == 1
    assert metrics["unreadable_answers"]["count"] == 1
    assert metrics["unreadable_answers"]["examples"][0]["id"] == "b"


DATASET_CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "answers.jsonl").read_text(encoding="utf-8").splitlines()
]


@pytest.mark.parametrize("row", DATASET_CORPUS, ids=[row["note"] for row in DATASET_CORPUS])
def test_what_the_strict_parser_reads_the_model_reader_reads_the_same(row):
    answer = read_model_answer(row["answer"])  # never raises, even where parse_answer does
    if "error" not in row and row["expected"] and any(row["expected"].values()):
        assert {"country": answer.country, "city": answer.city} == row["expected"]
    assert answer.parsed == (answer.country is not None or answer.city is not None)

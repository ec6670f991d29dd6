"""The evaluation harness: country / city accuracy, precision, recall and F1 (as GeoReasoner reports
them), distance accuracy at 1 / 25 / 200 / 750 / 2500 km, GeoScore, per-country breakdown and a
confusion matrix.

Conventions: *accuracy* and *recall* are correct / all samples; *precision* is correct / answered;
so a refusal, an unparseable answer or a missing prediction lowers recall but not precision.
A prediction is scored by distance from its coordinates, else from its city (GeoNames), else from a
point inside its country; with none of these it misses every distance threshold and scores 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geolib.errors import DataError
from geolib.formats.validate import (
    check_id,
    check_latitude,
    check_longitude,
    read_csv_file,
    read_text_file,
    require_columns,
)
from geolib.geo.cities import city_location, same_city
from geolib.geo.countries import country_code, country_point, normalize_country
from geolib.geo.distance import THRESHOLDS_KM, accuracy_at, geoscore, haversine_km

UNANSWERED = "(none)"
UNKNOWN = "(unknown)"  # a country name the normaliser does not know


@dataclass
class Truth:
    id: str
    latitude: float
    longitude: float
    country: str  # ISO alpha-2
    city: str = ""


@dataclass
class Prediction:
    id: str
    country: str | None = None  # as the model wrote it: name or code
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    problem: str | None = None  # why the raw answer could not be read; it then counts as a refusal


def read_rows(path: Path) -> list[dict]:
    """Rows of a CSV or JSONL file as dicts (line numbers kept in '_row')."""
    source = path.name
    if path.suffix.lower() not in (".jsonl", ".json"):
        _, rows = read_csv_file(path, source)
        return [{**row, "_row": f"row {number}"} for number, row in rows]
    rows = []
    # split on newlines only: str.splitlines() also splits at U+2028, which a JSON string may hold raw
    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"malformed JSON: {err.msg}", source=source, record=f"line {number}") from None
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", source=source, record=f"line {number}")
        rows.append({**row, "_row": f"line {number}"})
    if not rows:
        raise DataError("no records", source=source)
    return rows


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _require(rows: list[dict], columns: tuple[str, ...], source: str, any_of: tuple[str, ...] = ()):
    present = set().union(*(r.keys() for r in rows))
    require_columns(present, columns, source)
    if any_of and not present & set(any_of):
        raise DataError(f"needs at least one of the columns {', '.join(any_of)}", source=source)


def read_truth(path: str | Path, skipped: list[dict] | None = None) -> list[Truth]:
    """Ground truth: ``id, latitude, longitude`` and optionally ``country`` (a name or code, else looked
    up from the point) and ``city``.

    A row without a country whose point lies in no country (the open sea) cannot be scored: given a
    ``skipped`` list, it is recorded there as ``{"id", "record", "problem"}`` and the other rows are
    read; without one it is an error. An unknown country name is always an error.
    """
    path = Path(path)
    rows = read_rows(path)
    _require(rows, ("id", "latitude", "longitude"), path.name)
    truths, seen = [], set()
    for row in rows:
        ident = check_id(row.get("id"), path.name, row["_row"])
        if ident in seen:
            raise DataError(f"duplicate id {ident!r}", source=path.name, record=row["_row"], field="id")
        seen.add(ident)
        lat = check_latitude(row.get("latitude"), path.name, row["_row"])
        lon = check_longitude(row.get("longitude"), path.name, row["_row"])
        code = None
        if not _blank(row.get("country")):
            code = normalize_country(row["country"])
            if code is None:
                raise DataError(
                    f"unknown country {row['country']!r}",
                    source=path.name,
                    record=row["_row"],
                    field="country",
                )
        truths.append(Truth(ident, lat, lon, code, str(row.get("city") or "").strip()))
    # the rows without a country, looked up in one vectorised call
    missing = [i for i, truth in enumerate(truths) if truth.country is None]
    if missing:
        codes = country_code([truths[i].latitude for i in missing], [truths[i].longitude for i in missing])
        for i, code in zip(missing, codes, strict=True):
            truths[i].country = code
    kept = []
    for truth, row in zip(truths, rows, strict=True):
        if truth.country is not None:
            kept.append(truth)
            continue
        problem = DataError(
            f"no country given and ({truth.latitude}, {truth.longitude}) lies in no country",
            source=path.name,
            record=row["_row"],
            field="country",
        )
        if skipped is None:
            raise problem
        skipped.append({"id": truth.id, "record": row["_row"], "problem": str(problem)})
    return kept


def prediction_from_answer(ident: str, answer: str, *, source: str | None = None, record=None) -> Prediction:
    """A raw model answer (JSON or dict text, prose, fences, cut off: see ``geolib.formats.answers``) as a
    prediction; an unreadable one is a refusal whose reason, naming ``source`` and ``record``, is kept in
    ``problem``."""
    from geolib.formats.answers import read_model_answer

    read = read_model_answer(answer)
    problem = read.problem
    if problem and source:
        where = f"{source}, record {record}" if record is not None else source
        problem = f"{where}, field 'answer': {problem}"
    return Prediction(ident, read.country, read.city, problem=problem)


def read_predictions(path: str | Path, known_ids: set[str] | None = None) -> list[Prediction]:
    """Predictions: ``id`` plus any of ``country``, ``city``, ``latitude``/``longitude`` or a raw model
    ``answer`` (JSON or dict text with ``country`` / ``city``). Unknown ids and bad coordinates are errors;
    an unreadable answer is a refusal (it lowers recall, not precision) whose reason is kept in ``problem``."""
    path = Path(path)
    rows = read_rows(path)
    _require(rows, ("id",), path.name, any_of=("country", "city", "latitude", "answer"))
    predictions, seen = [], set()
    for row in rows:
        ident = check_id(row.get("id"), path.name, row["_row"])
        if known_ids is not None and ident not in known_ids:
            raise DataError(
                f"id {ident!r} is not in the ground truth", source=path.name, record=row["_row"], field="id"
            )
        if ident in seen:
            raise DataError(f"duplicate id {ident!r}", source=path.name, record=row["_row"], field="id")
        seen.add(ident)
        prediction = Prediction(
            ident,
            None if _blank(row.get("country")) else str(row["country"]),
            None if _blank(row.get("city")) else str(row["city"]),
        )
        if not _blank(row.get("answer")):
            answer = prediction_from_answer(ident, str(row["answer"]), source=path.name, record=row["_row"])
            prediction.country = prediction.country or answer.country
            prediction.city = prediction.city or answer.city
            prediction.problem = answer.problem
        has_lat, has_lon = not _blank(row.get("latitude")), not _blank(row.get("longitude"))
        if has_lat != has_lon:
            raise DataError(
                "latitude and longitude must be given together",
                source=path.name,
                record=row["_row"],
                field="longitude" if has_lat else "latitude",
            )
        if has_lat:
            prediction.latitude = check_latitude(row["latitude"], path.name, row["_row"])
            prediction.longitude = check_longitude(row["longitude"], path.name, row["_row"])
        predictions.append(prediction)
    return predictions


def unreadable_answers(predictions: list[Prediction], examples: int = 5) -> dict:
    """How many raw answers could not be read, with the first few reasons (for :func:`evaluate`)."""
    problems = [{"id": p.id, "problem": p.problem} for p in predictions if p.problem]
    return {"count": len(problems), "examples": problems[:examples]}


def _prf(correct: int, answered: int, total: int) -> dict[str, float]:
    precision = correct / answered if answered else 0.0
    recall = correct / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": recall,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "answered": answered,
        "correct": correct,
        "total": total,
    }


def place_of(country: str | None, city: str | None) -> tuple[float, float] | None:
    """Where an answer puts a view: its city (GeoNames, within the named country when there is one), else a
    point inside its country, else None. ``country`` is a name or an ISO code."""
    code = normalize_country(country) if country else None
    if city:
        match = city_location(city, code)
        if match is not None:
            return match.latitude, match.longitude
    return country_point(code)


def _located(prediction: Prediction, code: str | None) -> tuple[float, float] | None:
    if prediction.latitude is not None:
        return prediction.latitude, prediction.longitude
    return place_of(code, prediction.city)


def evaluate(
    predictions: list[Prediction],
    truths: list[Truth],
    *,
    inclusive: bool = False,
    thresholds: dict[str, float] | None = None,
    skipped_truth: list[dict] | None = None,
) -> dict:
    """All metrics; truths without a prediction count as unanswered, and a country name that is not
    known counts as answered and wrong (``(unknown)`` in the confusion matrix).

    ``skipped_truth`` are the rows :func:`read_truth` could not use; their predictions are ignored and
    they are listed in the result.
    """
    skipped_truth = skipped_truth or []
    by_id = {p.id: p for p in predictions}
    unknown = sorted(set(by_id) - {t.id for t in truths} - {s["id"] for s in skipped_truth})
    if unknown:
        raise DataError(
            f"{len(unknown)} prediction id(s) are not in the ground truth, e.g. {unknown[0]!r}", field="id"
        )
    true_codes, predicted_codes, km = [], [], []
    country_correct = city_correct = city_answered = 0
    city_total = 0
    for truth in truths:
        prediction = by_id.get(truth.id, Prediction(truth.id))
        if prediction.country:  # a name it does not know was still an answer: a wrong one
            code = normalize_country(prediction.country) or UNKNOWN
        elif prediction.latitude is not None:
            code = country_code(prediction.latitude, prediction.longitude)
        else:
            code = None
        true_codes.append(truth.country)
        predicted_codes.append(code or UNANSWERED)
        country_correct += code == truth.country
        if truth.city:
            city_total += 1
            if prediction.city:
                city_answered += 1
                city_correct += same_city(prediction.city, truth.city, truth.country)
        point = _located(prediction, None if code == UNKNOWN else code)
        km.append(float(haversine_km(truth.latitude, truth.longitude, *point)) if point else math.inf)
    km_array = np.array(km)
    finite = km_array[np.isfinite(km_array)]
    answered = sum(code != UNANSWERED for code in predicted_codes)
    result = {
        "n": len(truths),
        "country": _prf(country_correct, answered, len(truths)),
        "city": _prf(city_correct, city_answered, city_total),
        "distance": {
            **accuracy_at(km_array, thresholds or THRESHOLDS_KM, inclusive=inclusive),
            "threshold_rule": "d <= t" if inclusive else "d < t",
            "located": int(finite.size),
            "mean_km": float(finite.mean()) if finite.size else float("nan"),
            "median_km": float(np.median(finite)) if finite.size else float("nan"),
            "geoscore": float(np.mean(geoscore(km_array))),  # no location: inf km, score 0
        },
        "per_country": per_country(true_codes, predicted_codes, km_array),
        "confusion": confusion(true_codes, predicted_codes),
        "unreadable_answers": unreadable_answers(predictions),
        "skipped_truth": skipped_truth,
    }
    return result


def per_country(true_codes: list[str], predicted_codes: list[str], km: np.ndarray) -> dict[str, dict]:
    """Per true country: n, precision, recall, F1 (one-vs-rest) and median error."""
    true_arr, pred_arr = np.array(true_codes), np.array(predicted_codes)
    table = {}
    for code in sorted(set(true_codes)):
        tp = int(np.sum((true_arr == code) & (pred_arr == code)))
        predicted = int(np.sum(pred_arr == code))
        actual = int(np.sum(true_arr == code))
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual
        errors = km[(true_arr == code) & np.isfinite(km)]
        table[code] = {
            "n": actual,
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "median_km": float(np.median(errors)) if errors.size else float("nan"),
        }
    return table


def confusion(true_codes: list[str], predicted_codes: list[str]) -> dict[str, dict[str, int]]:
    """``{true: {predicted: count}}`` including the ``(none)`` column for unanswered samples and
    ``(unknown)`` for country names the normaliser does not know."""
    matrix: dict[str, dict[str, int]] = {}
    for t, p in zip(true_codes, predicted_codes, strict=True):
        row = matrix.setdefault(t, {})
        row[p] = row.get(p, 0) + 1
    return matrix


def format_metrics(metrics: dict) -> str:
    """A printed summary table of :func:`evaluate`'s result."""
    from geolib.course import format_table

    rows = []
    for level in ("country", "city"):
        m = metrics[level]
        rows.append(
            [
                level,
                f"{m['accuracy']:.4f}",
                f"{m['precision']:.4f}",
                f"{m['recall']:.4f}",
                f"{m['f1']:.4f}",
                f"{m['answered']}/{m['total']}",
            ]
        )
    table = format_table(rows, ["level", "accuracy", "precision", "recall", "F1", "answered"])
    d = metrics["distance"]
    accs = [k for k in d if k.startswith("acc@")]
    distance = format_table(
        [
            [f"{d[k]:.4f}" for k in accs]
            + [f"{d['median_km']:.1f}", f"{d['mean_km']:.1f}", f"{d['geoscore']:.0f}"]
        ],
        [*accs, "median km", "mean km", "GeoScore"],
    )
    notes = []
    if unreadable := metrics.get("unreadable_answers", {}).get("count"):
        notes.append(f"{unreadable} answer(s) could not be read and count as refusals")
    if skipped := len(metrics.get("skipped_truth", [])):
        notes.append(f"{skipped} truth row(s) lie in no country and were not scored")
    notes_text = "".join(f"\nnote: {note}" for note in notes)
    return f"{metrics['n']} samples{notes_text}\n{table}\n\ndistance ({d['threshold_rule']})\n{distance}"

"""Learner against model: the workshop round of notebook 06, without the widgets (which only call this).

A round shows one view; the learner names a country and may also put a pin on the map; then the model's
answer is revealed. Both are scored as GeoGuessr does: 5000 · exp(−d / 1492.7) points for a guess d km
from the truth. A guess without a pin is placed at a point inside the named country, as the evaluation
places a country-only answer. The leaderboard sums the points and counts the right countries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geolib.errors import GeolibError

PLAYERS = ("you", "model")


@dataclass(frozen=True)
class Score:
    country: str | None  # ISO alpha-2 of the guess; None for no answer
    correct: bool
    km: float  # inf when the guess has no place
    points: int


@dataclass(frozen=True)
class RoundResult:
    view_id: str
    truth_country: str
    you: Score
    model: Score
    model_reasons: str | None = None

    @property
    def winner(self) -> str:
        if self.you.points == self.model.points:
            return "draw"
        return "you" if self.you.points > self.model.points else "model"


def score_guess(country, latitude, longitude, truth: dict) -> Score:
    """A guess (a country name or code, and optionally a point) scored against a view's truth."""
    from geolib.formats.validate import check_latitude, check_longitude
    from geolib.geo.countries import normalize_country
    from geolib.geo.distance import geoscore, haversine_km
    from geolib.geo.evaluate import place_of

    code = None
    if country is not None and str(country).strip():
        code = normalize_country(str(country))
        if code is None:
            raise GeolibError(f"unknown country {country!r}")
    if (latitude is None) != (longitude is None):
        raise GeolibError("a pin needs both a latitude and a longitude")
    if latitude is not None:
        point = (check_latitude(latitude, "guess", None), check_longitude(longitude, "guess", None))
    else:
        point = place_of(code, None)
    km = float(haversine_km(truth["latitude"], truth["longitude"], *point)) if point else float("inf")
    return Score(code, code == truth["country"], km, int(round(float(geoscore(km)))))


@dataclass
class GuessingGame:
    """Rounds over ``views`` (dicts with ``id``, ``path``, ``country`` as ISO code, ``latitude``,
    ``longitude``) against the model's ``answers`` (``geolib.lvlm.predict`` records, one per view)."""

    views: list[dict]
    answers: list[dict]
    results: list[RoundResult] = field(default_factory=list)

    def __post_init__(self):
        if not self.views:
            raise GeolibError("a game needs at least one view")
        if len(self.answers) != len(self.views):
            raise GeolibError(f"{len(self.answers)} model answers for {len(self.views)} views")

    @property
    def finished(self) -> bool:
        return len(self.results) == len(self.views)

    @property
    def current(self) -> dict | None:
        """The view of the round being played, or None when the game is over."""
        return None if self.finished else self.views[len(self.results)]

    def guess(self, country, latitude: float | None = None, longitude: float | None = None) -> RoundResult:
        """Play the current round with the learner's guess; returns both scores and moves on."""
        view = self.current
        if view is None:
            raise GeolibError(f"the game is over: all {len(self.views)} rounds are played")
        answer = self.answers[len(self.results)]
        you = score_guess(country, latitude, longitude, view)
        model = score_guess(answer.get("country"), answer.get("latitude"), answer.get("longitude"), view)
        result = RoundResult(str(view["id"]), view["country"], you, model, answer.get("reasons"))
        self.results.append(result)
        return result

    def leaderboard(self) -> list[dict]:
        """One row per player, best first: rounds, right countries, points, median km."""
        import numpy as np

        rows = []
        for player in PLAYERS:
            scores = [getattr(r, player) for r in self.results]
            rows.append(
                {
                    "player": player,
                    "rounds": len(scores),
                    "right countries": sum(s.correct for s in scores),
                    "points": sum(s.points for s in scores),
                    "median km": float(np.median([s.km for s in scores])) if scores else float("nan"),
                }
            )
        return sorted(rows, key=lambda row: -row["points"])

"""Country, city and distance lookups that scoring relies on: coastal points, one country scheme for
names and points, country names in every form, city sections, impossible distances, and truth files
with rows in no country."""

import csv
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from geolib import DataError
from geolib.geo import (
    city_location,
    country_code,
    country_point,
    evaluate,
    geoscore,
    haversine_km,
    nearest_city,
    normalize_country,
    read_truth,
    same_city,
)
from geolib.geo.cities import city_table
from geolib.geo.countries import (
    NEAR_LAND_KM,
    _key,
    _name_sources,
    country_aliases,
    country_polygons,
    scheme,
)
from geolib.geo.evaluate import Prediction, Truth
from geolib.geo.names import fold, variants

RESOURCES = Path(__file__).resolve().parent.parent / "geolib" / "resources"


# --- countries of points ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "city, code",
    [("Lagos", "NG"), ("Xiamen", "CN"), ("Guayaquil", "EC"), ("Monrovia", "LR"), ("Longyearbyen", "NO")],
)
def test_coastal_city_centres_get_their_country(city, code):
    match = city_location(city)
    assert country_code(match.latitude, match.longitude, near_km=0) is None  # in no polygon...
    assert country_code(match.latitude, match.longitude) == code  # ...but next to the country


def test_near_land_margin_is_a_distance_and_the_open_sea_stays_none():
    ly_son = city_location("Lý Sơn")  # an island Natural Earth leaves out, 22.5 km from Vietnam's polygon
    assert country_code(ly_son.latitude, ly_son.longitude) == "VN"
    assert country_code(ly_son.latitude, ly_son.longitude, near_km=22) is None
    assert NEAR_LAND_KM == 25.0
    sea = country_code([0.0, 35.0, 43.0, -40.0], [-30.0, -40.0, 5.0, -150.0])
    assert list(sea) == [None, None, None, None]


def test_almost_every_geonames_city_centre_gets_its_own_country():
    centres = [c for c in city_table() if c.population > 15_000]
    codes = country_code([c.latitude for c in centres], [c.longitude for c in centres])
    unresolved = [c.name for c, code in zip(centres, codes, strict=True) if code is None]
    assert unresolved == ["Abyei"]  # a disputed area Natural Earth does not draw
    right = [code == normalize_country(c.country) for c, code in zip(centres, codes, strict=True)]
    # the rest are border towns within 3.4 km of the line (1:10m borders), Macau's parishes (CN in
    # GeoNames) and disputed places (East Jerusalem, West Bank settlements, Smara, Kafia Kingi)
    assert len(centres) - sum(right) <= 75 and np.mean(right) > 0.997


@pytest.mark.parametrize(
    "lat, lon, code",
    [
        (-90.0, 0.0, "AQ"),
        (-90.0, 180.0, "AQ"),
        (-16.8, 180.0, "FJ"),
        (-16.8, -180.0, "FJ"),
        (66.0, 180.0, "RU"),
        (66.0, -180.0, "RU"),
        (90.0, 0.0, None),  # the North Pole is sea
    ],
)
def test_poles_and_antimeridian(lat, lon, code):
    assert country_code(lat, lon) == code
    assert list(country_code([lat] * 70, [lon] * 70)) == [code] * 70  # the many-points path agrees


# --- one country scheme ----------------------------------------------------------------------------

OVERSEAS = {
    "RE": ("Réunion", "Saint-Denis"),
    "GP": ("Guadeloupe", "Pointe-à-Pitre"),
    "MQ": ("Martinique", "Fort-de-France"),
    "GF": ("French Guiana", "Cayenne"),
    "YT": ("Mayotte", "Mamoudzou"),
}


@pytest.mark.parametrize("code", sorted(OVERSEAS))
def test_overseas_regions_are_france_whether_named_or_located(code):
    name, capital = OVERSEAS[code]
    city = city_location(capital, code)
    assert city.country == code  # GeoNames' own code
    assert normalize_country(name) == normalize_country(code) == "FR"
    assert country_code(city.latitude, city.longitude) == "FR"


def test_scheme_is_what_geonames_cities_say():
    """A GeoNames code without a Natural Earth polygon maps to where its cities lie."""
    own = {code for code in country_polygons()["iso2"] if isinstance(code, str)}
    cities = [c for c in city_table() if c.country not in own]
    codes = country_code([c.latitude for c in cities], [c.longitude for c in cities])
    votes: dict[str, Counter] = {}
    for city, code in zip(cities, codes, strict=True):
        votes.setdefault(city.country, Counter())[code] += 1
    derived = {geonames: count.most_common(1)[0][0] for geonames, count in votes.items()}
    assert derived == {code: scheme()[code] for code in derived}
    assert set(derived) == {"BQ", "CC", "CX", "GF", "GP", "MQ", "RE", "SJ", "YT"}
    assert country_code(-54.42, 3.36) == scheme()["BV"] == "NO"  # Bouvet Island: no cities
    assert country_code(-9.39, -171.25) == scheme()["TK"] == "NZ"  # Fakaofo, Tokelau
    # every target is a country with a polygon
    assert {target for target in scheme().values() if target} <= own


def test_polygons_without_an_iso_code():
    assert country_code(34.99, 33.75) == "CY"  # Dhekelia base area
    assert country_code(19.93, -75.15) == "CU"  # Guantanamo Bay
    assert country_code(21.9, 33.7) is None  # Bir Tawil: no state
    assert country_code(country_point("CU")[0], country_point("CU")[1], near_km=0) == "CU"
    assert country_point("CU")[0] > 20.5  # the main island, not Guantanamo (19.9)


# --- country names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, code",
    [
        ("Congo", "CG"),
        ("Republic of the Congo", "CG"),
        ("Republic of Congo", "CG"),
        ("Democratic Republic of the Congo", "CD"),
        ("Democratic Republic of Congo", "CD"),
        ("Congo, The Democratic Republic of the", "CD"),
        ("Korea, Democratic People's Republic of", "KP"),
        ("Korea, Republic of", "KR"),
        ("Iran, Islamic Republic of", "IR"),
        ("Tanzania, United Republic of", "TZ"),
        ("Bolivia, Plurinational State of", "BO"),
        ("Virgin Islands, British", "VG"),
        ("Palestine, State of", "PS"),
        ("St. Lucia", "LC"),
        ("St Kitts & Nevis", "KN"),
        ("S. Korea", "KR"),
        ("N. Korea", "KP"),
        ("Czech Rep.", "CZ"),
        ("KSA", "SA"),
        ("Falklands", "FK"),
        ("Deutschland", "DE"),
        ("Curaçao", "CW"),
        ("IS", "IS"),  # a lone code is never read as an abbreviation ('Is.' = Islands)
        ("Iceland", "IS"),
        ("Paris, France", None),
        ("Republic of China", None),  # Taiwan, not China: no guess from 'China'
        ("Narnia", None),
    ],
)
def test_country_name_forms(text, code):
    assert normalize_country(text) == code


ENDONYMS = {
    "GB": "United Kingdom",
    "IE": "Éire",
    "FR": "France",
    "DE": "Deutschland",
    "ES": "España",
    "IT": "Italia",
    "NL": "Nederland",
    "PL": "Polska",
    "FI": "Suomi",
    "RU": "Россия",
    "UA": "Україна",
    "GR": "Ελλάδα",
    "TR": "Türkiye",
    "EG": "مصر",
    "ZA": "Suid-Afrika",
    "KE": "Kenya",
    "NG": "Nigeria",
    "IN": "भारत",
    "TH": "ประเทศไทย",
    "ID": "Indonesia",
    "JP": "日本",
    "KR": "대한민국",
    "US": "United States",
    "CA": "Canada",
    "MX": "México",
    "BR": "Brasil",
    "AR": "Argentina",
    "AU": "Australia",
    "NZ": "Aotearoa",
}


def test_endonyms_of_every_clueworld_country():
    with open(RESOURCES / "clueworld_countries.csv", encoding="utf-8") as handle:
        clueworld = {row["iso2"] for row in csv.DictReader(handle)}
    assert clueworld <= set(ENDONYMS)
    assert {code: normalize_country(ENDONYMS[code]) for code in clueworld} == {c: c for c in clueworld}
    assert normalize_country("Sverige") == "SE" and normalize_country("Norge") == "NO"
    assert normalize_country("ΕΛΛΆΣ") == "GR"  # capitals, accents and final sigma fold alike


def test_aliases_never_contradict_the_data_or_each_other():
    data: dict[str, set[str]] = {}
    for name, code, _ in _name_sources():
        for key in variants(name):
            data.setdefault(_key(key), set()).add(scheme().get(code, code))
    seen: dict[str, str] = {}
    for row in country_aliases():
        assert row["source"], row
        code = scheme().get(row["code"], row["code"])
        for key in variants(row["alias"]):
            assert data.get(_key(key), {code}) == {code}, row
            assert seen.setdefault(_key(key), code) == code, row


def test_natural_earth_names_are_read_as_utf8():
    names = set(country_polygons()["name"])
    assert "Curaçao" in names and "CuraÃ§ao" not in names


def test_names_in_other_scripts_do_not_fold_to_nothing():
    assert fold("日本") == "日本" and fold("Ελλάδα") == "ελλαδα" and fold("São Paulo") == "sao paulo"
    assert not same_city("東京", "Москва")


# --- cities ----------------------------------------------------------------------------------------


def test_nearest_city_is_the_city_not_its_section():
    city, km = nearest_city(48.8601, 2.3507)  # the centre of 'Paris 04 Hôtel-de-Ville'
    assert city.name == "Paris" and km == pytest.approx(haversine_km(48.8601, 2.3507, 48.85341, 2.3488))
    budapest = city_location("Budapest XVII. kerület")  # 16 km from the centre
    assert nearest_city(budapest.latitude, budapest.longitude)[0].name == "Budapest"
    matches, _ = nearest_city([48.8601, 45.7578], [2.3507, 4.8320])
    assert [m.name for m in matches] == ["Paris", "Lyon"]


def test_same_city_treats_a_section_as_its_city():
    assert same_city("Paris", "Paris 04 Hôtel-de-Ville")
    assert same_city("Budapest XI. kerület", "Budapest", "HU")
    assert not same_city("Miami Beach", "Miami")  # a city of its own, though its name starts alike
    assert not same_city("Lyon", "Paris")


# --- distances -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        ((95, 0, 0, 0), r"field 'lat1': latitude 95.0 is outside \[-90, 90\]"),
        ((0, 0, -90.5, 0), r"field 'lat2': latitude -90.5 is outside"),
        ((float("nan"), 0, 0, 0), r"field 'lat1': expected a finite number, got nan"),
        ((0, 0, 0, float("inf")), r"field 'lon2': expected a finite number, got inf"),
        (([0, 10, 91], 0, 0, 0), r"record 2, field 'lat1'"),
    ],
)
def test_haversine_rejects_impossible_coordinates(args, message):
    with pytest.raises(DataError, match=message):
        haversine_km(*args)


def test_haversine_accepts_the_extremes():
    assert haversine_km(90, 0, -90, 180) == pytest.approx(math.pi * 6371.0)


def test_geoscore_rejects_negative_and_nan_distances():
    assert geoscore(math.inf) == 0.0
    assert geoscore(np.array([0.0, math.inf])).tolist() == [5000.0, 0.0]
    with pytest.raises(DataError, match=r"field 'km': expected a distance >= 0 km .*got -1.0"):
        geoscore(-1.0)
    with pytest.raises(DataError, match=r"record 1, field 'km'.*got nan"):
        geoscore([0.0, float("nan")])


# --- scoring ---------------------------------------------------------------------------------------


def test_an_unknown_country_name_is_answered_and_wrong():
    truths = [Truth("a", 48.8566, 2.3522, "FR"), Truth("b", 35.6762, 139.6503, "JP")]
    metrics = evaluate([Prediction("a", "Narnia"), Prediction("b", "Japan")], truths)
    country = metrics["country"]
    assert (country["answered"], country["correct"], country["precision"]) == (2, 1, 0.5)
    assert metrics["confusion"]["FR"] == {"(unknown)": 1}
    assert metrics["distance"]["located"] == 1  # a name it does not know gives no point either


def test_the_confusion_figure_shows_unknown_names_as_a_column_only():
    import matplotlib

    matplotlib.use("Agg")
    from geolib.viz import plot_confusion

    truths = [Truth("a", 48.8566, 2.3522, "FR"), Truth("b", 35.6762, 139.6503, "JP")]
    confusion = evaluate([Prediction("a", "Narnia"), Prediction("b", "Japan")], truths)["confusion"]
    ax = plot_confusion(confusion)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["FR", "JP", "(unknown)", "(none)"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["FR", "JP"]
    assert ax.images[0].get_array()[0, 2] == 1.0  # FR's row: all its guesses were unknown names


def test_overseas_truth_and_prediction_agree(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("id,latitude,longitude,country\na,-20.8823,55.4504,\nb,14.6036,-61.0742,MQ\n")
    truths = read_truth(truth)
    assert [t.country for t in truths] == ["FR", "FR"]
    predictions = [Prediction("a", "Réunion"), Prediction("b", latitude=14.6036, longitude=-61.0742)]
    assert evaluate(predictions, truths)["country"]["correct"] == 2


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_truth_rows_in_no_country_are_skipped_and_reported(tmp_path):
    truth = _write(
        tmp_path, "t.csv", "id,latitude,longitude\na,48.8566,2.3522\nb,0,-30\nc,35.6762,139.6503\n"
    )
    skipped = []
    truths = read_truth(truth, skipped=skipped)
    assert [(t.id, t.country) for t in truths] == [("a", "FR"), ("c", "JP")]
    assert [(s["id"], s["record"]) for s in skipped] == [("b", "row 3")]
    assert skipped[0]["problem"] == (
        "t.csv, record row 3, field 'country': no country given and (0.0, -30.0) lies in no country"
    )
    predictions = [Prediction("a", "France"), Prediction("b", "Brazil"), Prediction("c", "Japan")]
    metrics = evaluate(predictions, truths, skipped_truth=skipped)
    assert metrics["n"] == 2 and metrics["country"]["correct"] == 2
    assert metrics["skipped_truth"] == skipped
    with pytest.raises(DataError, match="record row 3, field 'country': no country given"):
        read_truth(truth)  # without a list to fill, such a row is an error


def test_unknown_truth_country_names_what_was_unknown(tmp_path):
    truth = _write(tmp_path, "t.csv", "id,latitude,longitude,country\na,48.85,2.35,Narnia\n")
    with pytest.raises(DataError, match=r"t.csv, record row 2, field 'country': unknown country 'Narnia'$"):
        read_truth(truth, skipped=[])


def test_truth_ids_may_be_numbers(tmp_path):
    truth = _write(
        tmp_path,
        "t.jsonl",
        '{"id": 0, "latitude": 48.8566, "longitude": 2.3522}\n{"id": 1, "latitude": 35.68, "longitude": 139.65}\n',
    )
    assert [t.id for t in read_truth(truth)] == ["0", "1"]


def test_evaluate_command_scores_the_rest_and_reports_skipped_rows(tmp_path):
    truth = _write(tmp_path, "truth.csv", "id,latitude,longitude\na,48.8566,2.3522\nb,0,-30\n")
    predictions = _write(tmp_path, "pred.csv", "id,country\na,France\nb,Brazil\n")
    out = tmp_path / "metrics.json"
    command = [sys.executable, "-m", "geolib", "evaluate", "--predictions", str(predictions)]
    result = subprocess.run(
        [*command, "--truth", str(truth), "--out", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "skipped truth.csv, record row 3, field 'country': no country given" in result.stderr
    metrics = json.loads(out.read_text())
    assert metrics["n"] == 1 and metrics["country"]["accuracy"] == 1.0
    assert [s["id"] for s in metrics["skipped_truth"]] == ["b"]

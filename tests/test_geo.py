"""Geo toolkit against independently known values."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from geolib import DataError
from geolib.geo import (
    accuracy_at,
    city_location,
    country_code,
    country_name,
    evaluate,
    geodesic_km,
    geoscore,
    haversine_km,
    nearest_city,
    normalize_country,
    read_predictions,
    read_truth,
    region_of,
)
from geolib.geo.evaluate import Prediction, Truth

R = 6371.0


def test_haversine_exact_values_on_the_sphere():
    assert haversine_km(0, 0, 1, 0) == pytest.approx(2 * math.pi * R / 360, rel=1e-12)  # 111.19 km
    assert haversine_km(0, 0, 90, 0) == pytest.approx(math.pi * R / 2, rel=1e-12)  # equator to pole
    # antipodes: haversine loses a few digits there (1 - a cancels), still within 1 m
    assert haversine_km(10, 20, -10, -160) == pytest.approx(math.pi * R, abs=1e-3)
    assert haversine_km(45, 179.5, 45, -179.5) == pytest.approx(haversine_km(45, 0, 45, 1))  # the date line


def test_haversine_known_city_pairs_and_arrays():
    london, paris, nyc, la = (51.5074, -0.1278), (48.8566, 2.3522), (40.7128, -74.0060), (34.0522, -118.2437)
    assert haversine_km(*london, *paris) == pytest.approx(343.5, abs=1.0)
    assert haversine_km(*nyc, *la) == pytest.approx(3936, abs=5)
    out = haversine_km(
        np.array([london[0], nyc[0]]),
        np.array([london[1], nyc[1]]),
        np.array([paris[0], la[0]]),
        np.array([paris[1], la[1]]),
    )
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    assert isinstance(haversine_km(*london, *paris), float)


def test_geodesic_uses_the_wgs84_ellipsoid():
    assert geodesic_km(0, 0, 0, 1) == pytest.approx(111.319, abs=0.001)  # a degree along the equator
    assert geodesic_km(0, 0, 1, 0) == pytest.approx(110.574, abs=0.001)  # a degree of latitude at the equator
    sphere, ellipsoid = (
        haversine_km(51.5074, -0.1278, 48.8566, 2.3522),
        geodesic_km(51.5074, -0.1278, 48.8566, 2.3522),
    )
    assert abs(sphere - ellipsoid) / ellipsoid < 0.005


def test_geoscore():
    assert geoscore(0) == 5000.0
    assert geoscore(1492.7) == pytest.approx(5000 / math.e)
    assert geoscore(np.array([0.0, 1e9])).tolist() == [5000.0, 0.0]


def test_accuracy_thresholds_are_strict_by_default():
    km = [1.0, 24.9, 200.0, 1000.0, math.inf]
    strict = accuracy_at(km)
    assert strict == {"acc@1km": 0.0, "acc@25km": 0.4, "acc@200km": 0.4, "acc@750km": 0.6, "acc@2500km": 0.8}
    inclusive = accuracy_at(km, inclusive=True)
    assert inclusive["acc@1km"] == 0.2 and inclusive["acc@200km"] == 0.6


@pytest.mark.parametrize(
    "lat, lon, code",
    [
        (48.8566, 2.3522, "FR"),  # Paris: ISO_A2 is -99 in Natural Earth
        (59.9139, 10.7522, "NO"),  # Oslo: also -99
        (42.6629, 21.1655, "XK"),  # Pristina
        (35.6762, 139.6503, "JP"),
        (-35.2809, 149.1300, "AU"),
        (-15.7939, -47.8828, "BR"),
        (-1.2921, 36.8219, "KE"),
        (45.4215, -75.6972, "CA"),
        (38.8977, -77.0365, "US"),
        (-34.6037, -58.3816, "AR"),
        # close to borders
        (48.5734, 7.7521, "FR"),
        (48.5722, 7.8157, "DE"),  # Strasbourg / Kehl across the Rhine
        (46.2044, 6.1432, "CH"),
        (46.1934, 6.2342, "FR"),  # Geneva / Annemasse
        (31.7619, -106.4850, "US"),
        (31.6904, -106.4245, "MX"),  # El Paso / Ciudad Juarez
        # at sea
        (0.0, -30.0, None),
        (35.0, -40.0, None),
        (-40.0, -150.0, None),
        (43.0, 5.0, None),  # Gulf of Lion
    ],
)
def test_country_code_of_known_points(lat, lon, code):
    assert country_code(lat, lon) == code


def test_country_code_is_vectorised_and_validates():
    lats = np.array([48.8566, 0.0, 35.6762] * 30)
    lons = np.array([2.3522, -30.0, 139.6503] * 30)
    codes = country_code(lats, lons)  # >= 64 points: the spatial-join path
    assert codes.shape == (90,) and list(codes[:3]) == ["FR", None, "JP"]
    assert list(country_code(lats[:3], lons[:3])) == ["FR", None, "JP"]  # the small-batch path agrees
    with pytest.raises(DataError, match=r"record 1, field 'latitude'"):
        country_code([10, 95], [0, 0])
    with pytest.raises(DataError, match="field 'longitude'"):
        country_code(10, float("nan"))


def test_nearest_city_and_region():
    city, km = nearest_city(48.8566, 2.3522)
    assert city.country == "FR" and km < 3
    assert region_of(48.8566, 2.3522) == "FR-11"  # Ile-de-France
    matches, distances = nearest_city([35.6762, -33.8688], [139.6503, 151.2093])
    assert [m.country for m in matches] == ["JP", "AU"] and distances.shape == (2,)


@pytest.mark.parametrize(
    "text, code",
    [
        ("France", "FR"),
        ("FR", "FR"),
        ("FRA", "FR"),
        ("french republic", "FR"),
        ("the Netherlands", "NL"),
        ("Holland", "NL"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("UK", "GB"),
        ("Great Britain", "GB"),
        ("Côte d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("South Korea", "KR"),
        ("Czechia", "CZ"),
        ("Russia", "RU"),
        ("  japan ", "JP"),
        ("Kosovo", "XK"),
        ("Atlantis", None),
        ("", None),
        (None, None),
    ],
)
def test_country_name_normalisation(text, code):
    assert normalize_country(text) == code


def test_country_name():
    assert country_name("FR") == "France" and country_name(None) is None


@pytest.mark.parametrize(
    "name, country, expected",
    [
        ("New York City", None, ("New York City", "US")),
        ("New York", None, ("New York City", "US")),
        ("Sao Paulo", None, ("São Paulo", "BR")),
        ("São Paulo", "Brazil", ("São Paulo", "BR")),
        ("Zurich", None, ("Zürich", "CH")),
        ("Zuerich", "CH", ("Zürich", "CH")),
        ("Paris", None, ("Paris", "FR")),
        ("Paris", "US", ("Paris", "US")),  # ambiguity: population, then country
        ("London", "Canada", ("London", "CA")),
        ("Munich", None, ("Munich", "DE")),
        ("Muenchen", None, ("Munich", "DE")),
        ("Bankok", None, ("Bangkok", "TH")),  # a close spelling
        ("Xyzzyville", None, None),
        ("", None, None),
    ],
)
def test_city_forward_lookup(name, country, expected):
    match = city_location(name, country)
    assert (match and (match.name, match.country)) == expected or (match is None and expected is None)


def test_metrics_with_refusals_lower_recall_not_precision():
    truths = [
        Truth("a", 48.8566, 2.3522, "FR", "Paris"),
        Truth("b", 35.6762, 139.6503, "JP", "Tokyo"),
        Truth("c", -33.8688, 151.2093, "AU", "Sydney"),
        Truth("d", 52.52, 13.405, "DE", "Berlin"),
    ]
    predictions = [
        Prediction("a", "France", "Paris", 48.8566, 2.3522),  # right, exact
        Prediction("b", "South Korea", "Seoul"),  # wrong
        Prediction("c"),
    ]  # refused; d is missing altogether
    metrics = evaluate(predictions, truths)
    country = metrics["country"]
    assert (country["answered"], country["correct"], country["total"]) == (2, 1, 4)
    assert country["precision"] == 0.5 and country["recall"] == 0.25 and country["accuracy"] == 0.25
    assert country["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert metrics["city"]["precision"] == 0.5 and metrics["city"]["recall"] == 0.25
    distance = metrics["distance"]
    assert distance["located"] == 2 and distance["acc@1km"] == 0.25
    seoul_tokyo = haversine_km(35.6762, 139.6503, 37.566, 126.9784)
    assert distance["median_km"] == pytest.approx(seoul_tokyo / 2, rel=0.01)
    assert distance["geoscore"] == pytest.approx((5000 + geoscore(seoul_tokyo)) / 4, rel=0.01)
    assert metrics["confusion"]["JP"] == {"KR": 1} and metrics["confusion"]["AU"] == {"(none)": 1}
    assert metrics["per_country"]["FR"]["f1"] == 1.0 and metrics["per_country"]["JP"]["recall"] == 0.0


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_truth_and_prediction_files(tmp_path):
    truth = _write(
        tmp_path, "truth.csv", "id,latitude,longitude,city\na,48.8566,2.3522,Paris\nb,35.6762,139.6503,\n"
    )
    truths = read_truth(truth)
    assert [t.country for t in truths] == ["FR", "JP"]  # looked up when absent
    predictions = _write(
        tmp_path,
        "pred.jsonl",
        "{\"id\": \"a\", \"answer\": \"{'country': 'France', 'city': 'Paris'}\"}\n"
        '{"id": "b", "answer": "I cannot tell."}\n',
    )
    read = read_predictions(predictions, {t.id for t in truths})
    assert (read[0].country, read[0].city) == ("France", "Paris") and read[1].country is None
    metrics = evaluate(read, truths)
    assert metrics["country"]["precision"] == 1.0 and metrics["country"]["recall"] == 0.5


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("t.csv", "id,latitude\na,1\n", r"t.csv: missing column\(s\) longitude"),
        (
            "t.csv",
            "id,latitude,longitude\na,48.85,2.35\nb,100,2\n",
            r"t.csv, record row 3, field 'latitude': latitude 100.0",
        ),
        (
            "t.csv",
            "id,latitude,longitude\na,nan,2\n",
            r"record row 2, field 'latitude': expected a finite number",
        ),
        (
            "t.jsonl",
            '{"id": "a", "latitude": 48.85, "longitude": 2.35}\n{oops\n',
            r"record line 2: malformed JSON",
        ),
        (
            "t.csv",
            "id,latitude,longitude\na,0,-30\n",
            r"field 'country': no country given and \(0.0, -30.0\) lies",
        ),
    ],
)
def test_truth_errors_name_file_row_and_field(tmp_path, name, text, message):
    with pytest.raises(DataError, match=message):
        read_truth(_write(tmp_path, name, text))


def test_prediction_errors(tmp_path):
    with pytest.raises(DataError, match=r"record row 3, field 'id': id 'zz' is not in the ground truth"):
        read_predictions(_write(tmp_path, "p.csv", "id,country\na,FR\nzz,FR\n"), {"a"})
    with pytest.raises(DataError, match=r"field 'longitude': latitude and longitude must be given together"):
        read_predictions(_write(tmp_path, "p.csv", "id,latitude,longitude\na,10,\n"), {"a"})
    with pytest.raises(DataError, match=r"needs at least one of the columns"):
        read_predictions(_write(tmp_path, "p.csv", "id,score\na,1\n"), {"a"})


def test_evaluate_command(tmp_path):
    truth = _write(
        tmp_path,
        "truth.csv",
        "id,latitude,longitude,country,city\na,48.8566,2.3522,FR,Paris\nb,-33.8688,151.2093,AU,Sydney\n",
    )
    predictions = _write(tmp_path, "pred.csv", "id,country,city\na,France,Paris\nb,New Zealand,Auckland\n")
    out = tmp_path / "metrics.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "geolib",
            "evaluate",
            "--predictions",
            str(predictions),
            "--truth",
            str(truth),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "country" in result.stdout and "GeoScore" in result.stdout
    metrics = json.loads(out.read_text())
    assert metrics["country"]["accuracy"] == 0.5 and metrics["city"]["correct"] == 1
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "geolib",
            "evaluate",
            "--predictions",
            str(truth),
            "--truth",
            str(tmp_path / "missing.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "missing.csv: cannot read" in bad.stderr and "Traceback" not in bad.stderr


def test_maps_draw_every_prediction():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import LineCollection

    from geolib.geo.maps import explore_predictions, plot_error_histogram, plot_predictions_map

    lat, lon = np.array([48.85, 35.68, -33.87]), np.array([2.35, 139.65, 151.21])
    ax = plot_predictions_map(lat, lon, lat + 1, lon - 2)
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines[-1].get_segments()) == 3
    hist = plot_error_histogram(np.array([0.5, 30, 900, math.inf]))
    assert sum(p.get_height() for p in hist.patches) == 3
    html = (
        explore_predictions(lat, lon, lat + 1, lon - 2, labels=["a", "b", "c"], tiles=None)
        .get_root()
        .render()
    )
    assert "error_km" in html


def test_confusion_plot_rows_sum_to_one():
    import matplotlib

    matplotlib.use("Agg")
    from geolib.viz import plot_confusion

    ax = plot_confusion({"FR": {"FR": 3, "BE": 1}, "JP": {"(none)": 2}})
    matrix = ax.images[0].get_array()
    assert matrix.shape == (3, 4)  # BE, FR, JP x BE, FR, JP, (none)
    assert np.allclose(matrix.sum(axis=1), [0, 1, 1]) and matrix[1, 0] == 0.25 and matrix[2, 3] == 1.0

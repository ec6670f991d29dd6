"""Country clue profiles: real-world facts kept as data in ``resources/clueworld_countries.csv``."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geolib.errors import DataError
from geolib.profiles import RESOURCES_DIR

COUNTRIES_FILE = RESOURCES_DIR / "clueworld_countries.csv"

NAMED_COLOURS = {
    "white": (236, 236, 232),
    "black": (25, 25, 28),
    "red": (200, 30, 35),
    "orange": (240, 120, 20),
    "yellow": (245, 200, 30),
    "green": (30, 130, 60),
    "blue": (30, 60, 170),
    "grey": (130, 130, 130),
}
VOCABULARY = {
    "continent": {"Europe", "Asia", "Africa", "North America", "South America", "Oceania"},
    "driving_side": {"left", "right"},
    "centre_line_colour": {"white", "yellow"},
    "centre_line_style": {"dashed", "solid", "double"},
    "edge_line_colour": {"white", "yellow", "none"},
    "edge_line_style": {"solid", "dashed", "none"},
    "pole_style": {
        "wood",
        "wood_crossarm",
        "concrete_round",
        "concrete_square",
        "concrete_holes",
        "concrete_striped_base",
        "metal",
        "none",
    },
    "plate_shape": {"long", "short"},
    "plate_band": {"none", "blue", "green", "red", "other"},
    "roof_style": {"flat", "pitched_red", "pitched_grey", "pitched_dark", "pitched_metal"},
}
SCRIPTS = (
    "latin",
    "cyrillic",
    "greek",
    "arabic",
    "hebrew",
    "devanagari",
    "thai",
    "hangul",
    "japanese",
    "chinese",
)
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
Colour = tuple[int, int, int]


def hex_to_rgb(value: str) -> Colour:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


@dataclass(frozen=True)
class Bollard:
    """A roadside marker post: body and band colours, the reflector colour on each side of the road
    (left and right in the direction of travel; most countries use one colour for both), and whether
    the band slopes down towards the road (France's J6) or runs level."""

    body: str
    band: str
    left: str
    right: str
    slanted: bool = False

    def reflector(self, side: str) -> str:
        """The reflector colour of posts on ``side`` ('left' or 'right') of the road."""
        return self.left if side == "left" else self.right


BAND_SHAPES = ("level", "slanted")


@dataclass(frozen=True)
class Country:
    """One country's clue profile (see the CSV's ``sources`` column for where each fact comes from)."""

    iso2: str
    name: str
    continent: str
    driving_side: str
    centre_line_colour: str
    centre_line_style: str
    edge_line_colour: str
    edge_line_style: str
    scripts: tuple[str, ...]
    bollard: Bollard | None
    pole_style: str
    plate_shape: str
    plate_front: tuple[str, str]  # background, text
    plate_rear: tuple[str, str]
    plate_band: str
    wall_palette: tuple[Colour, ...]
    roof_style: str
    flag_kind: str  # h, v, cross, disc
    flag_colours: tuple[Colour, ...]
    sign_words: tuple[str, ...]
    sign_words_latin: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def script(self) -> str:
        """The dominant script on signs."""
        return self.scripts[0]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _parse_bollard(value: str, fail) -> Bollard:
    """``body:band:reflector[:level|slanted]``; the reflector is one colour or ``left|right`` colours.

    ``fail(message)`` builds the error, so that it names the file, line and field of the caller.
    """
    parts = value.split(":")
    expected = "expected body:band:reflector[:level|slanted] with colour names, or none"
    if len(parts) not in (3, 4) or any(p not in NAMED_COLOURS for p in parts[:2]):
        raise fail(f"{value!r}: {expected}")
    shape = parts[3] if len(parts) == 4 else "level"
    if shape not in BAND_SHAPES:
        raise fail(f"{value!r}: band shape {shape!r} is not one of {list(BAND_SHAPES)}")
    sides = parts[2].split("|")
    if len(sides) not in (1, 2) or any(c not in NAMED_COLOURS for c in sides):
        raise fail(
            f"{value!r}: reflector {parts[2]!r} must be one colour name or left|right colour names "
            f"such as white|yellow (colours: {sorted(NAMED_COLOURS)})"
        )
    return Bollard(parts[0], parts[1], sides[0], sides[-1], shape == "slanted")


def _parse_row(row: dict, line: int, source: str) -> Country:
    def field(name: str) -> str:
        value = (row.get(name) or "").strip()
        if not value and name not in ("notes",):
            raise DataError("is empty", source=source, record=f"line {line}", field=name)
        return value

    def fail(name: str, message: str):
        return DataError(message, source=source, record=f"line {line} ({row.get('iso2')})", field=name)

    for name, allowed in VOCABULARY.items():
        if field(name) not in allowed:
            raise fail(name, f"{field(name)!r} is not one of {sorted(allowed)}")
    if (field("edge_line_colour") == "none") != (field("edge_line_style") == "none"):
        raise fail("edge_line_style", "must be 'none' exactly when edge_line_colour is 'none'")
    scripts = tuple(_split(field("scripts")))
    if not scripts or any(s not in SCRIPTS for s in scripts):
        raise fail("scripts", f"{field('scripts')!r}: expected scripts from {SCRIPTS}")
    bollard = None
    if field("bollard") != "none":
        bollard = _parse_bollard(field("bollard"), lambda message: fail("bollard", message))
    plates = {}
    for name in ("plate_front", "plate_rear"):
        parts = tuple(field(name).split("/"))
        if len(parts) != 2 or any(p not in NAMED_COLOURS for p in parts):
            raise fail(name, f"{field(name)!r}: expected background/text colour names")
        plates[name] = parts
    palette = _split(field("wall_palette"))
    if not 3 <= len(palette) <= 5 or not all(HEX.match(c) for c in palette):
        raise fail("wall_palette", f"{field('wall_palette')!r}: expected 3 to 5 #rrggbb colours")
    kind, _, colours = field("flag").partition(":")
    flag_colours = [c.strip() for c in colours.split(",") if c.strip()]
    if (
        kind not in ("h", "v", "cross", "disc")
        or len(flag_colours) < 2
        or not all(HEX.match(c) for c in flag_colours)
    ):
        raise fail("flag", f"{field('flag')!r}: expected h:|v:|cross:|disc: followed by #rrggbb colours")
    words, latin = _split(field("sign_words")), _split(field("sign_words_latin"))
    if len(words) != len(latin):
        raise fail("sign_words_latin", "must have as many words as sign_words")
    iso2 = field("iso2").upper()
    if not re.fullmatch(r"[A-Z]{2}", iso2):
        raise fail("iso2", f"{iso2!r} is not an ISO 3166-1 alpha-2 code")
    return Country(
        iso2=iso2,
        name=field("name"),
        continent=field("continent"),
        driving_side=field("driving_side"),
        centre_line_colour=field("centre_line_colour"),
        centre_line_style=field("centre_line_style"),
        edge_line_colour=field("edge_line_colour"),
        edge_line_style=field("edge_line_style"),
        scripts=scripts,
        bollard=bollard,
        pole_style=field("pole_style"),
        plate_shape=field("plate_shape"),
        plate_front=plates["plate_front"],
        plate_rear=plates["plate_rear"],
        plate_band=field("plate_band"),
        wall_palette=tuple(hex_to_rgb(c) for c in palette),
        roof_style=field("roof_style"),
        flag_kind=kind,
        flag_colours=tuple(hex_to_rgb(c) for c in flag_colours),
        sign_words=tuple(words),
        sign_words_latin=tuple(latin),
        sources=tuple(_split(field("sources"))),
    )


def read_countries(path: str | Path = COUNTRIES_FILE) -> dict[str, Country]:
    """Parse and validate a country-profile CSV; errors name the line and the field."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise DataError(f"cannot read country profiles: {err}", source=str(path)) from None
    countries: dict[str, Country] = {}
    for line, row in enumerate(rows, start=2):
        country = _parse_row(row, line, path.name)
        if country.iso2 in countries:
            raise DataError("duplicate country", source=path.name, record=f"line {line}", field="iso2")
        countries[country.iso2] = country
    if not countries:
        raise DataError("no countries", source=str(path))
    return countries


@lru_cache(maxsize=1)
def countries() -> dict[str, Country]:
    """The course's country profiles, by ISO code."""
    return read_countries()

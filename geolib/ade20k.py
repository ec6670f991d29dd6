"""The 150 ADE20K classes (0-based, MaskFormer order) shared by segmentation, ClueWorld and locatability."""

from __future__ import annotations

import json
from functools import lru_cache

from geolib.profiles import RESOURCES_DIR

WEIGHTS_FILE = RESOURCES_DIR / "georeasoner_locatability_weights.json"


@lru_cache(maxsize=1)
def _reference() -> dict:
    return json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))


def class_names() -> list[str]:
    """Full ADE20K-150 names, e.g. ``'road, route'`` at id 6."""
    return list(_reference()["classes"])


def short_name(class_id: int) -> str:
    """The first synonym of a class, e.g. ``'road'``."""
    return class_names()[class_id].split(",")[0].strip()


def class_id(name: str) -> int:
    """Id of a class given any of its synonyms (``'pillar'`` -> 42)."""
    wanted = name.strip().lower()
    for index, full in enumerate(class_names()):
        if wanted in (part.strip() for part in full.split(",")):
            return index
    raise KeyError(f"{name!r} is not an ADE20K-150 class")


NUM_CLASSES = 150
# Ids ClueWorld draws; named once so that renderers and tests agree.
WALL, BUILDING, SKY, TREE, ROAD, GRASS, SIDEWALK, PERSON, EARTH = 0, 1, 2, 4, 6, 9, 11, 12, 13
MOUNTAIN, PLANT, CAR, WATER, HOUSE, SEA, FENCE, ROCK, COLUMN, SIGNBOARD = (
    16,
    17,
    20,
    21,
    25,
    26,
    32,
    34,
    42,
    43,
)
SAND, PALM, WINDOW, DOOR, AWNING, BUS, TOWER, STREET_LAMP, POLE, TRAFFIC_LIGHT, FLAG = (
    46,
    72,
    8,
    14,
    86,
    80,
    84,
    87,
    93,
    136,
    149,
)

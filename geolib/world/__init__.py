"""ClueWorld: an offline, procedural, geo-tagged street-view world with ground truth.

``make_sample(seed, index)`` gives one sample (street view, ADE20K mask, satellite and OSM tiles,
description, reasoning, location); ``write_world`` writes many with the course's dataset exports.
"""

from geolib.world.countries import Country, countries
from geolib.world.generate import Sample, ensure_world, generate, make_sample, read_samples, write_world
from geolib.world.scene import CLUES, RICHNESS_LEVELS

__all__ = [
    "CLUES",
    "RICHNESS_LEVELS",
    "Country",
    "Sample",
    "countries",
    "ensure_world",
    "generate",
    "make_sample",
    "read_samples",
    "write_world",
]

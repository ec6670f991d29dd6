"""Words for a ClueWorld sample: a CVG-Text-style description and a GeoGuessr-style reasoning trace.

The description follows CVG-Text's order (road, then signs and text, then buildings, then the rest)
and mentions only what is visible. The reasoning cites the visible clues one by one, shows how each
narrows the candidate countries, and concludes on the country (and the city when a landmark shows).
"""

from __future__ import annotations

import numpy as np

from geolib.world.clues import (
    POLE_WORDS,
    ROOF_WORDS,
    SCRIPT_NAMES,
    bollard_words,
    candidates,
    colour_name,
    describe,
    flag_words,
    narrowing,
)
from geolib.world.countries import countries
from geolib.world.glyphs import FONT_SCRIPTS
from geolib.world.scene import Scene
from geolib.world.street import StreetView

COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")


def compass_word(heading: float) -> str:
    return COMPASS[int(((heading % 360) + 22.5) // 45) % 8]


def _side(x: float) -> str:
    return "right" if x > 0 else "left"


OPTIONAL = "\x00"  # marks a sentence the description may drop when it runs long
MAX_WORDS = 170
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NEEDS_ARTICLE = {"United Kingdom", "United States", "Netherlands"}


def country_phrase(name: str) -> str:
    """'the United Kingdom', 'France'."""
    return f"the {name}" if name in NEEDS_ARTICLE else name


def _number(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe_scene(scene: Scene, view: StreetView) -> str:
    """A long description of the street view, ordered road -> signs and text -> buildings -> the rest."""
    rng = np.random.default_rng(scene.rng_state + 3)
    c = scene.country
    visible = view.visible_things
    things = [(i, t) for i, t in enumerate(scene.things) if i in visible]
    if scene.richness == "closeup":
        wall = scene.things[0].params
        parts = [
            f"The image is a close-up of a {colour_name(wall['colour'])} "
            f"{'brick' if wall['brick'] else 'plastered'} wall above a strip of grey pavement"
        ]
        if wall["window"]:
            parts.append("a framed window with dark glass sits in the wall")
        if wall["door"]:
            parts.append("a plain door is set into it on the right")
        sentences = [_join(parts) + "."]
        for _, t in things:
            if t.kind == "sign":
                sentences.append(_sign_sentence(scene, t, "on the wall"))
        sentences.append(
            "No road, vehicles, vegetation or sky are visible, so the view offers almost no "
            "context about where it was taken."
        )
        return " ".join(sentences)

    sentences = []
    lanes = "two-lane"
    surface = str(rng.choice(["asphalt", "smooth asphalt", "slightly worn asphalt"]))
    road = f"A {lanes} {surface} road runs {compass_word(scene.heading)} away from the camera"
    if scene.markings:
        road += f", marked with a {c.centre_line_style} {c.centre_line_colour} centre line"
        if c.edge_line_colour != "none":
            road += f" and {c.edge_line_style} {c.edge_line_colour} edge lines"
    else:
        road += " with no visible road markings"
    sentences.append(road + ".")
    kerbs = [s for s in ("left", "right") if scene.ground[s] != "sea"]
    if kerbs:
        sentences.append(
            OPTIONAL + f"Grey sidewalks run along the {_join(kerbs)} side{'s' if len(kerbs) > 1 else ''}."
        )
    for side in ("left", "right"):
        if scene.ground[side] == "sea":
            sentences.append(f"On the {side} the road follows the shore of open blue water.")
    for _, t in [(i, t) for i, t in things if t.kind == "car"][:2]:
        p = t.params
        where = f"in the {_side(t.x)} lane"
        motion = "drives ahead of us, seen from behind" if p["rear"] else "approaches in the oncoming lane"
        sentence = f"A {colour_name(p['colour'])} car {where} {motion}"
        if "plate" in view.visible:
            bg, text = c.plate_rear if p["rear"] else c.plate_front
            band = f" with a {c.plate_band} band on the left" if c.plate_band not in ("none", "other") else ""
            sentence += f"; its {'long' if c.plate_shape == 'long' else 'short'} plate is {bg} with {text} characters{band}"
        sentences.append(sentence + ".")
    # signs and text
    for _, t in [(i, t) for i, t in things if t.kind == "sign"][:2]:
        sentences.append(_sign_sentence(scene, t, f"on the {_side(t.x)} side of the road"))
    for kind in ("bollard", "pole", "lamp", "flag"):
        placed = [t for _, t in things if t.kind == kind]
        if not placed:
            continue
        seen = sorted({_side(t.x) for t in placed})
        sides = _join(seen)
        if kind == "bollard":
            sentences.append(
                f"Small {c.bollard.body} roadside posts with {bollard_words(c.bollard, seen)} stand "
                f"at the road edge on the {sides}."
            )
        elif kind == "pole":
            sentences.append(f"{POLE_WORDS[c.pole_style].capitalize()} carry overhead wires on the {sides}.")
        elif kind == "lamp":
            sentences.append(f"Slender street lamps lean over the road from the {sides}.")
        else:
            sentences.append(
                f"A flag with {flag_words(c.flag_kind, c.flag_colours)} flies on a pole on the {sides}."
            )
    # buildings
    for side in ("left", "right"):
        houses = [t for _, t in things if t.kind == "building" and _side(t.x) == side]
        if not houses:
            continue
        floors = sorted({t.params["floors"] for t in houses})
        storeys = (
            f"{_number(floors[0])} storey{'s' if floors[0] > 1 else ''}"
            if len(floors) == 1
            else f"{_number(floors[0])} to {_number(floors[-1])} storeys"
        )
        colours = _join(sorted({colour_name(t.params["colour"]) for t in houses})[:3])
        count = "a building" if len(houses) == 1 else f"{_number(len(houses))} buildings"
        sentences.append(
            f"On the {side} stand {count} of {storeys} with {colours} walls and "
            f"{ROOF_WORDS[houses[0].params['roof']]}."
        )
    # vegetation, people, skyline
    trees = [t for _, t in things if t.kind == "tree"]
    if trees:
        kinds = sorted({t.params["type"] for t in trees})
        names = {"palm": "palm trees", "broadleaf": "broadleaf trees", "conifer": "tall conifers"}
        tree_sides = sorted({_side(t.x) for t in trees})
        sentences.append(
            f"{_join([names[k] for k in kinds]).capitalize()} line the {_join(tree_sides)} "
            f"side{'s' if len(tree_sides) > 1 else ''} of the street."
        )
    grass = {
        "tropical": "lush green",
        "arid": "sparse and sandy",
        "subtropical": "dry and yellowish",
        "temperate": "green",
        "boreal": "dark green",
    }[scene.climate]
    if any(scene.ground[s] == "grass" for s in ("left", "right")):
        sentences.append(OPTIONAL + f"The verges are {grass}.")
    for _, t in things:
        if t.kind == "person":
            sentences.append(
                OPTIONAL
                + f"A pedestrian in {colour_name(t.params['colour'])} walks on the {_side(t.x)} sidewalk."
            )
    if any(t.kind == "landmark" for _, t in things):
        top = next(t for _, t in things if t.kind == "landmark").params["top"]
        sentences.append(f"Far ahead a tall tower with a {top} top rises above the skyline.")
    if scene.mountains:
        sentences.append("Mountains line the horizon.")
    if "sun" in view.visible:
        sentences.append(
            f"The sun shines from the {'southern' if scene.lat >= 0 else 'northern'} part of the sky."
        )
    else:
        sentences.append(
            OPTIONAL
            + str(
                rng.choice(
                    [
                        "The sky is clear and blue.",
                        "The sky is blue with a light haze.",
                        "A pale blue sky fills the upper part of the view.",
                    ]
                )
            )
        )
    return _fit(sentences)


def _fit(sentences: list[str], budget: int = MAX_WORDS) -> str:
    """Drop optional sentences, last first, until the description fits the word budget."""
    for i in range(len(sentences) - 1, -1, -1):
        if sum(len(t.split()) for t in sentences) <= budget:
            break
        if sentences[i].startswith(OPTIONAL):
            del sentences[i]
    return " ".join(t.removeprefix(OPTIONAL) for t in sentences)


def _sign_sentence(scene: Scene, thing, where: str) -> str:
    c = scene.country
    p = thing.params
    word = c.sign_words[p["word"]]
    latin = c.sign_words_latin[p["word"]]
    script = SCRIPT_NAMES[c.script]
    if c.script in FONT_SCRIPTS:
        reading = f" reading '{word}'" + (f" ({latin.lower()})" if word != latin else "")
    else:
        reading = ""
    return f"A {colour_name(p['bg'])} sign {where} carries {script} lettering{reading}."


def reasoning_trace(scene: Scene, observations: dict[str, object]) -> str:
    """A human-style explanation that cites each visible clue and concludes on the country (and city)."""
    c = scene.country
    pool = countries()
    country_clues = {k: v for k, v in observations.items() if k not in ("landmark", "vegetation")}
    steps = []
    before = len(pool)
    for clue, left in narrowing(country_clues, pool):
        names = [country_phrase(pool[code].name) for code in left]
        if len(left) == 1 and before == 1:
            tail = "which confirms it"
        elif len(left) == 1:
            tail = f"so only {names[0]} fits"
        elif len(left) == before:
            tail = "which does not narrow it down further"
        elif len(left) <= 4:
            tail = f"which leaves {_join(names)}"
        else:
            tail = f"which leaves {len(left)} of the {len(pool)} countries"
        steps.append(f"I see {describe(clue, observations[clue])}, {tail}.")
        before = len(left)
    if "vegetation" in observations:
        steps.append(
            f"The vegetation, {describe('vegetation', observations['vegetation'])}, fits a latitude of "
            f"about {abs(round(scene.lat / 5) * 5)} degrees {'north' if scene.lat >= 0 else 'south'}."
        )
    steps[0:1] = [steps[0][0].upper() + steps[0][1:]] if steps else []
    final = candidates(country_clues, pool)
    name = country_phrase(c.name)
    if not country_clues:
        conclusion = f"There are almost no clues in this view, so any answer is a guess; my guess is {name}."
    elif len(final) == 1:
        conclusion = f"Putting these clues together, the image was taken in {name}."
    else:
        others = [country_phrase(pool[code].name) for code in final if code != c.iso2][:3]
        rest = f" ({_join(others)} cannot be ruled out)" if others else ""
        conclusion = f"Putting these clues together, {name} is the most likely country{rest}."
    if "landmark" in observations:
        conclusion += f" The tower on the skyline is the landmark of {scene.city.name}, so the city is {scene.city.name}."
    return " ".join(steps + [conclusion])

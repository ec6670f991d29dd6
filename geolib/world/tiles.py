"""Top-down views of a ClueWorld scene: a satellite-style tile and an OSM-style map tile.

Both tiles are centred on the camera, north up, and drawn from the same layout as the street view:
the road runs along the camera heading, buildings and trees sit on the same sides, a sea side is
water in all three views, and shop signs become point-of-interest symbols on the map.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from geolib.world.countries import NAMED_COLOURS
from geolib.world.scene import Scene, Thing

TILE_EXTENT_M = 100.0
OSM = {
    "land": (242, 239, 233),
    "grass": (205, 235, 176),
    "sand": (245, 233, 198),
    "sea": (170, 211, 223),
    "earth": (238, 232, 218),
    "road": (255, 255, 255),
    "major_road": (247, 250, 191),
    "casing": (190, 185, 180),
    "building": (217, 208, 201),
    "building_edge": (190, 178, 170),
    "tree": (170, 207, 149),
    "tree_dot": (120, 170, 110),
    "shop": (172, 57, 172),
    "bollard": (120, 120, 120),
    "pole": (150, 150, 150),
    "flag": (110, 110, 110),
}
SAT_GROUND = {"grass": (88, 118, 62), "earth": (122, 104, 78), "sand": (196, 176, 138), "sea": (28, 62, 92)}
ROOF = {
    "flat": (150, 148, 145),
    "pitched_red": (160, 75, 55),
    "pitched_grey": (110, 110, 115),
    "pitched_dark": (60, 58, 62),
    "pitched_metal": (165, 172, 175),
}


class TopDown:
    """Road-frame metres (x right, z forward) -> tile pixels, north up."""

    def __init__(self, heading_deg: float, size: int, extent_m: float = TILE_EXTENT_M):
        h = math.radians(heading_deg)
        self.cos, self.sin = math.cos(h), math.sin(h)
        self.scale = size / extent_m
        self.half = size / 2

    def __call__(self, x: float, z: float) -> tuple[float, float]:
        east = x * self.cos + z * self.sin
        north = -x * self.sin + z * self.cos
        return self.half + east * self.scale, self.half - north * self.scale

    def quad(self, x0: float, x1: float, z0: float, z1: float) -> list[tuple[float, float]]:
        return [self(x0, z0), self(x1, z0), self(x1, z1), self(x0, z1)]


def _strip(x0: float, x1: float, reach: float = 400.0) -> tuple[float, float, float, float]:
    """A band parallel to the road, from x0 to x1 metres off its centre line."""
    return (x0, x1, -reach, reach)


def render_satellite(scene: Scene, size: int = 128) -> Image.Image:
    rng = np.random.default_rng(scene.rng_state + 1)
    td = TopDown(scene.heading, size)
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    half, kerb = scene.lane_width, scene.lane_width + scene.sidewalk_width
    if scene.richness == "closeup":  # a wall seen from above is a roof among roofs
        draw.rectangle((0, 0, size, size), fill=SAT_GROUND["earth"])
        for _ in range(6):
            x, y = rng.uniform(0, size, 2)
            w, h = rng.uniform(size * 0.15, size * 0.35, 2)
            draw.rectangle((x, y, x + w, y + h), fill=ROOF[scene.country.roof_style])
    else:
        for side, sign in (("left", -1), ("right", 1)):
            ground = scene.ground[side]
            colour = SAT_GROUND[ground]
            draw.polygon(td.quad(*_strip(sign * kerb, sign * 400)), fill=colour)
            draw.polygon(td.quad(*_strip(sign * half, sign * kerb)), fill=(170, 168, 160))
        draw.polygon(td.quad(*_strip(-half, half)), fill=(70, 70, 74))
        if scene.markings:
            colour = NAMED_COLOURS[scene.country.centre_line_colour]
            draw.line([td(0, -400), td(0, 400)], fill=colour, width=1)
        shadow_dir = 1 if scene.lat >= 0 else -1  # shadows fall away from the equator-side sun
        for thing in sorted(scene.things, key=lambda t: t.kind != "building"):
            _sat_thing(draw, td, thing, scene, shadow_dir)
    pixels = np.asarray(img, dtype=np.int16)
    noise = rng.normal(0, 5.0, pixels.shape[:2])[..., None].astype(np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def _sat_thing(draw, td: TopDown, thing: Thing, scene: Scene, shadow_dir: int):
    p = thing.params
    if thing.kind == "building":
        sign = 1 if thing.x > 0 else -1
        x0, x1 = thing.x, thing.x + sign * p["depth"]
        z0, z1 = thing.z, thing.z + p["length"]
        offset = shadow_dir * p["floors"] * 1.2 * td.scale  # shadow towards the pole, in pixels
        draw.polygon([(px, py - offset) for px, py in td.quad(x0, x1, z0, z1)], fill=(40, 40, 40))
        roof = ROOF[p["roof"]]
        draw.polygon(td.quad(x0, x1, z0, z1), fill=roof)
        if p["roof"] != "flat":
            xm = (x0 + x1) / 2
            draw.line([td(xm, z0), td(xm, z1)], fill=tuple(int(c * 0.7) for c in roof), width=1)
    elif thing.kind == "tree":
        cx, cy = td(thing.x, thing.z)
        r = max(1.5, p["crown"] * td.scale)
        draw.ellipse(
            (cx - r, cy - r - shadow_dir * r * 0.6, cx + r, cy + r - shadow_dir * r * 0.6), fill=(30, 40, 25)
        )
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=(40, 95, 40) if p["type"] != "palm" else (70, 120, 55)
        )
    elif thing.kind == "car":
        draw.polygon(td.quad(thing.x - 0.9, thing.x + 0.9, thing.z - 2.2, thing.z + 2.2), fill=p["colour"])


def render_osm(scene: Scene, size: int = 128) -> Image.Image:
    td = TopDown(scene.heading, size)
    img = Image.new("RGB", (size, size), OSM["land"])
    draw = ImageDraw.Draw(img)
    half, kerb = scene.lane_width, scene.lane_width + scene.sidewalk_width
    if scene.richness == "closeup":
        rng = np.random.default_rng(scene.rng_state + 2)
        for _ in range(6):
            x, y = rng.uniform(0, size, 2)
            w, h = rng.uniform(size * 0.15, size * 0.35, 2)
            draw.rectangle((x, y, x + w, y + h), fill=OSM["building"], outline=OSM["building_edge"])
        return img
    for side, sign in (("left", -1), ("right", 1)):
        ground = scene.ground[side]
        if ground != "earth":
            draw.polygon(td.quad(*_strip(sign * kerb, sign * 400)), fill=OSM[ground])
    major = scene.markings and scene.country.edge_line_colour != "none"
    draw.polygon(td.quad(*_strip(-half - 0.8, half + 0.8)), fill=OSM["casing"])
    draw.polygon(td.quad(*_strip(-half, half)), fill=OSM["major_road" if major else "road"])
    for thing in sorted(scene.things, key=lambda t: t.kind != "building"):
        p = thing.params
        if thing.kind == "building":
            sign = 1 if thing.x > 0 else -1
            draw.polygon(
                td.quad(thing.x, thing.x + sign * p["depth"], thing.z, thing.z + p["length"]),
                fill=OSM["building"],
                outline=OSM["building_edge"],
            )
        elif thing.kind == "tree":
            cx, cy = td(thing.x, thing.z)
            r = max(1.5, 1.6 * td.scale)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=OSM["tree"])
            draw.ellipse((cx - 0.7, cy - 0.7, cx + 0.7, cy + 0.7), fill=OSM["tree_dot"])
        elif thing.kind == "sign":
            cx, cy = td(thing.x, thing.z)
            draw.ellipse((cx - 2.5, cy - 2.5, cx + 2.5, cy + 2.5), fill=OSM["shop"], outline=(255, 255, 255))
        elif thing.kind == "bollard":
            cx, cy = td(thing.x, thing.z)
            draw.ellipse((cx - 0.8, cy - 0.8, cx + 0.8, cy + 0.8), fill=OSM["bollard"])
        elif thing.kind in ("pole", "flag"):
            cx, cy = td(thing.x, thing.z)
            draw.rectangle((cx - 0.6, cy - 0.6, cx + 0.6, cy + 0.6), fill=OSM[thing.kind])
    return img

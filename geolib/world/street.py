"""Render a ClueWorld scene as a street-view image with a per-pixel ADE20K-150 class mask.

Every shape is drawn three times: colour into the image, its ADE20K class id into the mask, and an
instance id into a third layer, so that after occlusion we know exactly which clues stayed visible.
Road markings, windows and sign text are painted on the image only: in ADE20K they belong to the
road, the building and the signboard. The compass in the top-right corner is interface, as in
GeoGuessr, and not part of the scene: the mask keeps the class underneath it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from geolib import ade20k as A
from geolib.world.countries import NAMED_COLOURS
from geolib.world.glyphs import draw_word
from geolib.world.scene import Scene, Thing

GROUND = {
    "grass": (A.GRASS, (96, 140, 60)),
    "earth": (A.EARTH, (140, 115, 80)),
    "sand": (A.SAND, (205, 180, 130)),
    "sea": (A.SEA, (40, 90, 140)),
}
GRASS_BY_CLIMATE = {
    "tropical": (60, 140, 50),
    "arid": (170, 160, 90),
    "subtropical": (130, 145, 70),
    "temperate": (90, 145, 65),
    "boreal": (80, 115, 70),
}
LEAVES = {
    "tropical": (30, 110, 40),
    "arid": (90, 120, 60),
    "subtropical": (70, 115, 50),
    "temperate": (50, 120, 45),
    "boreal": (35, 80, 45),
}
Z_NEAR = 0.8
# Minimum visible pixels (at 256 px width) for a clue to count as seen.
MIN_PIXELS = {
    "driving_side": 40,
    "plate": 3,
    "script": 30,
    "bollard": 6,
    "pole": 20,
    "flag": 15,
    "architecture": 150,
    "vegetation": 60,
    "landmark": 25,
    "centre_line": 8,
    "edge_line": 8,
    "sun": 10,
}


@dataclass
class StreetView:
    image: Image.Image  # RGB
    mask: np.ndarray  # (H, W) uint8 ADE20K class ids
    instances: np.ndarray  # (H, W) int32 instance ids
    instance_clues: dict[int, str] = field(default_factory=dict)  # instance id -> clue name
    visible: dict[str, int] = field(default_factory=dict)  # clue -> visible pixels
    visible_things: dict[int, int] = field(default_factory=dict)  # index in scene.things -> visible pixels


class Canvas:
    def __init__(self, width: int, height: int, base: np.ndarray, base_mask: np.ndarray):
        self.width, self.height = width, height
        self.image = Image.fromarray(base)
        self.mask = Image.fromarray(base_mask)
        self.inst = Image.new("I", (width, height), 0)
        self.draw_image = ImageDraw.Draw(self.image)
        self.draw_mask = ImageDraw.Draw(self.mask)
        self.draw_inst = ImageDraw.Draw(self.inst)
        self.clues: dict[int, str] = {}
        self.owner: dict[int, int] = {}  # instance id -> index of the thing being drawn
        self.current = -1
        self._next = 1

    def instance(self, clue: str | None) -> int:
        ident = self._next
        self._next += 1
        if clue:
            self.clues[ident] = clue
        if self.current >= 0:
            self.owner[ident] = self.current
        return ident

    # A shape with a class writes image, mask and instance layer (instance 0 = no clue); a shape
    # without a class is paint on what lies beneath, and touches the instance layer only if given one.
    def polygon(self, points, colour, cls: int | None, inst: int | None = None):
        pts = [(float(x), float(y)) for x, y in points]
        self.draw_image.polygon(pts, fill=tuple(colour))
        if cls is not None:
            self.draw_mask.polygon(pts, fill=int(cls))
        if cls is not None or inst is not None:
            self.draw_inst.polygon(pts, fill=inst or 0)

    def ellipse(self, box, colour, cls: int | None, inst: int | None = None):
        self.draw_image.ellipse(box, fill=tuple(colour))
        if cls is not None:
            self.draw_mask.ellipse(box, fill=int(cls))
        if cls is not None or inst is not None:
            self.draw_inst.ellipse(box, fill=inst or 0)

    def rect(self, box, colour, cls: int | None, inst: int | None = None):
        x0, y0, x1, y1 = box
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour, cls, inst)


class Camera:
    """Pinhole camera 2 m above the road, 90 degree horizontal field of view."""

    def __init__(self, width: int, height: int, horizon: float, eye_height: float = 2.0):
        self.f = width / 2
        self.cx = width / 2
        self.cy = height * horizon
        self.eye = eye_height

    def __call__(self, x: float, z: float, y: float = 0.0) -> tuple[float, float]:
        z = max(z, Z_NEAR)
        return self.cx + self.f * x / z, self.cy + self.f * (self.eye - y) / z

    def size(self, metres: float, z: float) -> float:
        return self.f * metres / max(z, Z_NEAR)


def _shade(colour, factor: float):
    return tuple(int(max(0, min(255, c * factor))) for c in colour)


def render_street(scene: Scene, width: int = 256, height: int = 256) -> StreetView:
    """The street view of ``scene`` as image, class mask and instance map."""
    rng = np.random.default_rng(scene.rng_state)
    cam = Camera(width, height, scene.horizon)
    base = np.zeros((height, width, 3), np.uint8)
    base_mask = np.full((height, width), A.SKY, np.uint8)
    rows = np.linspace(0, 1, height)[:, None]
    top, bottom = np.array(scene.sky_top, float), np.array([215, 228, 240], float)
    base[:] = ((1 - rows) * top + rows * bottom)[:, None, :].astype(np.uint8)
    canvas = Canvas(width, height, base, base_mask)

    if scene.richness == "closeup":
        _closeup(canvas, scene, rng)
    else:
        _sky_and_horizon(canvas, scene, cam, rng)
        _ground(canvas, scene, cam)
        for index, thing in sorted(enumerate(scene.things), key=lambda item: -item[1].z):
            if thing.z > Z_NEAR + 0.2 or thing.kind == "landmark":
                canvas.current = index
                DRAWERS[thing.kind](canvas, scene, cam, thing, rng)
        canvas.current = -1
        _compass(canvas, scene)

    pixels = np.asarray(canvas.image, dtype=np.int16)
    noise = rng.normal(0, 3.0, pixels.shape).astype(np.int16)
    image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    instances = np.asarray(canvas.inst, dtype=np.int32)
    counts = np.bincount(instances.ravel(), minlength=canvas._next)
    scale = (width / 256) ** 2
    visible: dict[str, int] = {}
    for ident, clue in canvas.clues.items():
        visible[clue] = visible.get(clue, 0) + int(counts[ident])
    visible = {c: n for c, n in visible.items() if n >= MIN_PIXELS.get(c, 10) * scale}
    things: dict[int, int] = {}
    for ident, index in canvas.owner.items():
        things[index] = things.get(index, 0) + int(counts[ident])
    things = {i: n for i, n in things.items() if n >= 4 * scale}
    return StreetView(
        image, np.asarray(canvas.mask, dtype=np.uint8).copy(), instances, canvas.clues, visible, things
    )


# ----------------------------------------------------------------------------- backgrounds


def _sky_and_horizon(canvas: Canvas, scene: Scene, cam: Camera, rng):
    w = canvas.width
    if scene.sun:
        sun_azimuth = 180.0 if scene.lat >= 0 else 0.0
        relative = (sun_azimuth - scene.heading + 540) % 360 - 180
        if abs(relative) < 80:
            x = cam.cx + cam.f * math.tan(math.radians(max(-50, min(50, relative))))
            y = cam.cy * 0.35
            r = w * 0.035
            ident = canvas.instance("sun")
            canvas.draw_image.ellipse(
                (x - r * 2.2, y - r * 2.2, x + r * 2.2, y + r * 2.2), fill=(250, 240, 200)
            )
            canvas.ellipse((x - r, y - r, x + r, y + r), (255, 252, 230), None, ident)
    if scene.mountains:
        peaks = [(-10.0, cam.cy)]
        for x in np.linspace(0, w, int(rng.integers(4, 8))):
            peaks.append(
                (float(x + rng.uniform(-10, 10)), float(cam.cy - rng.uniform(0.03, 0.14) * canvas.height))
            )
        peaks.append((w + 10.0, cam.cy))
        colour = (120, 130, 150) if scene.climate != "arid" else (170, 140, 110)
        canvas.polygon(peaks, colour, A.MOUNTAIN)


def _ground(canvas: Canvas, scene: Scene, cam: Camera):
    half, kerb = scene.lane_width, scene.lane_width + scene.sidewalk_width
    far, near = 2000.0, 0.05
    w, h = canvas.width, canvas.height
    road = [cam(-half, far), cam(half, far), cam(half, near), cam(-half, near)]
    canvas.polygon(road, (88, 88, 92), A.ROAD)
    if scene.markings:
        country = scene.country
        centre = NAMED_COLOURS[country.centre_line_colour]
        offsets = (-0.14, 0.14) if country.centre_line_style == "double" else (0.0,)
        ident = canvas.instance("centre_line")
        far_z = min(400.0, cam.f * half / 3)  # beyond this the road is too narrow to hold a line
        for offset in offsets:
            _line(canvas, cam, offset, 0.09, centre, country.centre_line_style == "dashed", ident, far_z)
        if country.edge_line_colour != "none":
            edge = NAMED_COLOURS[country.edge_line_colour]
            ident = canvas.instance("edge_line")
            for sign in (-1, 1):
                _line(
                    canvas,
                    cam,
                    sign * (half - 0.25),
                    0.08,
                    edge,
                    country.edge_line_style == "dashed",
                    ident,
                    far_z,
                )
    # Sides last: where rasterised line edges spill past the road, the sidewalk covers them.
    for side, sign in (("left", -1), ("right", 1)):
        kind = scene.ground[side]
        cls, colour = GROUND[kind]
        if kind == "grass":
            colour = GRASS_BY_CLIMATE[scene.climate]
        edge_far, edge_near = cam(sign * kerb, far), cam(sign * kerb, near)
        outer = -10 * w if sign < 0 else 11 * w
        canvas.polygon([(cam.cx, cam.cy), (outer, cam.cy), (outer, 10 * h), edge_near, edge_far], colour, cls)
        sidewalk = [
            cam(sign * half, far),
            cam(sign * kerb, far),
            cam(sign * kerb, near),
            cam(sign * half, near),
        ]
        canvas.polygon(sidewalk, (165, 162, 155), A.SIDEWALK)


def _line(
    canvas: Canvas, cam: Camera, x: float, half_width: float, colour, dashed: bool, ident: int, far_z: float
):
    spans = [(z, min(z + 3.0, far_z)) for z in np.arange(1.0, far_z, 9.0)] if dashed else [(1.0, far_z)]
    for z0, z1 in spans:
        canvas.polygon(
            [
                cam(x - half_width, z0),
                cam(x + half_width, z0),
                cam(x + half_width, z1),
                cam(x - half_width, z1),
            ],
            colour,
            None,
            ident,
        )


def _closeup(canvas: Canvas, scene: Scene, rng):
    w, h = canvas.width, canvas.height
    wall = next(t for t in scene.things if t.kind == "wall")
    colour = wall.params["colour"]
    canvas.rect((0, 0, w, h * 0.88), colour, A.WALL)  # a bare wall says little: not counted as a clue
    canvas.rect((0, h * 0.88, w, h), (160, 158, 150), A.SIDEWALK)
    if wall.params["brick"]:
        for y in np.arange(4, h * 0.88, 8):
            canvas.draw_image.line([(0, y), (w, y)], fill=_shade(colour, 0.8), width=1)
            for x in np.arange((y // 8 % 2) * 10, w, 20):
                canvas.draw_image.line([(x, y - 8), (x, y)], fill=_shade(colour, 0.8), width=1)
    if wall.params["window"]:
        x0 = float(rng.uniform(0.05, 0.45)) * w
        canvas.rect((x0, h * 0.15, x0 + w * 0.35, h * 0.5), (235, 235, 235), A.WINDOW)
        canvas.rect((x0 + 4, h * 0.15 + 4, x0 + w * 0.35 - 4, h * 0.5 - 4), (60, 75, 95), A.WINDOW)
    if wall.params["door"]:
        x0 = float(rng.uniform(0.55, 0.75)) * w
        canvas.rect((x0, h * 0.4, x0 + w * 0.2, h * 0.88), _shade(colour, 0.45), A.DOOR)
    for index, thing in enumerate(scene.things):
        canvas.current = index
        if thing.kind == "sign":
            x0, y0 = w * 0.08, h * 0.58
            ident = canvas.instance("script")
            canvas.rect((x0, y0, x0 + w * 0.3, y0 + h * 0.12), thing.params["bg"], A.SIGNBOARD, ident)
            _sign_text(canvas, scene, thing, (x0 + 2, y0 + 2, x0 + w * 0.3 - 2, y0 + h * 0.12 - 2), rng)


def _compass(canvas: Canvas, scene: Scene):
    r = canvas.width * 0.04
    cx, cy = canvas.width - r * 1.6, r * 1.6
    canvas.draw_image.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(245, 245, 245), outline=(90, 90, 90))
    angle = math.radians(-scene.heading)  # where north is, relative to straight ahead (screen up)
    tip = (cx + r * 0.9 * math.sin(angle), cy - r * 0.9 * math.cos(angle))
    tail = (cx - r * 0.6 * math.sin(angle), cy + r * 0.6 * math.cos(angle))
    canvas.draw_image.line([tail, (cx, cy)], fill=(60, 60, 60), width=max(1, int(r / 4)))
    canvas.draw_image.line([(cx, cy), tip], fill=(210, 30, 30), width=max(1, int(r / 4)))


# ----------------------------------------------------------------------------- objects


def _building(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    p = thing.params
    sign = 1 if thing.x > 0 else -1
    z1, z2 = max(thing.z, Z_NEAR + 0.2), thing.z + p["length"]
    if z2 <= Z_NEAR + 0.5:
        return
    xa, xb = thing.x, thing.x + sign * p["depth"]
    height = p["floors"] * 3.2 + 0.6
    colour = p["colour"]
    ident = canvas.instance("architecture")
    facade = [cam(xa, z1), cam(xa, z2), cam(xa, z2, height), cam(xa, z1, height)]
    canvas.polygon(facade, colour, A.BUILDING, ident)
    if thing.z > Z_NEAR + 0.2:
        canvas.polygon(
            [cam(xa, z1), cam(xb, z1), cam(xb, z1, height), cam(xa, z1, height)],
            _shade(colour, 0.8),
            A.BUILDING,
            ident,
        )
    roof = p["roof"]
    if roof == "flat":
        canvas.polygon(
            [cam(xa, z1, height), cam(xa, z2, height), cam(xa, z2, height + 0.4), cam(xa, z1, height + 0.4)],
            _shade(colour, 0.7),
            A.BUILDING,
            ident,
        )
    else:
        roof_colour = {
            "pitched_red": (165, 70, 50),
            "pitched_grey": (120, 120, 125),
            "pitched_dark": (60, 55, 60),
            "pitched_metal": (150, 160, 165),
        }[roof]
        xm, ridge = (xa + xb) / 2, height + 0.35 * p["depth"]
        canvas.polygon(
            [cam(xa, z1, height), cam(xa, z2, height), cam(xm, z2, ridge), cam(xm, z1, ridge)],
            roof_colour,
            A.BUILDING,
            ident,
        )
        if thing.z > Z_NEAR + 0.2:
            canvas.polygon(
                [cam(xa, z1, height), cam(xb, z1, height), cam(xm, z1, ridge)],
                _shade(roof_colour, 0.85),
                A.BUILDING,
                ident,
            )
    glass = (55, 70, 90)
    for floor in range(p["floors"]):
        y0, y1 = floor * 3.2 + 1.0, floor * 3.2 + 2.4
        if cam.size(y1 - y0, z1 + 3) < 1.5:
            break
        for z in np.arange(z1 + 1.0, z2 - 1.4, 3.0):
            if cam.size(1.4, z) < 1.0:
                break
            canvas.polygon(
                [cam(xa, z, y0), cam(xa, z + 1.4, y0), cam(xa, z + 1.4, y1), cam(xa, z, y1)], glass, None
            )


def _tree(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    p = thing.params
    kind, h, crown = p["type"], p["height"], p["crown"]
    cls = A.PALM if kind == "palm" else A.TREE
    ident = canvas.instance("vegetation")
    trunk = 0.3 if kind != "palm" else 0.25
    top = h * (0.45 if kind == "broadleaf" else 0.9)
    canvas.polygon(
        [
            cam(thing.x - trunk / 2, thing.z),
            cam(thing.x + trunk / 2, thing.z),
            cam(thing.x + trunk / 2, thing.z, top),
            cam(thing.x - trunk / 2, thing.z, top),
        ],
        (95, 70, 45) if kind != "palm" else (130, 110, 80),
        cls,
        ident,
    )
    leaves = LEAVES[scene.climate]
    cx, cy = cam(thing.x, thing.z, h * 0.7 if kind == "broadleaf" else h)
    r = cam.size(crown, thing.z)
    if kind == "broadleaf":
        canvas.ellipse((cx - r, cy - r * 0.9, cx + r, cy + r * 0.9), leaves, cls, ident)
    elif kind == "conifer":
        base = cam(thing.x, thing.z, h * 0.15)[1]
        canvas.polygon(
            [(cx, cy - r * 0.3), (cx + r * 0.8, base), (cx - r * 0.8, base)], _shade(leaves, 0.8), cls, ident
        )
    else:
        for angle in np.linspace(0.15 * math.pi, 0.85 * math.pi, 5):
            dx, dy = math.cos(angle) * r * 1.3, math.sin(angle) * r * 0.5
            canvas.polygon(
                [(cx, cy), (cx + dx, cy + dy), (cx + dx * 0.9, cy + dy + r * 0.2)], leaves, cls, ident
            )
            canvas.polygon(
                [(cx, cy), (cx - dx, cy + dy), (cx - dx * 0.9, cy + dy + r * 0.2)], leaves, cls, ident
            )


POLE_COLOURS = {
    "wood": (110, 80, 50),
    "wood_crossarm": (110, 80, 50),
    "concrete_round": (170, 170, 165),
    "concrete_square": (175, 172, 160),
    "concrete_holes": (165, 165, 160),
    "concrete_striped_base": (175, 175, 170),
    "metal": (95, 100, 105),
}


def _pole(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    style = thing.params["style"]
    ident = canvas.instance("pole")
    width = 0.35 if style.startswith("concrete") else 0.28
    x, z = thing.x, thing.z
    colour = POLE_COLOURS[style]
    canvas.polygon(
        [
            cam(x - width / 2, z),
            cam(x + width / 2, z),
            cam(x + width / 2, z, 9.0),
            cam(x - width / 2, z, 9.0),
        ],
        colour,
        A.POLE,
        ident,
    )
    if style == "wood_crossarm":
        canvas.polygon(
            [cam(x - 1.1, z, 8.3), cam(x + 1.1, z, 8.3), cam(x + 1.1, z, 8.55), cam(x - 1.1, z, 8.55)],
            colour,
            A.POLE,
            ident,
        )
    elif style == "concrete_striped_base":
        for k in range(4):
            stripe = (235, 200, 30) if k % 2 == 0 else (30, 30, 30)
            canvas.polygon(
                [
                    cam(x - width / 2, z, k * 0.35),
                    cam(x + width / 2, z, k * 0.35),
                    cam(x + width / 2, z, (k + 1) * 0.35),
                    cam(x - width / 2, z, (k + 1) * 0.35),
                ],
                stripe,
                A.POLE,
                ident,
            )
    elif style == "concrete_holes":
        for y in np.arange(1.0, 8.5, 0.8):
            px, py = cam(x, z, float(y))
            r = max(0.5, cam.size(0.07, z))
            canvas.draw_image.ellipse((px - r, py - r, px + r, py + r), fill=(70, 70, 70))
    for dz in (-1, 1):  # wires towards the neighbouring poles (paint only: wires are not an ADE20K class)
        canvas.draw_image.line([cam(x, z, 8.8), cam(x, z + dz * 38, 8.8)], fill=(40, 40, 40), width=1)


def _lamp(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    x, z = thing.x, thing.z
    inward = -1 if x > 0 else 1
    canvas.polygon(
        [cam(x - 0.1, z), cam(x + 0.1, z), cam(x + 0.1, z, 7.0), cam(x - 0.1, z, 7.0)],
        (90, 95, 100),
        A.STREET_LAMP,
        canvas.instance(None),
    )
    canvas.polygon(
        [cam(x, z, 6.9), cam(x + inward * 1.6, z, 6.9), cam(x + inward * 1.6, z, 7.05), cam(x, z, 7.05)],
        (90, 95, 100),
        A.STREET_LAMP,
    )
    hx, hy = cam(x + inward * 1.6, z, 6.9)
    r = max(1.0, cam.size(0.25, z))
    canvas.ellipse((hx - r, hy - r * 0.5, hx + r, hy + r * 0.5), (240, 235, 200), A.STREET_LAMP)


BAND_SLOPE = math.tan(math.radians(30))  # a J6 / Zeichen 620 band falls about 30 degrees towards the road


def _bollard(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    style = thing.params["style"]
    x, z = thing.x, thing.z
    side = "left" if x < 0 else "right"  # in the direction of travel, as the CSV's left|right reflectors
    body, band = NAMED_COLOURS[style.body], NAMED_COLOURS[style.band]
    reflector = NAMED_COLOURS[style.reflector(side)]
    ident = canvas.instance("bollard")
    half = 0.09
    canvas.polygon(
        [cam(x - half, z), cam(x + half, z), cam(x + half, z, 1.0), cam(x - half, z, 1.0)],
        body,
        A.COLUMN,
        ident,
    )
    if style.slanted:
        # The edge nearer the road is lower: on a right-hand post that is its left edge.
        drop = BAND_SLOPE * half
        near, far = (x - half, x + half) if side == "right" else (x + half, x - half)
        bottom, top = 0.7, 0.9  # at the post's centre line
        band_shape = [
            cam(near, z, bottom - drop),
            cam(far, z, bottom + drop),
            cam(far, z, top + drop),
            cam(near, z, top - drop),
        ]
        low, high = 0.75, 0.85  # keeps the reflector inside the sloping band
    else:
        band_shape = [
            cam(x - half, z, 0.72),
            cam(x + half, z, 0.72),
            cam(x + half, z, 0.95),
            cam(x - half, z, 0.95),
        ]
        low, high = 0.78, 0.9
    canvas.polygon(band_shape, band, A.COLUMN, ident)
    canvas.polygon(
        [cam(x - 0.04, z, low), cam(x + 0.04, z, low), cam(x + 0.04, z, high), cam(x - 0.04, z, high)],
        reflector,
        A.COLUMN,
        ident,
    )


def _contrast(colour):
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (20, 20, 20) if luminance > 140 else (245, 245, 245)


def _sign_text(canvas: Canvas, scene: Scene, thing: Thing, box, rng):
    country = scene.country
    word = country.sign_words[thing.params["word"]]
    fg = thing.params.get("fg") or _contrast(thing.params["bg"])
    draw_word(canvas.draw_image, box, word, country.script, fg, rng)


def _sign(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    p = thing.params
    x, z = thing.x, thing.z
    bottom, top = p["elevation"], p["elevation"] + p["height"]
    for post in (x - p["width"] * 0.35, x + p["width"] * 0.35):
        canvas.polygon(
            [
                cam(post - 0.04, z),
                cam(post + 0.04, z),
                cam(post + 0.04, z, bottom),
                cam(post - 0.04, z, bottom),
            ],
            (110, 110, 115),
            A.POLE,
        )
    x0, y1 = cam(x - p["width"] / 2, z, bottom)
    x1, y0 = cam(x + p["width"] / 2, z, top)
    ident = canvas.instance("script")
    canvas.rect((x0, y0, x1, y1), p["bg"], A.SIGNBOARD, ident)
    pad = (x1 - x0) * 0.06
    _sign_text(canvas, scene, thing, (x0 + pad, y0 + pad, x1 - pad, y1 - pad), rng)


def _car(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    country = scene.country
    p = thing.params
    x, z = thing.x, thing.z
    side = canvas.instance("driving_side")
    body = p["colour"]

    def box(x0, x1, y0, y1):
        a, b = cam(x + x0, z, y1), cam(x + x1, z, y0)
        return (a[0], a[1], b[0], b[1])

    canvas.rect(box(-0.85, -0.55, 0.0, 0.4), (20, 20, 20), A.CAR, side)
    canvas.rect(box(0.55, 0.85, 0.0, 0.4), (20, 20, 20), A.CAR, side)
    canvas.rect(box(-0.9, 0.9, 0.25, 1.0), body, A.CAR, side)
    cabin = [cam(x - 0.75, z, 1.0), cam(x + 0.75, z, 1.0), cam(x + 0.6, z, 1.45), cam(x - 0.6, z, 1.45)]
    canvas.polygon(cabin, _shade(body, 0.9), A.CAR, side)
    canvas.polygon(
        [cam(x - 0.65, z, 1.05), cam(x + 0.65, z, 1.05), cam(x + 0.53, z, 1.38), cam(x - 0.53, z, 1.38)],
        (50, 60, 75),
        A.CAR,
        side,
    )
    light = (200, 20, 20) if p["rear"] else (250, 245, 220)
    canvas.rect(box(-0.85, -0.6, 0.72, 0.86), light, A.CAR, side)
    canvas.rect(box(0.6, 0.85, 0.72, 0.86), light, A.CAR, side)
    # Plates are drawn 1.5x real size so that their colours stay readable at 256 pixels.
    plate = canvas.instance("plate")
    width, height = (0.78, 0.17) if country.plate_shape == "long" else (0.45, 0.23)
    background, text = country.plate_rear if p["rear"] else country.plate_front
    x0, x1, y0 = -width / 2, width / 2, 0.36
    canvas.rect(box(x0, x1, y0, y0 + height), NAMED_COLOURS[background], A.CAR, plate)
    if country.plate_band != "none":
        band = {"blue": (30, 60, 170), "green": (30, 130, 60), "red": (200, 30, 35), "other": (90, 90, 90)}
        canvas.rect(box(x0, x0 + width * 0.13, y0, y0 + height), band[country.plate_band], A.CAR, plate)
    a, b = cam(x + x0 + width * 0.22, z, y0 + height * 0.5), cam(x + x1 - width * 0.08, z, y0 + height * 0.5)
    canvas.draw_image.line([a, b], fill=NAMED_COLOURS[text], width=max(1, int(cam.size(height * 0.45, z))))


def _flag(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    country = scene.country
    x, z = thing.x, thing.z
    canvas.polygon(
        [cam(x - 0.05, z), cam(x + 0.05, z), cam(x + 0.05, z, 7.0), cam(x - 0.05, z, 7.0)],
        (200, 200, 200),
        A.POLE,
    )
    towards_road = -1 if x > 0 else 1
    fx0, fy0 = cam(x, z, 6.9)
    fx1, fy1 = cam(x + towards_road * 1.8, z, 5.7)
    left, right = min(fx0, fx1), max(fx0, fx1)
    ident = canvas.instance("flag")
    colours, kind = country.flag_colours, country.flag_kind
    width, height = right - left, fy1 - fy0
    if kind in ("h", "v"):
        n = len(colours)
        for i, colour in enumerate(colours):
            if kind == "h":
                box = (left, fy0 + height * i / n, right, fy0 + height * (i + 1) / n)
            else:
                box = (left + width * i / n, fy0, left + width * (i + 1) / n, fy1)
            canvas.rect(box, colour, A.FLAG, ident)
    else:
        canvas.rect((left, fy0, right, fy1), colours[0], A.FLAG, ident)
        if kind == "cross":
            canvas.rect((left + width * 0.3, fy0, left + width * 0.42, fy1), colours[1], A.FLAG, ident)
            canvas.rect((left, fy0 + height * 0.42, right, fy0 + height * 0.58), colours[1], A.FLAG, ident)
        else:
            r = height * 0.3
            cx, cy = left + width / 2, fy0 + height / 2
            canvas.ellipse((cx - r, cy - r, cx + r, cy + r), colours[1], A.FLAG, ident)


def _person(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    x, z = thing.x, thing.z
    canvas.polygon(
        [cam(x - 0.2, z), cam(x + 0.2, z), cam(x + 0.2, z, 0.9), cam(x - 0.2, z, 0.9)], (40, 40, 60), A.PERSON
    )
    canvas.polygon(
        [cam(x - 0.25, z, 0.9), cam(x + 0.25, z, 0.9), cam(x + 0.25, z, 1.5), cam(x - 0.25, z, 1.5)],
        thing.params["colour"],
        A.PERSON,
    )
    hx, hy = cam(x, z, 1.62)
    r = max(0.8, cam.size(0.12, z))
    canvas.ellipse((hx - r, hy - r, hx + r, hy + r), (200, 160, 130), A.PERSON)


def _landmark(canvas: Canvas, scene: Scene, cam: Camera, thing: Thing, rng):
    p = thing.params
    x, z, h, w = thing.x, thing.z, p["height"], p["width"]
    ident = canvas.instance("landmark")
    top_w = w * p["taper"]
    shaft = [cam(x - w / 2, z), cam(x + w / 2, z), cam(x + top_w / 2, z, h), cam(x - top_w / 2, z, h)]
    canvas.polygon(shaft, p["colour"], A.TOWER, ident)
    tx, ty = cam(x, z, h)
    r = cam.size(max(top_w, 6), z)
    if p["top"] == "spire":
        canvas.polygon([(tx - r / 2, ty), (tx + r / 2, ty), (tx, ty - r * 3)], p["colour"], A.TOWER, ident)
    elif p["top"] == "ball":
        canvas.ellipse((tx - r, ty - 2 * r, tx + r, ty), _shade(p["colour"], 1.2), A.TOWER, ident)
    elif p["top"] == "dome":
        canvas.ellipse((tx - r, ty - r, tx + r, ty + r), p["colour"], A.TOWER, ident)
    elif p["top"] == "needle":
        canvas.polygon([(tx - 1, ty), (tx + 1, ty), (tx, ty - r * 5)], (60, 60, 60), A.TOWER, ident)


DRAWERS = {
    "building": _building,
    "tree": _tree,
    "pole": _pole,
    "lamp": _lamp,
    "bollard": _bollard,
    "sign": _sign,
    "car": _car,
    "flag": _flag,
    "person": _person,
    "landmark": _landmark,
}

"""ClueWorld: determinism, pixel-exact ground truth, clue flags, tiles, richness and learnability."""

import numpy as np
import pytest

from geolib import ade20k as A
from geolib.world import CLUES, countries, generate, make_sample
from geolib.world.clues import candidates, observe
from geolib.world.countries import NAMED_COLOURS, read_countries
from geolib.world.places import cities
from geolib.world.scene import make_scene
from geolib.world.street import Camera, render_street
from geolib.world.tiles import OSM, TopDown, render_osm, render_satellite

CLASS_OF_CLUE = {
    "driving_side": {A.CAR},
    "plate": {A.CAR},
    "script": {A.SIGNBOARD},
    "bollard": {A.COLUMN},
    "pole": {A.POLE},
    "flag": {A.FLAG},
    "architecture": {A.BUILDING},
    "vegetation": {A.TREE, A.PALM},
    "landmark": {A.TOWER},
    "centre_line": {A.ROAD},
    "edge_line": {A.ROAD},
    "sun": {A.SKY},
}


def test_a_sample_is_a_pure_function_of_seed_and_index():
    a, b = make_sample(5, 17), make_sample(5, 17)
    assert a.record() == b.record()
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and np.array_equal(a.mask, b.mask)
    assert np.array_equal(np.asarray(a.satellite), np.asarray(b.satellite))
    assert np.array_equal(np.asarray(a.osm), np.asarray(b.osm))
    c = make_sample(5, 18)
    assert c.id != a.id and not np.array_equal(np.asarray(a.image), np.asarray(c.image))


def test_parallel_generation_equals_one_by_one():
    parallel = list(generate(12, seed=2, workers=2, chunk=4, size=96, tile_size=32, progress=False))
    assert [s.index for s in parallel] == list(range(12))
    for sample in parallel[::5]:
        alone = make_sample(2, sample.index, size=96, tile_size=32)
        assert sample.record() == alone.record()
        assert np.array_equal(sample.mask, alone.mask)


@pytest.mark.parametrize("index", range(0, 40, 3))
def test_every_clue_pixel_carries_the_class_it_was_drawn_as(index):
    scene = make_scene(0, index, {"rich": 1.0})
    view = render_street(scene)
    assert view.mask.shape == (256, 256) and view.mask.dtype == np.uint8
    assert view.mask.max() < A.NUM_CLASSES
    for ident, clue in view.instance_clues.items():
        pixels = view.mask[view.instances == ident]
        if pixels.size:
            assert set(np.unique(pixels)) <= CLASS_OF_CLUE[clue], (clue, np.unique(pixels))


def test_road_pixels_look_like_road_and_sky_like_sky():
    for index in range(6):
        sample = make_sample(1, index, mix={"poor": 1.0})
        image = np.asarray(sample.image).astype(int)
        road = image[sample.mask == A.ROAD]
        asphalt = np.abs(road - np.array([88, 88, 92])).max(axis=1) < 16
        assert asphalt.mean() > 0.8  # the rest are painted markings, which ADE20K counts as road
        sky = image[sample.mask == A.SKY]
        assert (sky[:, 2] > sky[:, 0]).mean() > 0.95
        bottom_centre = sample.mask[-1, 128]
        assert bottom_centre == A.ROAD


def test_clue_flags_match_what_was_drawn():
    for index in range(40):
        scene = make_scene(3, index)
        view = render_street(scene)
        sample = make_sample(3, index)
        assert set(sample.clues) == set(observe(scene, view)) <= set(CLUES)
        classes = np.bincount(view.mask.ravel(), minlength=A.NUM_CLASSES)
        if "script" in sample.clues:
            assert classes[A.SIGNBOARD] >= 30
        if classes[A.SIGNBOARD] == 0:
            assert "script" not in sample.clues
        if "flag" in sample.clues:
            assert classes[A.FLAG] >= 15
        if classes[A.CAR] == 0:
            assert "driving_side" not in sample.clues and "plate" not in sample.clues


def test_cars_seen_from_behind_drive_on_the_countrys_side():
    checked = 0
    for index in range(80):
        scene = make_scene(4, index, {"rich": 1.0})
        view = render_street(scene)
        cam = Camera(256, 256, scene.horizon)
        for position, thing in enumerate(scene.things):
            if thing.kind != "car" or position not in view.visible_things:
                continue
            x_centre = cam(thing.x, thing.z)[0]
            same_direction_side = "right" if x_centre > cam.cx else "left"
            if thing.params["rear"]:
                assert same_direction_side == scene.country.driving_side
            else:
                assert same_direction_side != scene.country.driving_side
            checked += 1
    assert checked > 20


def test_plate_pixels_show_the_countrys_plate_colour():
    found = 0
    for index in range(60):
        scene = make_scene(6, index, {"rich": 1.0})
        view = render_street(scene)
        plates = [i for i, clue in view.instance_clues.items() if clue == "plate"]
        for ident in plates:
            pixels = np.asarray(view.image).reshape(-1, 3)[(view.instances == ident).ravel()].astype(int)
            if len(pixels) < 6:
                continue
            backgrounds = {scene.country.plate_rear[0], scene.country.plate_front[0]}
            targets = np.array([NAMED_COLOURS[b] for b in backgrounds])
            distance = np.abs(pixels[:, None, :] - targets[None]).max(axis=2).min(axis=1)
            assert (distance < 20).mean() > 0.3
            found += 1
    assert found > 10


def test_tiles_share_the_street_layout():
    for index in range(30):
        scene = make_scene(7, index, {"rich": 1.0})
        osm = np.asarray(render_osm(scene, 128)).astype(int)
        sat = np.asarray(render_satellite(scene, 128)).astype(int)
        td = TopDown(scene.heading, 128)
        road = (
            OSM["major_road"] if scene.markings and scene.country.edge_line_colour != "none" else OSM["road"]
        )
        for z in (-30.0, 0.0, 30.0):  # the road runs through the centre along the heading
            px, py = (int(round(v)) for v in td(0.0, z))
            assert tuple(osm[py, px]) == road
            assert np.abs(sat[py, px] - np.array([70, 70, 74])).max() < 30 or scene.markings
        for thing in scene.things:
            if thing.kind == "building" and abs(thing.z + thing.params["length"] / 2) < 35:
                sign = 1 if thing.x > 0 else -1
                px, py = (
                    int(round(v))
                    for v in td(
                        thing.x + sign * thing.params["depth"] / 2, thing.z + thing.params["length"] / 2
                    )
                )
                assert tuple(osm[py, px]) in (
                    OSM["building"],
                    OSM["building_edge"],
                    OSM["shop"],
                    OSM["tree"],
                    OSM["tree_dot"],
                    OSM["pole"],
                    (255, 255, 255),
                )


def test_locations_are_on_land_near_real_cities_of_the_sampled_country():
    from geolib.geo import country_code, haversine_km

    samples = [make_sample(8, index, size=64, tile_size=32) for index in range(50)]
    codes = country_code([s.latitude for s in samples], [s.longitude for s in samples])
    assert list(codes) == [s.country for s in samples]
    for index in range(50):
        sample = make_sample(8, index, size=64, tile_size=32)
        assert sample.country in countries()
        city = next(c for c in cities(sample.country) if c.name == sample.city)
        assert haversine_km(sample.latitude, sample.longitude, city.latitude, city.longitude) <= 6 + 1e-6


def test_richness_controls_the_number_of_clues():
    def mean_clues(level):
        return np.mean(
            [len(make_sample(9, i, size=96, tile_size=32, mix={level: 1.0}).clues) for i in range(40)]
        )

    rich, medium, poor, closeup = (mean_clues(level) for level in ("rich", "medium", "poor", "closeup"))
    assert rich > medium + 1.5 > poor + 1.5 and poor >= closeup
    assert poor <= 3 and rich >= 6


def test_reasoning_cites_visible_clues_and_concludes_on_the_country():
    sample = make_sample(0, 1)  # a rich London scene with a landmark
    assert sample.city == "London" and "landmark" in sample.clues
    assert "traffic keeping to the left" in sample.reasoning
    assert sample.reasoning.endswith("so the city is London.")
    assert "the United Kingdom" in sample.reasoning
    text = sample.description
    assert text.index("road") < text.index("sign") < text.index("building")
    assert 60 <= len(text.split()) <= 220


def test_candidates_narrow_with_each_clue():
    everything = candidates({})
    left = candidates({"driving_side": "left"})
    assert len(everything) == len(countries()) and set(left) < set(everything)
    assert "GB" in left and "FR" not in left
    assert candidates({"driving_side": "left", "script": "japanese"}) == ["JP"]


def test_country_profiles_cover_the_world_with_confusable_groups():
    profiles = countries()
    assert len(profiles) >= 20
    assert {c.continent for c in profiles.values()} == {
        "Europe",
        "Asia",
        "Africa",
        "North America",
        "South America",
        "Oceania",
    }
    assert all(c.sources for c in profiles.values())
    groups = {}
    for c in profiles.values():
        groups.setdefault((c.script, c.driving_side, c.centre_line_colour), []).append(c.iso2)
    assert max(len(g) for g in groups.values()) >= 4
    assert profiles["GB"].driving_side == "left" and profiles["US"].centre_line_colour == "yellow"
    assert all(len(cities(code)) >= 3 for code in profiles)


def test_country_csv_errors_name_line_and_field(tmp_path):
    from geolib import DataError
    from geolib.world.countries import COUNTRIES_FILE

    lines = COUNTRIES_FILE.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "countries.csv"
    broken.write_text(
        "\n".join([lines[0], lines[1].replace(",left,", ",middle,", 1)]) + "\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"countries.csv, record line 2 \(GB\), field 'driving_side'"):
        read_countries(broken)


def test_a_small_classifier_learns_countries_from_rich_scenes_not_poor_ones():
    from geolib.world.baseline import accuracy, fit_country_baseline

    rich = list(generate(1500, seed=11, size=96, tile_size=32, mix={"rich": 1.0}, progress=False))
    poor = list(generate(300, seed=12, size=96, tile_size=32, mix={"poor": 1.0}, progress=False))
    model = fit_country_baseline([s.image for s in rich[:1200]], [s.country for s in rich[:1200]])
    rich_accuracy = accuracy(model, [s.image for s in rich[1200:]], [s.country for s in rich[1200:]])
    poor_accuracy = accuracy(model, [s.image for s in poor], [s.country for s in poor])
    chance = 1 / len(countries())
    assert rich_accuracy > 10 * chance, rich_accuracy
    assert poor_accuracy < rich_accuracy - 0.25, (rich_accuracy, poor_accuracy)


# ----------------------------------------------------------------------------- bollard facts (issue 13)


def _scene_with_only_bollards(code):
    """A rich ``code`` scene whose posts stand on both sides, the nearest within 7 m; nothing else drawn."""
    for index in range(200):
        scene = make_scene(0, index, {"rich": 1.0}, country_codes=(code,))
        posts = [t for t in scene.things if t.kind == "bollard"]
        if {t.x > 0 for t in posts} == {False, True} and min(t.z for t in posts) < 7:
            scene.things = posts  # so that no car or sign hides a post
            return scene
    raise AssertionError(f"no {code} scene with bollards on both sides")


def _bollard_pixels(view, min_pixels):
    """(rows, cols, RGB) of each drawn bollard with at least ``min_pixels`` pixels."""
    image = np.asarray(view.image).astype(int)
    for ident, clue in view.instance_clues.items():
        rows, cols = np.nonzero(view.instances == ident)
        if clue == "bollard" and len(rows) >= min_pixels:
            yield rows, cols, image[rows, cols]


def _near(pixels, colour):
    return np.abs(pixels - np.array(NAMED_COLOURS[colour])).max(axis=1) < 25


def test_bollard_rows_follow_the_road_marking_regulations():
    from geolib.world.clues import describe
    from geolib.world.countries import Bollard

    profiles = countries()
    assert profiles["DE"].bollard == Bollard("white", "black", "white", "white", slanted=True)
    assert profiles["FR"].bollard == Bollard("white", "black", "white", "white", slanted=True)
    assert profiles["NZ"].bollard == Bollard("white", "white", "white", "yellow")
    assert profiles["NZ"].bollard.reflector("left") == "white"
    assert profiles["NZ"].bollard.reflector("right") == "yellow"
    # The one-colour form still reads as the same colour on both sides.
    assert profiles["IT"].bollard == Bollard("white", "black", "red", "red")
    assert describe("bollard", profiles["FR"].bollard) == (
        "white bollards with a slanted black band and white reflectors"
    )
    assert describe("bollard", profiles["NZ"].bollard) == (
        "white bollards with white reflectors on the left and yellow ones on the right"
    )


def test_new_zealand_posts_show_white_reflectors_on_the_left_and_yellow_on_the_right():
    from geolib.world.text import describe_scene

    scene = _scene_with_only_bollards("NZ")
    view = render_street(scene)
    checked = {"left": 0, "right": 0}
    for _, cols, pixels in _bollard_pixels(view, 30):
        side = "left" if cols.mean() < 128 else "right"
        assert not _near(pixels, "red").any(), side
        if side == "left":  # body and reflector are both white here: every pixel is white
            assert _near(pixels, "white").all()
            assert not _near(pixels, "yellow").any()
        else:
            assert _near(pixels, "yellow").sum() >= 1
        checked[side] += 1
    assert checked["left"] >= 1 and checked["right"] >= 1, checked
    assert "white reflectors on the left and yellow ones on the right" in describe_scene(scene, view)


def test_french_posts_have_a_band_sloping_down_towards_the_road():
    scene = _scene_with_only_bollards("FR")
    view = render_street(scene)
    slopes = []
    for rows, cols, pixels in _bollard_pixels(view, 100):  # near posts: a far one is a few pixels wide
        band = pixels.sum(axis=1) < 200  # the black band (the body and reflector are white)
        assert band.any(), "no black band drawn"
        band_cols = cols[band]
        first, last = band_cols.min(), band_cols.max()
        left_edge = rows[band & (cols == first)].mean()
        right_edge = rows[band & (cols == last)].mean()
        road_is_left = cols.mean() > 128
        # Image rows grow downwards: the edge nearer the road sits lower, i.e. on a larger row.
        slopes.append(left_edge - right_edge if road_is_left else right_edge - left_edge)
    assert slopes and min(slopes) >= 1.5, slopes  # a level band measures 0 here


@pytest.mark.parametrize("bad", ["white|", "white|pink", "white|yellow|red", "|yellow"])
def test_country_csv_rejects_a_malformed_two_sided_reflector(tmp_path, bad):
    from geolib import DataError
    from geolib.world.countries import COUNTRIES_FILE

    lines = COUNTRIES_FILE.read_text(encoding="utf-8").splitlines()
    nz = next(line for line in lines if line.startswith("NZ,"))
    good = tmp_path / "good.csv"
    good.write_text(f"{lines[0]}\n{nz}\n", encoding="utf-8")
    assert read_countries(good)["NZ"].bollard.reflector("right") == "yellow"
    broken = tmp_path / "countries.csv"
    broken.write_text(f"{lines[0]}\n{nz.replace(':white|yellow,', f':{bad},', 1)}\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"countries.csv, record line 2 \(NZ\), field 'bollard': .*left\|right colour names"
    ):
        read_countries(broken)

"""Curation: threshold, near-duplicates, balance, geo-separated splits, exports, bad records, the command.

A small ClueWorld is written once; its scores come from the formula on the exact masks (no segmenter
needed), so every expected value here is known.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geolib.curation import (
    Candidate,
    apply_threshold,
    balance,
    country_caps,
    curate,
    curation_ablation,
    drop_image_duplicates,
    drop_location_duplicates,
    geo_split,
    separation_km,
    threshold_sweep,
)
from geolib.curation.select import pairs_within_km
from geolib.errors import DataError, GeolibError
from geolib.formats.sft import read_sft_json
from geolib.geo import haversine_km


def _point_at(lat, lon, metres, bearing_deg=90.0):
    """A point ``metres`` from (lat, lon) along ``bearing_deg`` (spherical, exact enough at this scale)."""
    d = metres / 1000 / 6371.0
    b = np.radians(bearing_deg)
    lat1, lon1 = np.radians(lat), np.radians(lon)
    lat2 = np.arcsin(np.sin(lat1) * np.cos(d) + np.cos(lat1) * np.sin(d) * np.cos(b))
    lon2 = lon1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(lat1), np.cos(d) - np.sin(lat1) * np.sin(lat2))
    return float(np.degrees(lat2)), float(np.degrees(lon2))


def _candidate(ident, lat=48.0, lon=2.0, country="FR", score=0.5, path="x.jpg"):
    return Candidate(ident, Path(path), lat, lon, country, "Paris", score, reasons="yellow plates")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """90 ClueWorld samples at 64 px with their exports, and ``scores.csv`` from the exact masks."""
    from geolib.locatability import fractions_from_mask, locatability_from_fractions
    from geolib.world import write_world

    root = tmp_path_factory.mktemp("curation")
    out = root / "world"
    records = write_world(out, 90, seed=3, size=64, tile_size=32, workers=1, progress=False)
    rows = []
    for r in records:
        mask = np.asarray(Image.open(out / "masks" / f"{r['id']}.png"))
        score = float(locatability_from_fractions(fractions_from_mask(mask)))
        rows.append([r["id"], f"world/streetview/{r['id']}.jpg", f"{score:.6f}"])
    scores = root / "scores.csv"
    with scores.open("w", newline="") as f:
        csv.writer(f).writerows([["id", "path", "locatability"], *rows])
    return root


def _copy_world(world, tmp_path) -> Path:
    shutil.copytree(world, tmp_path / "w", symlinks=True)
    return tmp_path / "w"


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- splits


def test_pairs_within_km_match_brute_force_haversine():
    rng = np.random.default_rng(0)
    lat = 48.85 + rng.normal(0, 0.01, 300)
    lon = 2.35 + rng.normal(0, 0.01, 300)
    found = set(pairs_within_km(lat, lon, 0.5))
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    expected = {(i, j) for i, j in zip(*np.nonzero(d < 0.5), strict=True) if i < j}
    assert found == expected and len(found) > 50


def test_points_900_m_apart_never_straddle_a_split():
    # many separate places across one country, and one pair 900 m apart in each of them
    rng = np.random.default_rng(1)
    lat, lon = [], []
    for _ in range(40):
        base = (44 + rng.uniform(0, 6), rng.uniform(-1, 7))
        lat += [base[0], _point_at(*base, 900)[0]]
        lon += [base[1], _point_at(*base, 900)[1]]
    assert np.allclose(haversine_km(lat[0], lon[0], lat[1], lon[1]), 0.9, atol=1e-6)
    splits = geo_split(lat, lon, ["FR"] * len(lat), min_distance_km=1.0, seed=0)
    assert all(splits[2 * k] == splits[2 * k + 1] for k in range(40))  # each pair stays together
    assert set(splits) == {"train", "val", "test"}
    gaps = separation_km(lat, lon, splits)
    assert np.nanmin(gaps) >= 1.0
    # without separation, the same pairs are split apart: the check above is not vacuous
    loose = geo_split(lat, lon, ["FR"] * len(lat), min_distance_km=0, seed=0)
    assert np.nanmin(separation_km(lat, lon, loose)) < 1.0


def test_geo_split_is_stratified_by_country_and_seeded():
    rng = np.random.default_rng(2)
    lat = np.concatenate([rng.uniform(40, 50, 200), rng.uniform(-30, -20, 100)])
    lon = np.concatenate([rng.uniform(0, 10, 200), rng.uniform(120, 140, 100)])
    countries = ["FR"] * 200 + ["AU"] * 100
    splits = geo_split(lat, lon, countries, seed=5)
    for code, n in (("FR", 200), ("AU", 100)):
        mine = splits[np.array(countries) == code]
        assert abs((mine == "train").sum() - 0.8 * n) <= 1 and abs((mine == "test").sum() - 0.1 * n) <= 1
    assert (geo_split(lat, lon, countries, seed=5) == splits).all()
    assert (geo_split(lat, lon, countries, seed=6) != splits).any()


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0.5, 0.6, 0.1), "summing to 1"),
        ((0, 0.5, 0.5), "with some train"),
        ((0.8, -0.1, 0.3), r"in \[0, 1\]"),
    ],
)
def test_geo_split_refuses_impossible_fractions(fractions, message):
    with pytest.raises(GeolibError, match=message):
        geo_split([0.0], [0.0], ["FR"], fractions=fractions)


# ----------------------------------------------------------------------------- selection


def test_threshold_and_sweep_count_the_same_images():
    candidates = [_candidate(str(i), score=s) for i, s in enumerate([0.1, 0.39, 0.4, 0.55, 0.7])]
    kept, dropped = apply_threshold(candidates, 0.4)
    assert [c.id for c in kept] == ["2", "3", "4"]
    assert dropped[1].reason == "locatability 0.390 < 0.4" and dropped[1].step == "threshold"
    summary, survival = threshold_sweep(
        [0.1, 0.39, 0.4, 0.55, 0.7], ["FR", "FR", "DE", "DE", "DE"], [0.1, 0.4, 0.6]
    )
    assert summary["kept"].tolist() == [5, 3, 1] and summary["countries"].tolist() == [2, 1, 1]
    assert survival.loc["FR"].tolist() == [1.0, 0.0, 0.0] and survival.loc["DE", 0.6] == pytest.approx(1 / 3)
    with pytest.raises(GeolibError, match=r"threshold must be in \[0, 1\]"):
        apply_threshold(candidates, 1.5)


def test_balance_caps_keep_the_most_locatable_and_match_a_target():
    candidates = [_candidate(f"fr{i}", country="FR", score=0.4 + i / 100) for i in range(10)]
    candidates += [_candidate(f"de{i}", country="DE", score=0.5) for i in range(4)]
    kept, dropped = balance(candidates, max_per_country=3)
    assert sorted(c.id for c in kept if c.country == "FR") == ["fr7", "fr8", "fr9"]
    assert sum(c.country == "DE" for c in kept) == 3 and len(dropped) == 8
    assert dropped[0].reason == "FR capped at 3 of 10 images"
    assert country_caps({"FR": 10, "DE": 4}, target={"FR": 0.5, "DE": 0.5}) == {"FR": 4, "DE": 4}
    assert country_caps({"FR": 10, "DE": 4, "IT": 5}, target={"FR": 3, "DE": 1}) == {
        "FR": 10,
        "DE": 3,
        "IT": 0,
    }
    with pytest.raises(GeolibError, match="positive integer"):
        balance(candidates, max_per_country=0)


def test_location_duplicates_keep_the_more_locatable_view():
    a = _candidate("a", 48.0, 2.0, score=0.45)
    near = _point_at(48.0, 2.0, 6)
    b = _candidate("b", *near, score=0.6)
    far = _candidate("c", *_point_at(48.0, 2.0, 50), score=0.5)
    kept, dropped = drop_location_duplicates([a, b, far], metres=10)
    assert [c.id for c in kept] == ["b", "c"]
    assert dropped[0].id == "a" and dropped[0].reason.startswith("taken 6.0 m from b")
    assert len(drop_location_duplicates([a, b, far], metres=0)[0]) == 3


def test_image_duplicates_are_found_with_the_locatability_tower(world, tmp_path):
    import io

    from geolib.locatability.network import load_locatability_net

    views = sorted((world / "world" / "streetview").glob("*.jpg"))[:40]
    images = [Image.open(p).convert("RGB") for p in views]
    buffer = io.BytesIO()
    images[3].save(buffer, "JPEG", quality=60)
    images.append(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))  # a re-encoded copy of #3
    images.append(images[7].copy())  # an exact copy of #7
    candidates = [_candidate(f"v{i}", score=0.5) for i in range(len(images))]
    candidates[-1].locatability = 0.9  # the copy scores higher: the original goes
    embeddings = load_locatability_net().embed(images, progress=False)
    assert embeddings.shape[0] == 42 and np.allclose(np.linalg.norm(embeddings, axis=1), 1)
    kept, dropped = drop_image_duplicates(candidates, embeddings, 0.995)
    assert sorted(e.id for e in dropped) == ["v40", "v7"]
    assert next(e for e in dropped if e.id == "v7").reason.startswith("looks like v41 (cosine 1.000")


# ----------------------------------------------------------------------------- the whole run


def test_curate_writes_splits_exports_and_card_that_round_trip(world, tmp_path):
    out = tmp_path / "curated"
    messages = []
    result = curate(
        world / "scores.csv", world / "world" / "metadata.csv", out, log=messages.append, progress=False
    )
    rows = _rows(out / "splits.csv")
    assert list(rows[0])[:8] == [
        "id",
        "path",
        "latitude",
        "longitude",
        "country",
        "city",
        "locatability",
        "split",
    ]
    assert len(rows) == len(result.candidates) > 40
    assert all(float(r["locatability"]) >= 0.4 for r in rows)
    assert all((out / r["path"]).is_file() for r in rows)  # paths are relative to the output folder
    lat = [float(r["latitude"]) for r in rows]
    lon = [float(r["longitude"]) for r in rows]
    assert np.nanmin(separation_km(lat, lon, [r["split"] for r in rows])) >= 1.0
    by_split = {}
    for r in rows:
        by_split.setdefault(r["split"], set()).add(r["id"])
    for split, ids in by_split.items():
        stage1 = read_sft_json(out / f"sft_stage1_{split}.json", 1)
        stage2 = read_sft_json(out / f"sft_stage2_{split}.json", 2)
        assert {e.id for e in stage2} == ids == {e.id for e in stage1}  # ClueWorld gives every view reasons
        assert all((out / e.image).is_file() for e in stage2)
        assert stage2[0].prompt == "Which country and city is the image located?"
        assert stage1[0].prompt == "Which country is the image located? Explain the reason."
    card = (out / "card.md").read_text()
    assert f"{len(rows)} images kept of 90 scored" in card
    assert "| threshold |" in card and "ClueWorld" in card
    assert any(m.startswith("excluded at threshold (") for m in messages)


def test_bad_records_are_excluded_named_and_counted(world, tmp_path):
    w = _copy_world(world, tmp_path)
    meta = _rows(w / "world" / "metadata.csv")
    scores = _rows(w / "scores.csv")
    ids = [r["id"] for r in scores]
    (w / "world" / "streetview" / f"{ids[0]}.jpg").unlink()  # missing image
    meta[1]["latitude"] = "91"  # impossible coordinates
    meta[2]["longitude"] = "east"
    meta.append(dict(meta[3]))  # a duplicate id in the metadata
    del meta[4]  # an id absent from the metadata
    scores.append({"id": "ghost", "path": "world/streetview/ghost.jpg", "locatability": "0.5"})
    scores.append(dict(scores[5]))  # a duplicate id in the scores
    for path, table in ((w / "world" / "metadata.csv", meta), (w / "scores.csv", scores)):
        with path.open("w", newline="", encoding="utf-8-sig") as f:  # with a BOM, as Excel writes
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    messages = []
    result = curate(
        w / "scores.csv", w / "world" / "metadata.csv", tmp_path / "out", log=messages.append, progress=False
    )
    reasons = {e.id: e.reason for e in result.excluded if e.step == "input"}
    assert reasons[ids[0]].startswith("missing image")
    assert "latitude 91.0 is outside [-90, 90]" in reasons[ids[1]]
    assert "expected a number, got 'east'" in reasons[ids[2]]
    assert "duplicate id" in reasons[ids[3]] and "duplicate id in scores.csv" in reasons[ids[5]]
    assert reasons[ids[4]] == "id absent from metadata.csv"
    assert reasons["ghost"] == "id absent from metadata.csv"
    kept = {c.id for c in result.candidates}
    assert not kept & {ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], "ghost"}
    log = next(m for m in messages if m.startswith("excluded at input (8)"))
    assert log.endswith("and 3 more")  # the first few by name, then a count (both rows of the doubled id)
    card = (tmp_path / "out" / "card.md").read_text()
    assert "| input | 8 |" in card
    excluded = _rows(tmp_path / "out" / "excluded.csv")
    assert {r["id"] for r in excluded if r["step"] == "input"} == set(reasons)


@pytest.mark.parametrize(
    ("scores_text", "message"),
    [
        ("id,path\na,x.jpg\n", "missing column"),
        (
            "id,path,locatability\na,x.jpg,high\n",
            r"record row 2, field 'locatability': expected a locatability",
        ),
        ("id,path,locatability\na,x.jpg,0.5,extra\n", r"record row 2: 4 values for 3 columns"),
        ("id,path,locatability\na,x.jpg,1.5\n", r"row 2, field 'locatability'"),
    ],
)
def test_malformed_scores_name_file_row_and_column(world, tmp_path, scores_text, message):
    scores = tmp_path / "scores.csv"
    scores.write_text(scores_text)
    with pytest.raises(DataError, match=message) as err:
        curate(scores, world / "world" / "metadata.csv", tmp_path / "out", progress=False)
    assert "scores.csv" in str(err.value)
    assert not (tmp_path / "out" / "splits.csv").exists()


def test_an_interrupted_run_leaves_no_half_written_file(world, tmp_path, monkeypatch):
    import geolib.curation.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_sft_files", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        curate(
            world / "scores.csv", world / "world" / "metadata.csv", out, progress=False, duplicate_cosine=None
        )
    assert sorted(p.name for p in out.iterdir()) == ["splits.csv"]  # complete files only, no temp files
    assert len(_rows(out / "splits.csv")) > 40


def test_ablation_compares_equal_sized_sets_over_seeds(world):
    import json

    from geolib.world.baseline import pixel_features

    records = [json.loads(line) for line in (world / "world" / "samples.jsonl").read_text().splitlines()]
    scores = {r["id"]: float(r["locatability"]) for r in _rows(world / "scores.csv")}
    images = [Image.open(world / "world" / "streetview" / f"{r['id']}.jpg") for r in records]
    runs, summary = curation_ablation(
        pixel_features(images),
        [r["country"] for r in records],
        [scores[r["id"]] for r in records],
        [r["latitude"] for r in records],
        [r["longitude"] for r in records],
        seeds=(0, 1),
    )
    assert len(runs) == 4 and runs.groupby("training set")["images"].nunique().tolist() == [1, 1]
    assert runs["images"].nunique() == 1
    assert (
        summary.loc["curated", ("mean locatability", "mean")]
        > summary.loc["random", ("mean locatability", "mean")]
    )
    assert ((runs["held-out, all"] >= 0) & (runs["held-out, all"] <= 1)).all()


# ----------------------------------------------------------------------------- the command


def _geolib(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "geolib", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_command_curates_and_reports(world, tmp_path):
    result = _geolib(
        "curate",
        "--scores",
        "scores.csv",
        "--meta",
        "world/metadata.csv",
        "--out",
        tmp_path / "c",
        "--max-per-country",
        "2",
        "--no-image-duplicates",
        cwd=world,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kept ") and "card.md" in result.stdout
    rows = _rows(tmp_path / "c" / "splits.csv")
    countries = [r["country"] for r in rows]
    assert max(countries.count(c) for c in set(countries)) == 2


def _curate_command(world, out, *extra, scores=None, meta=None):
    scores = world / "scores.csv" if scores is None else scores
    meta = world / "world" / "metadata.csv" if meta is None else meta
    return _geolib("curate", "--scores", scores, "--meta", meta, "--out", out, *extra)


def _one_line_error(result, needle: str) -> bool:
    return (
        result.returncode == 2
        and "Traceback" not in result.stderr
        and result.stderr.count("\n") == 1
        and result.stderr.startswith("geolib curate: error: ")
        and re.search(needle, result.stderr) is not None
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "1.5"], r"threshold must be in \[0, 1\], got 1.5"),
        (["--max-per-country", "0"], "max per country must be a positive integer"),
        (["--min-distance-km", "-1"], "min distance must be a non-negative number"),
        (["--min-distance-km", "inf"], "min distance must be a non-negative number of km below 1000"),
        (["--duplicate-metres", "nan"], "duplicate distance must be between 0 and 1000 metres, got nan"),
        (["--split", "0.5,0.6,0.1"], "summing to 1"),
        (["--split", "a,b"], "--split takes train,val,test fractions"),
        (["--duplicate-cosine", "0"], r"duplicate cosine must be in \(0, 1\]"),
        (["--seed", "-2"], "seed must be a non-negative integer"),
    ],
)
def test_command_refuses_impossible_arguments_in_one_line(world, tmp_path, extra, message):
    result = _curate_command(world, tmp_path / "c", *extra)
    assert _one_line_error(result, message), result.stderr


def test_command_names_missing_inputs_and_unwritable_outputs(world, tmp_path, unwritable_dir):
    assert _one_line_error(
        _curate_command(world, tmp_path / "c", scores=tmp_path / "nope.csv"), "nope.csv does not exist"
    )
    assert _one_line_error(_curate_command(world, tmp_path / "c", scores=world), "is a folder")
    (tmp_path / "file").write_text("x")
    assert _one_line_error(_curate_command(world, tmp_path / "file"), "cannot write")
    assert _one_line_error(_curate_command(world, unwritable_dir / "c"), "cannot write")

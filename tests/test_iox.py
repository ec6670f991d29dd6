import os
import re
import stat

import pytest

from geolib import DataError, GeolibError
from geolib.iox import atomic_dir, atomic_path, check_writable, make_dir, write_json, write_text


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


def _device(path):
    """A character device like /dev/null, made in the test's own directory (never touch the real one)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError:
        pytest.skip("cannot create a device node here (needs root)")
    return path


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo", "device"])
def test_atomic_path_replaces_only_regular_files(tmp_path, kind):
    kept = tmp_path / "kept.txt"
    kept.write_text("precious")
    target = tmp_path / "target"
    if kind == "symlink":
        target.symlink_to(kept)
    elif kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        _device(target)
    before = os.lstat(target)
    expected = {
        "symlink": "a symbolic link",
        "directory": "a directory",
        "fifo": "a FIFO",
        "device": "a device",
    }
    with pytest.raises(
        GeolibError, match=re.escape(f"cannot write {target}: it is {expected[kind]}, not a regular file")
    ):
        write_text(target, "new")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert kept.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt", "target"], "no temporary file left"


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_atomic_dir_replaces_only_directories(tmp_path, kind):
    real = tmp_path / "real"
    real.mkdir()
    (real / "weights.bin").write_text("w")
    target = tmp_path / "model"
    if kind == "symlink":
        target.symlink_to(real)
    else:
        target.write_text("not a model")
    what = "a symbolic link" if kind == "symlink" else "a regular file"
    with (
        pytest.raises(GeolibError, match=re.escape(f"cannot write {target}: it is {what}, not a directory")),
        atomic_dir(target) as tmp,
    ):
        (tmp / "new.bin").write_text("new")
    assert sorted(p.name for p in real.iterdir()) == ["weights.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "real"], "no temporary directory left"
    assert target.is_symlink() if kind == "symlink" else target.read_text() == "not a model"


def test_atomic_dir_never_replaces_a_parent(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "keep.txt").write_text("keep")
    with pytest.raises(GeolibError, match="does not end in a file name"), atomic_dir(tmp_path / "a" / ".."):
        pass
    assert (tmp_path / "keep.txt").read_text() == "keep"


def test_write_under_a_regular_file_names_it(tmp_path):
    (tmp_path / "notes").write_text("a file")
    target = tmp_path / "notes" / "sub" / "out.json"
    with pytest.raises(
        GeolibError, match=re.escape(f"cannot write {target}: {tmp_path / 'notes'} is a regular file")
    ):
        write_json(target, {})
    with pytest.raises(
        GeolibError,
        match=re.escape(f"cannot write {tmp_path / 'notes'}: {tmp_path / 'notes'} is a regular file"),
    ):
        make_dir(tmp_path / "notes")


def test_write_in_an_unwritable_directory(unwritable_dir):
    for target in (unwritable_dir / "out.json", unwritable_dir / "deeper" / "out.json"):
        with pytest.raises(GeolibError, match="^" + re.escape(f"cannot write {target}: ")):
            write_json(target, {"n": 1})
    with (
        pytest.raises(GeolibError, match="^" + re.escape(f"cannot write {unwritable_dir / 'model'}: ")),
        atomic_dir(unwritable_dir / "model"),
    ):
        pass


def test_check_writable_answers_before_any_work(tmp_path):
    target = check_writable(tmp_path / "new" / "out.json")
    assert target.parent.is_dir() and not target.exists()
    assert list(target.parent.iterdir()) == [], "the probe file is removed"
    (tmp_path / "plain").write_text("x")
    with pytest.raises(GeolibError, match="plain is a regular file, not a directory"):
        check_writable(tmp_path / "plain" / "out.json")
    with pytest.raises(GeolibError, match="it is a directory, not a regular file"):
        check_writable(tmp_path / "new")

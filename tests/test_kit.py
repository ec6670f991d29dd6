"""The workshop kit: everything the tiny course builds, packed on one machine and unpacked on another.

The round trip packs the course's real cached assets (built once by ``make test``'s ``geolib course
--prepare``), unpacks them into an empty data directory and checks that every asset is then found ready,
with byte-identical files. Damaged, foreign and mismatched kits are refused with one clear line.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from geolib import kit, profiles
from geolib.errors import GeolibError


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, dict, Path]:
    """The course's kit, packed from the shared data directory (which is also returned)."""
    out = tmp_path_factory.mktemp("kit") / "course-kit.tar"
    manifest = kit.pack(out, jobs=2, progress=False)
    return out, manifest, profiles.default_data_dir()


def _all_ready() -> dict[str, bool]:
    return {name: kit.asset_ready(name) for chain in kit.asset_chains() for name in chain}


def test_pack_lists_every_cache_folder_with_sizes_and_checksums(packed):
    out, manifest, source = packed
    assert manifest["folders"] == kit.cache_folders()
    assert manifest["profile"] == "tiny" and manifest["kit_format"] == kit.KIT_FORMAT
    assert manifest["libraries"]["torch"] and manifest["libraries"]["transformers"]
    assert kit.read_manifest(out) == manifest  # the manifest is the archive's first member
    names = set(manifest["files"])
    for folder in manifest["folders"]:
        assert any(name.startswith(folder + "/") for name in names), folder
    assert not any(
        "/checkpoint/" in name or "/checkpoints/" in name for name in names
    )  # resume state stays home
    assert not any(name.endswith(".lock") for name in names)
    assert set(manifest["extras"]) <= set(kit.GENERATED_DATA)
    for folder in kit.GENERATED_DATA:  # generated ClueWorld data comes along when it exists
        assert (folder in manifest["extras"]) == (source / folder).is_dir()
    name, (size, digest) = next(iter(manifest["files"].items()))
    assert len(digest) == 64 and size == (source / name).stat().st_size


def test_unpack_on_a_fresh_data_directory_makes_every_asset_ready(packed, tmp_data):
    out, manifest, source = packed
    assert not any(_all_ready().values())  # an empty data directory: every asset would be built
    outcome = kit.unpack(out, progress=False)
    assert outcome == {folder: "installed" for folder in manifest["folders"] + manifest["extras"]}
    assert all(_all_ready().values()), _all_ready()
    # the same files as on the machine that packed them, byte for byte
    sample = list(manifest["files"])[:: max(1, len(manifest["files"]) // 25)]
    assert all((tmp_data / name).read_bytes() == (source / name).read_bytes() for name in sample)
    builds = kit.build_course(jobs=1)
    assert not any(build.built for build in builds)
    again = kit.unpack(out, progress=False)  # a second unpack replaces caches, keeps generated data
    assert again == {folder: "replaced" for folder in manifest["folders"]} | {
        folder: "kept (already here)" for folder in manifest["extras"]
    }
    assert not list(tmp_data.glob(".kit-*"))  # no staging left behind


def _kit(path: Path, manifest: dict, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in [(kit.KIT_MANIFEST, json.dumps(manifest).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _small_manifest(files: dict[str, bytes]) -> dict:
    import hashlib

    return {
        "kit_format": kit.KIT_FORMAT,
        "profile": "tiny",
        "libraries": kit._libraries(),
        "folders": kit.cache_folders(),
        "files": {name: [len(data), hashlib.sha256(data).hexdigest()] for name, data in files.items()},
    }


def test_a_kit_made_with_other_library_versions_is_refused_naming_them(tmp_path, tmp_data):
    manifest = _small_manifest({})
    manifest["libraries"]["transformers"] = "4.0.0"
    manifest["folders"] = [folder.replace(folder[-12:], "0" * 12) for folder in manifest["folders"]]
    path = _kit(tmp_path / "old.tar", manifest, {})
    with pytest.raises(GeolibError, match=r"transformers 4\.0\.0 in the kit, [\d.]+ here"):
        kit.unpack(path, progress=False)
    assert not any(tmp_data.glob("models/*"))


def test_damaged_and_foreign_kits_are_refused_and_install_nothing(tmp_path, tmp_data):
    files = {
        f"{folder}/{name}": f"{name} of {folder}".encode() for folder in kit.cache_folders() for name in "ab"
    }
    manifest = _small_manifest(files)
    good = _kit(tmp_path / "good.tar", manifest, files)
    assert set(kit.unpack(good, progress=False).values()) == {"installed"}  # a consistent kit installs

    damaged = dict(files)
    first = next(iter(damaged))
    damaged[first] = b"flipped bits"
    with pytest.raises(GeolibError, match="does not match its checksum"):
        kit.unpack(_kit(tmp_path / "damaged.tar", manifest, damaged), progress=False)
    lacking = {name: data for name, data in files.items() if name != first}
    with pytest.raises(GeolibError, match="not in it"):
        kit.unpack(_kit(tmp_path / "lacking.tar", manifest, lacking), progress=False)
    extra = {**files, f"{kit.cache_folders()[0]}/stowaway.py": b"print('hi')"}
    with pytest.raises(GeolibError, match="not in its manifest"):
        kit.unpack(_kit(tmp_path / "extra.tar", manifest, extra), progress=False)
    escaping = {**files, "../../outside.txt": b"x"}
    with pytest.raises(GeolibError, match="cannot extract"):
        kit.unpack(_kit(tmp_path / "escape.tar", manifest, escaping), progress=False)
    assert not (tmp_path / "outside.txt").exists()

    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as archive:
        archive.add(__file__, arcname="test.py")
    with pytest.raises(GeolibError, match="not a geolib course kit"):
        kit.read_manifest(plain)
    (tmp_path / "notes.txt").write_text("not an archive")
    with pytest.raises(GeolibError, match="not a readable kit archive"):
        kit.read_manifest(tmp_path / "notes.txt")
    with pytest.raises(GeolibError, match="no such kit file"):
        kit.read_manifest(tmp_path / "missing.tar")
    with pytest.raises(GeolibError, match="not a file"):
        kit.read_manifest(tmp_path)
    for broken in ({**manifest, "files": {first: [1, "short"]}}, {**manifest, "folders": "models"}):
        with pytest.raises(GeolibError, match="has no valid"):
            kit.read_manifest(_kit(tmp_path / "broken.tar", broken, files))
    future = _kit(tmp_path / "future.tar", {**manifest, "kit_format": 99}, files)
    with pytest.raises(GeolibError, match="kit format 99"):
        kit.read_manifest(future)
    assert not list(tmp_data.glob(".kit-*"))


def test_course_command_errors_are_one_line(tmp_path, unwritable_dir):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "geolib", "course", *args], capture_output=True, text=True
        )

    for args, message in (
        (["--unpack", str(tmp_path / "missing.tar")], "no such kit file"),
        (["--pack", str(tmp_path)], "directory"),
        (["--pack", str(unwritable_dir / "kit.tar")], "cannot write"),
        (["--prepare", "--jobs", "0"], "--jobs must be a whole number"),
    ):
        result = run(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    both = run("--pack", "a.tar", "--unpack", "b.tar")
    assert both.returncode == 2 and "not allowed with" in both.stderr

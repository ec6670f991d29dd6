"""The ``geolib`` command as a careless user drives it: every mistake is one line on stderr, exit 2."""

import json
import os
import re
import subprocess
import sys

import pytest

from geolib import GeolibError, profiles
from geolib.cli import main
from geolib.world import generate, read_samples, write_world

SMALL = ["--size", "64", "--tile-size", "32", "--workers", "1"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *needles):
    """The error is exactly one line that names the command and contains every needle."""
    assert code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith("geolib ") and ": error: " in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    return err


@pytest.fixture
def scored(tmp_path):
    """A truth and a predictions file that score without trouble."""
    truth = tmp_path / "truth.csv"
    truth.write_text("id,latitude,longitude,country\na,48.85,2.35,FR\nb,52.52,13.40,DE\n")
    predictions = tmp_path / "pred.csv"
    predictions.write_text("id,country\na,France\nb,Spain\n")
    return ["evaluate", "--predictions", predictions, "--truth", truth]


def test_evaluate_writes_its_metrics(scored, tmp_path, capsys):
    code, out, err = run(capsys, *scored, "--out", tmp_path / "m" / "metrics.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["per_country"]["FR"]["n"] == 1 and f"wrote {tmp_path / 'm' / 'metrics.json'}" in out


@pytest.mark.parametrize("kind", ["directory", "under a file", "unwritable", "symlink", "fifo"])
def test_evaluate_out_that_cannot_be_written(scored, tmp_path, capsys, kind, request):
    (tmp_path / "notes.txt").write_text("keep")
    if kind == "directory":
        out, reason = tmp_path / "results", "it is a directory, not a regular file"
        out.mkdir()
    elif kind == "under a file":
        out, reason = tmp_path / "notes.txt" / "metrics.json", f"{tmp_path / 'notes.txt'} is a regular file"
    elif kind == "unwritable":
        out, reason = request.getfixturevalue("unwritable_dir") / "metrics.json", ""
    elif kind == "symlink":
        out, reason = tmp_path / "link.json", "it is a symbolic link"
        out.symlink_to(tmp_path / "notes.txt")
    else:
        out, reason = tmp_path / "pipe", "it is a FIFO"
        os.mkfifo(out)
    code, printed, err = run(capsys, *scored, "--out", out)
    one_line_error(code, err, f"cannot write {out}: {reason}")
    assert printed == "", "a bad --out is refused before any scoring"
    assert (tmp_path / "notes.txt").read_text() == "keep"
    assert not list(tmp_path.glob("**/.*.tmp")), "no temporary file left behind"


def test_out_paths_a_careless_user_types(scored, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *scored, "--out", "~/metrics.json")  # as in --out=~/x, where bash leaves ~
    assert code == 0, err
    assert (tmp_path / "home" / "metrics.json").is_file() and not (tmp_path / "~").exists()
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in scored] + ["--out", ""])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "geolib evaluate: error: argument --out: expected a path, got an empty string"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "63"], "size must be an integer of at least 64 pixels"),
        (["--size", "0"], "size must be an integer of at least 64"),
        (["--size", "-5"], "got -5"),
        (["--tile-size", "31"], "tile_size must be an integer of at least 32"),
        (["--seed", "-1"], "seed must be an integer of at least 0, got -1"),
        (["--mix", "rich=nan"], "the weight of rich must be a finite number, got nan"),
        (["--mix", "rich=inf,poor=1"], "the weight of rich must be a finite number, got inf"),
        (["--mix", "rich=-1,poor=2"], "the weight of rich must not be negative, got -1.0"),
        (["--mix", "rich=0,poor=0"], "at least one weight must be positive"),
        (["--mix", "rich=1,urban=1"], "unknown richness urban; use rich, medium, poor, closeup"),
        (["--mix", "rich"], "--mix expects name=weight pairs"),
        (["--workers", "0"], "workers must be an integer of at least 1, got 0"),
        (["--n", "0"], "n must be an integer of at least 1, got 0"),
    ],
)
def test_world_refuses_bad_arguments_before_writing_anything(tmp_path, capsys, args, message):
    out = tmp_path / "world"
    argv = ["world", "--n", "2", "--out", out, *SMALL, *args]  # argparse keeps the last --n / --workers
    code, _, err = run(capsys, *argv)
    one_line_error(code, err, message)
    assert not out.exists()


def test_python_callers_get_the_same_checks(tmp_path):
    with pytest.raises(GeolibError, match="size must be an integer of at least 64 pixels"):
        write_world(tmp_path / "w", 3, size=32, progress=False)
    with pytest.raises(GeolibError, match="the weight of poor must be a finite number"):
        write_world(tmp_path / "w", 3, mix={"poor": float("nan")}, progress=False)
    with pytest.raises(GeolibError, match="seed must be an integer of at least 0, got -2"):
        generate(3, seed=-2)  # on the call, not on the first sample
    with pytest.raises(GeolibError, match="workers must be an integer of at least 1"):
        generate(3, workers=0)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("kind", ["file", "under a file", "unwritable", "someone else's directory"])
def test_world_out_that_cannot_hold_a_world(tmp_path, capsys, kind, request):
    if kind == "file":
        out, reason = tmp_path / "notes.txt", f"{tmp_path / 'notes.txt'} is a regular file, not a directory"
        out.write_text("keep")
    elif kind == "under a file":
        (tmp_path / "notes.txt").write_text("keep")
        out, reason = tmp_path / "notes.txt" / "world", f"{tmp_path / 'notes.txt'} is a regular file"
    elif kind == "unwritable":
        out, reason = request.getfixturevalue("unwritable_dir") / "world", ""
    else:  # e.g. --out ~ or --out /: never spray a world into a directory that holds other things
        out, reason = tmp_path, "is not empty and holds no world.json"
        (tmp_path / "notes.txt").write_text("keep")
    code, _, err = run(capsys, "world", "--n", "2", "--out", out, *SMALL)
    one_line_error(code, err, str(out), reason)
    assert not (tmp_path / "streetview").exists() and not (tmp_path / "world.json").exists()


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    write_world(out, 3, seed=1, size=64, tile_size=32, workers=1, progress=False)
    return out


def test_corrupt_world_files_are_named_with_their_line(small_world, tmp_path, capsys):
    import shutil

    broken_settings = shutil.copytree(small_world, tmp_path / "a")
    (broken_settings / "world.json").write_text('{"version": 2,\n')
    code, _, err = run(capsys, "world", "--n", "3", "--seed", "1", "--out", broken_settings, *SMALL)
    one_line_error(code, err, f"{broken_settings / 'world.json'}: malformed JSON at line 2")

    broken_line = shutil.copytree(small_world, tmp_path / "b")
    lines = (broken_line / "samples.jsonl").read_text().splitlines(keepends=True)
    lines[1] = '{"index": 1, "id": \n'
    (broken_line / "samples.jsonl").write_text("".join(lines))
    code, _, err = run(capsys, "world", "--n", "3", "--seed", "1", "--out", broken_line, *SMALL)
    one_line_error(code, err, f"{broken_line / 'samples.jsonl'}, record line 2: malformed JSON")


def test_a_last_line_cut_inside_a_character_is_dropped(tmp_path):
    whole = json.dumps({"index": 0, "city": "Zürich"}, ensure_ascii=False) + "\n"
    cut = json.dumps({"index": 1, "city": "Zürich"}, ensure_ascii=False).encode()
    cut = cut[: cut.index("ü".encode()) + 1]  # the first byte of the two that make ü
    (tmp_path / "samples.jsonl").write_bytes(whole.encode() + cut)
    assert read_samples(tmp_path) == [{"index": 0, "city": "Zürich"}]


COMMANDS = {
    "doctor": ["doctor"],
    "models": ["models"],
    "world": ["world", "--n", "1", "--out", "{tmp}/world", *SMALL],
    "evaluate": ["evaluate", "--predictions", "{tmp}/p.csv", "--truth", "{tmp}/t.csv"],
    "course": ["course", "--out", "{tmp}/course", "00"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_profile_stops_every_command(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("GEOLIB_PROFILE", "ful")
    (tmp_path / "t.csv").write_text("id,latitude,longitude,country\na,48.85,2.35,FR\n")
    (tmp_path / "p.csv").write_text("id,country\na,France\n")
    code, out, err = run(capsys, *(arg.format(tmp=tmp_path) for arg in COMMANDS[command]))
    one_line_error(code, err, f"geolib {command}: error: GEOLIB_PROFILE='ful' is not a profile")
    assert out == "" and not (tmp_path / "world").exists() and not (tmp_path / "course").exists()


def test_profile_tolerates_spaces_and_capitals(monkeypatch, capsys):
    monkeypatch.setenv("GEOLIB_PROFILE", " FULL ")
    assert profiles.profile() == "full"
    code, out, _ = run(capsys, "models")
    assert code == 0 and "sentence-transformers/all-MiniLM-L6-v2" in out


@pytest.mark.parametrize("kind", ["file", "under a file", "unwritable"])
def test_a_data_directory_that_cannot_be_created(tmp_path, capsys, monkeypatch, kind, request):
    (tmp_path / "notes.txt").write_text("keep")
    if kind == "file":
        data = tmp_path / "notes.txt"
    elif kind == "under a file":
        data = tmp_path / "notes.txt" / "cache"
    else:
        data = request.getfixturevalue("unwritable_dir") / "cache"
    monkeypatch.setenv("GEOLIB_DATA", str(data))
    code, _, err = run(capsys, "models", "--build", "sentence-encoder")
    one_line_error(code, err, f"cannot write {data}: ", "set GEOLIB_DATA to a writable one")
    with pytest.raises(GeolibError, match=re.escape(f"cannot write {data}: ")):
        profiles.data_dir()
    code, out, err = run(capsys, "models")  # listing the registry needs no write access
    assert code == 0 and "sentence-encoder" in out, err


def test_course_checks_its_out_before_doing_any_work(tmp_path, capsys, monkeypatch):
    import geolib.kit

    def must_not_run(*args, **kwargs):
        raise AssertionError("the course started before its --out was checked")

    monkeypatch.setattr(geolib.kit, "build_course", must_not_run)
    (tmp_path / "notes.txt").write_text("keep")
    code, _, err = run(capsys, "course", "--out", tmp_path / "notes.txt", "00")
    one_line_error(
        code, err, f"cannot write {tmp_path / 'notes.txt'}: ", "is a regular file, not a directory"
    )


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    import geolib.world

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(geolib.world, "write_world", interrupted)
    code, _, err = run(capsys, "world", "--n", "5", "--out", tmp_path / "w")
    assert (code, err) == (130, "geolib world: interrupted; rerun to resume\n")


def test_a_closed_stdout_ends_quietly_with_141():
    """As `geolib models | head -1` when head has gone before geolib writes (deterministic: close first)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "geolib", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.close()  # the reader is gone before the child has finished importing
    err = child.stderr.read().decode()
    child.stderr.close()
    assert (child.wait(timeout=120), err) == (141, "")

"""``geolib segment`` and ``geolib locatability`` with the real tiny models on ClueWorld street views,
next to a corrupt JPEG, a text file named .png and an empty file."""

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from geolib.ade20k import class_names, short_name
from geolib.cli import main
from geolib.locatability import fractions_from_mask, locatability_from_fractions
from geolib.world import make_sample, write_world

N_GOOD = 4
BAD = {
    "broken.jpg": "cannot read the image",
    "notes.png": "is not an image PIL can read",
    "empty.jpg": "is an empty file, expected an image",
}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    """A folder of ClueWorld street views (in a subfolder too) and three files that are no images."""
    folder = tmp_path_factory.mktemp("views")
    (folder / "more").mkdir()
    for i in range(N_GOOD):
        sample = make_sample(7, i, size=96)
        sample.image.save(folder / ("more" if i == 3 else "") / f"{sample.id}.jpg", quality=92)
    whole = io.BytesIO()
    make_sample(7, 9, size=96).image.save(whole, format="JPEG")
    (folder / "broken.jpg").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])  # cut mid-scan
    (folder / "notes.png").write_text("not a picture\n")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def good_ids(views):
    """The ids of the readable views, in input order (sorted by path within the folder)."""
    paths = [p for p in views.rglob("*.jpg") if p.stem not in ("broken", "empty")]
    return [p.stem for p in sorted(paths, key=lambda p: p.relative_to(views).parts)]


@pytest.fixture(scope="module")
def segmented(views, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "run"
    code = main(["segment", str(views), "--out", str(out), "--batch-size", "3"])
    assert code == 0
    return out


def expect_bad_files_reported(err, skipped_csv, views):
    for name, reason in BAD.items():
        assert f"skipped {views / name}: {reason}" in err
    rows = read_csv(skipped_csv)
    assert rows[0] == ["path", "reason"]
    assert sorted(r[0] for r in rows[1:]) == sorted(str(views / name) for name in BAD)
    assert all(BAD[os.path.basename(path)] in reason for path, reason in rows[1:])


def test_segment_writes_masks_and_fractions_and_names_bad_files(views, tmp_path, capsys):
    out = tmp_path / "seg"
    code, printed, err = run(capsys, "segment", views, "--out", out, "--batch-size", 3)
    assert code == 0, err
    assert f"{N_GOOD} images in {out / 'fractions.csv'} ({N_GOOD} scored now" in printed
    assert "skipped 3" in printed
    expect_bad_files_reported(err, out / "skipped.csv", views)
    rows = read_csv(out / "fractions.csv")
    assert rows[0] == ["id", "path", *class_names()] and len(rows[0]) == 152
    assert [r[0] for r in rows[1:]] == good_ids(views)
    for row in rows[1:]:
        fractions = np.array(row[2:], dtype=float)
        assert fractions.sum() == pytest.approx(1.0, abs=1e-12)
        mask = np.asarray(Image.open(out / "masks" / f"{row[0]}.png"))
        assert mask.shape == (96, 96) and mask.dtype == np.uint8 and mask.max() <= 149
        assert Image.open(row[1]).size == (96, 96)
        np.testing.assert_allclose(fractions, fractions_from_mask(mask), atol=1e-15)
    # A tiny but real segmenter: most pixels of a ClueWorld view are classes it was trained on
    truth = make_sample(7, 0, size=96)
    mask = np.asarray(Image.open(out / "masks" / f"{truth.id}.png"))
    assert (mask == truth.mask).mean() > 0.5


def test_locatability_formula_is_the_weighted_sum_of_the_fractions(views, segmented, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code, printed, err = run(capsys, "locatability", views, "--out", out, "--method", "formula")
    assert code == 0, err
    expect_bad_files_reported(err, tmp_path / "scores.skipped.csv", views)
    rows = read_csv(out)
    assert rows[0] == ["id", "path", "locatability", "clue_pixel_share", "top_class"]
    fractions = {r[0]: np.array(r[2:], dtype=float) for r in read_csv(segmented / "fractions.csv")[1:]}
    for ident, _, score, share, top in rows[1:]:
        assert float(score) == pytest.approx(locatability_from_fractions(fractions[ident]), abs=1e-12)
        assert 0 < float(share) <= 1
        assert top in {short_name(k) for k in np.flatnonzero(fractions[ident])}
    assert len(rows) == N_GOOD + 1


def test_locatability_network_scores_like_the_net(views, tmp_path, capsys):
    from geolib.locatability.network import load_locatability_net

    out = tmp_path / "net.csv"
    code, printed, err = run(capsys, "locatability", views, "--out", out, "--method", "network")
    assert code == 0, err
    expect_bad_files_reported(err, tmp_path / "net.skipped.csv", views)
    rows = read_csv(out)
    assert rows[0] == ["id", "path", "locatability"]
    expected = load_locatability_net().predict([r[1] for r in rows[1:]], progress=False)
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], expected, atol=1e-6)


def test_segment_resumes_after_ctrl_c(views, segmented, tmp_path, capsys, monkeypatch):
    import geolib.segmentation as segmentation

    real = segmentation.load_segmenter
    calls = []

    def interrupted_on_second_batch(*args, **kwargs):
        segmenter = real(*args, **kwargs)
        segment = segmenter.segment

        def first_batch_only(images, **options):
            calls.append(len(images))
            if len(calls) == 2:
                raise KeyboardInterrupt  # what Ctrl-C raises in the middle of the second batch
            return segment(images, **options)

        monkeypatch.setattr(segmenter, "segment", first_batch_only)
        return segmenter

    monkeypatch.setattr(segmentation, "load_segmenter", interrupted_on_second_batch)
    out = tmp_path / "seg"
    code, printed, err = run(capsys, "segment", views, "--out", out, "--batch-size", 2)
    assert code == 130 and err.endswith("\ngeolib segment: interrupted; rerun to resume\n")  # after the bars
    assert not (out / "fractions.csv").exists()
    first = good_ids(views)[0]  # the first batch: broken.jpg (skipped) and the first view
    assert [p.name for p in (out / "masks").glob("*.png")] == [f"{first}.png"], "the first batch is kept"
    code, printed, err = run(capsys, "segment", views, "--out", out, "--batch-size", 2)
    assert code == 0, err
    assert f"({N_GOOD - 1} scored now, 1 kept from an earlier run); skipped 3" in printed
    assert (out / "fractions.csv").read_text() == (segmented / "fractions.csv").read_text()
    assert not (out / ".parts").exists()


def test_locatability_on_part_then_all_and_metadata_csv_with_bom(tmp_path, capsys):
    world = tmp_path / "world"
    write_world(world, 3, seed=3, size=64, tile_size=32, workers=1, progress=False)
    metadata = world / "metadata.csv"
    lines = metadata.read_text().splitlines()
    out = tmp_path / "scores.csv"  # first the first image alone, then the whole metadata.csv
    code, _, err = run(
        capsys, "locatability", world / "streetview" / f"{lines[1].split(',')[0]}.jpg", "--out", out
    )
    assert code == 0, err
    # saved again by a spreadsheet: a BOM and CRLF line ends
    metadata.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    code, printed, err = run(capsys, "locatability", metadata, "--out", out)
    assert code == 0, err
    assert "(2 scored now, 1 kept from an earlier run); skipped 0" in printed
    rows = read_csv(out)
    assert [r[0] for r in rows[1:]] == [line.split(",")[0] for line in lines[1:]]
    assert [r[1] for r in rows[1:]] == [str(world / "streetview" / f"{r[0]}.jpg") for r in rows[1:]]


@pytest.mark.parametrize(
    "inputs, out, needle",
    [
        (["{views}", "--batch-size", "0"], "new", "batch_size must be an integer of at least 1, got 0"),
        (["{tmp}/missing.jpg"], "new", "input {tmp}/missing.jpg does not exist"),
        (["{tmp}/empty-folder"], "new", "input {tmp}/empty-folder is a folder with no images"),
        (
            ["{views}"],
            "file.txt/x",
            "cannot write {tmp}/file.txt/x/fractions.csv: {tmp}/file.txt is a regular",
        ),
        (["{views}"], "theirs", "{tmp}/theirs is not empty and holds no settings.json"),
    ],
)
def test_segment_mistakes_are_one_line_errors_before_any_work(views, tmp_path, capsys, inputs, out, needle):
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "theirs" / "masks").mkdir(parents=True)
    argv = [a.format(tmp=tmp_path, views=views) for a in inputs]
    code, printed, err = run(capsys, "segment", *argv, "--out", tmp_path / out)
    assert code == 2 and err.count("\n") == 1 and err.startswith("geolib segment: error: "), err
    assert needle.format(tmp=tmp_path) in err
    assert printed == "" and not (tmp_path / "new" / "masks").exists()
    assert not list((tmp_path / "theirs").glob("*.json")), "someone else's folder is left alone"


def test_no_input_and_nothing_readable(tmp_path, capsys):
    code, _, err = run(capsys, "locatability", "--out", tmp_path / "s.csv")
    assert code == 2 and err == (
        "geolib locatability: error: no inputs: give image files, folders of images or a metadata.csv\n"
    )
    (tmp_path / "bad.png").write_text("text")
    code, printed, err = run(capsys, "locatability", tmp_path / "bad.png", "--out", tmp_path / "s.csv")
    assert code == 1 and "0 images in" in printed and f"skipped {tmp_path / 'bad.png'}" in err


def test_two_accelerate_processes_write_what_one_process_writes(views, tmp_path, capsys):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    code, _, err = run(
        capsys, "locatability", views, "--out", one, "--batch-size", 2
    )  # builds the model once
    assert code == 0, err
    # accelerate's --cpu starts a single process on one machine (without MPI); --multi_gpu starts two
    # through torchrun, and on this CPU-only run (GEOLIB_DEVICE=cpu) they split the work over the CPU
    env = {**os.environ, "GEOLIB_PROFILE": "tiny", "GEOLIB_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "geolib"]
    done = subprocess.run(
        [*launch, "locatability", str(views), "--out", str(two), "--batch-size", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(" images in ") == 1 and "; 2 processes" in done.stdout, done.stdout
    assert two.read_text() == one.read_text()
    assert (tmp_path / "two.skipped.csv").read_text() == (tmp_path / "one.skipped.csv").read_text()
    assert not (tmp_path / ".two.csv.parts").exists()

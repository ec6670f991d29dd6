"""The batch machinery (inputs, parts, resume, merge) with a plain pixel statistic as the score, so that
these tests need no model; the two commands with the real models are in test_commands_segment_locatability."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from geolib.batch import Output, collect_inputs, run_batch
from geolib.errors import DataError, GeolibError


def image(path, value=100, size=(8, 6)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


class Brightness:
    """Scores an image by its mean pixel value; counts what it was asked to score."""

    def __init__(self, interrupt_after=None):
        self.seen, self.interrupt_after = [], interrupt_after

    def __call__(self, device):
        return self.score

    def score(self, items, images):
        if self.interrupt_after is not None and len(self.seen) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.seen += [item.id for item in items]
        return [[repr(float(np.asarray(im).mean()))] for im in images]


def output_for(out):
    return Output(
        table=out,
        skipped=out.with_name("scores.skipped.csv"),
        settings=out.with_name("scores.settings.json"),
        parts=out.with_name(".scores.csv.parts"),
        columns=("brightness",),
    )


def run(inputs, out, scorer, *, settings=None, batch_size=2, exclude=()):
    return run_batch(
        collect_inputs(inputs, exclude=exclude),
        output_for(out),
        settings or {"command": "test"},
        scorer,
        batch_size=batch_size,
        desc="test",
        log=lambda message: None,
    )


# ----------------------------------------------------------------------------- inputs


def test_folders_are_read_recursively_sorted_and_by_suffix(tmp_path):
    for name in [
        "b.jpg",
        "a/z.PNG",
        "a.jpeg",
        "c.webp",
        ".hidden.jpg",
        ".cache/x.jpg",
        "notes.txt",
        "d.csv.tmp",
    ]:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"")
    found = collect_inputs([tmp_path / "in"])
    assert [(i.id, i.path.relative_to(tmp_path / "in").as_posix()) for i in found.items] == [
        ("z", "a/z.PNG"),
        ("a", "a.jpeg"),
        ("b", "b.jpg"),
        ("c", "c.webp"),
    ]
    assert found.skipped == []


def test_a_file_given_twice_is_scored_once_and_a_second_file_with_the_same_stem_is_skipped(tmp_path):
    first, other = image(tmp_path / "x" / "0001.jpg"), image(tmp_path / "y" / "0001.png")
    found = collect_inputs([first, tmp_path / "x", tmp_path / "x" / ".." / "x" / "0001.jpg", other])
    assert [(i.id, i.path) for i in found.items] == [("0001", first)]
    assert found.skipped == [
        (
            str(other),
            f"id '0001' is already used by {first}; give distinct ids with a metadata.csv "
            "that has id and path columns",
        )
    ]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: [], "no inputs: give image files, folders of images or a metadata.csv"),
        (lambda d: [d / "missing.jpg"], "input {d}/missing.jpg does not exist"),
        (lambda d: [d], "input {d} is a folder with no images (.jpg, .jpeg, .png"),
    ],
)
def test_impossible_inputs_are_one_line_errors(tmp_path, make, message):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(GeolibError) as err:
        collect_inputs(make(tmp_path))
    assert str(err.value).startswith(message.format(d=tmp_path))


def test_output_folder_is_not_an_input(tmp_path):
    image(tmp_path / "a.jpg")
    image(tmp_path / "out" / "masks" / "a.png")
    found = collect_inputs([tmp_path], exclude=[tmp_path / "out"])
    assert [i.path for i in found.items] == [tmp_path / "a.jpg"]


def test_metadata_csv_names_images_clueworld_and_osv5m_style(tmp_path):
    world = tmp_path / "world"
    image(world / "streetview" / "cw-1.jpg")
    image(world / "images" / "osv-2.png")
    (world / "metadata.csv").write_bytes(
        "\ufeffid,latitude,longitude\ncw-1,1,2\nosv-2,3,4\n\n,5,6\nmissing,7,8\na/b,9,9\n".encode()
    )
    found = collect_inputs([world / "metadata.csv"])
    assert [(i.id, i.path) for i in found.items] == [
        ("cw-1", world / "streetview" / "cw-1.jpg"),
        ("osv-2", world / "images" / "osv-2.png"),
    ]
    source = str(world / "metadata.csv")
    assert found.skipped == [
        (source, f"{source}, record row 5, field 'id': is empty"),
        (
            source,
            f"{source}, record row 6: no image for id 'missing': neither streetview/missing.jpg nor "
            f"images/missing.* exists in {world}",
        ),
        (
            source,
            f"{source}, record row 7, field 'id': id 'a/b' cannot be a file name (masks are saved as <id>.png)",
        ),
    ]


def test_metadata_csv_path_column(tmp_path):
    image(tmp_path / "pics" / "p.jpg")
    (tmp_path / "meta.csv").write_text("id,image\nfirst,pics/p.jpg\nsecond,\n")
    found = collect_inputs([tmp_path / "meta.csv"])
    assert [(i.id, i.path) for i in found.items] == [("first", tmp_path / "pics" / "p.jpg")]
    assert found.skipped[0][1].endswith("record row 3, field 'image': is empty, expected an image path")


def test_metadata_csv_without_id_column(tmp_path):
    (tmp_path / "meta.csv").write_text("name,path\nx,x.jpg\n")
    with pytest.raises(DataError, match=r"meta.csv: expected an 'id' column, found name, path"):
        collect_inputs([tmp_path / "meta.csv"])


# ----------------------------------------------------------------------------- running


def test_rows_in_input_order_and_bad_images_skipped_by_name(tmp_path):
    for i, value in enumerate([10, 20, 30]):
        image(tmp_path / "in" / f"img{i}.jpg", value=value)
    (tmp_path / "in" / "img1b.png").write_text("not a png")
    (tmp_path / "in" / "img2b.jpg").write_bytes(b"")
    out = tmp_path / "res" / "scores.csv"
    summary = run([tmp_path / "in"], out, Brightness())
    assert (summary.scored, summary.resumed, summary.skipped) == (3, 0, 2)
    rows = read_csv(out)
    assert rows[0] == ["id", "path", "brightness"]
    assert [r[0] for r in rows[1:]] == ["img0", "img1", "img2"]
    assert [round(float(r[2])) for r in rows[1:]] == [10, 20, 30]
    assert read_csv(out.with_name("scores.skipped.csv")) == [
        ["path", "reason"],
        [str(tmp_path / "in" / "img1b.png"), "is not an image PIL can read"],
        [str(tmp_path / "in" / "img2b.jpg"), "is an empty file, expected an image"],
    ]
    assert json.loads(out.with_name("scores.settings.json").read_text()) == {"command": "test"}
    assert not out.with_name(".scores.csv.parts").exists(), "parts are removed after the merge"


def test_an_interrupted_run_keeps_its_batches_and_the_rerun_scores_only_the_rest(tmp_path):
    for i in range(5):
        image(tmp_path / "in" / f"img{i}.jpg", value=10 * i)
    out = tmp_path / "scores.csv"
    with pytest.raises(KeyboardInterrupt):
        run([tmp_path / "in"], out, Brightness(interrupt_after=4))  # batches of 2: the third is cut
    parts = out.with_name(".scores.csv.parts")
    kept = read_csv(parts / "rows-0-of-1.csv")
    assert [r[0] for r in kept[1:]] == ["img0", "img1", "img2", "img3"]
    with open(parts / "rows-0-of-1.csv", "a") as file:
        file.write("img4,/half/a row")  # as if killed in the middle of a write
    again = Brightness()
    summary = run([tmp_path / "in"], out, again)
    assert again.seen == ["img4"]
    assert (summary.scored, summary.resumed) == (1, 4)
    assert [r[0] for r in read_csv(out)[1:]] == [f"img{i}" for i in range(5)]
    fresh = tmp_path / "fresh" / "scores.csv"
    run([tmp_path / "in"], fresh, Brightness())
    assert out.read_text() == fresh.read_text()


def test_parts_of_an_interrupted_run_with_more_processes_count_too(tmp_path):
    paths = [image(tmp_path / "in" / f"img{i}.jpg") for i in range(4)]
    out = tmp_path / "scores.csv"
    with pytest.raises(KeyboardInterrupt):
        run([tmp_path / "in"], out, Brightness(interrupt_after=0))
    parts = out.with_name(".scores.csv.parts")
    # what process 1 of 2 of an earlier `accelerate launch` left: its rows, and a skip that is now stale
    (parts / "rows-1-of-2.csv").write_text(
        f"id,path,brightness\nimg2,{paths[2]},42.0\nimg3,{paths[3]},43.0\n"
    )
    (parts / "skipped-1-of-2.csv").write_text(f"path,reason\n{paths[0]},stale\n")
    (parts / "skipped-1-of-1.csv").write_text(
        f"path,reason\n{paths[1]},stale\n"
    )  # as if left by a process that had no work this time
    again = Brightness()
    summary = run([tmp_path / "in"], out, again)
    assert again.seen == ["img0", "img1"] and (summary.scored, summary.resumed) == (2, 2)
    assert [r[2] for r in read_csv(out)[3:]] == ["42.0", "43.0"]
    assert read_csv(out.with_name("scores.skipped.csv")) == [["path", "reason"]]


def test_each_batch_is_on_disk_before_the_next_one_is_scored(tmp_path):
    """What a kill -9 leaves: every finished batch, because each is flushed before the next starts."""
    for i in range(5):
        image(tmp_path / "in" / f"img{i}.jpg")
    part = tmp_path / ".scores.csv.parts" / "rows-0-of-1.csv"
    on_disk = []

    class Peek(Brightness):
        def score(self, items, images):
            on_disk.append([row[0] for row in read_csv(part)[1:]])  # read by another file handle
            return super().score(items, images)

    run([tmp_path / "in"], tmp_path / "scores.csv", Peek())
    assert on_disk == [[], ["img0", "img1"], ["img0", "img1", "img2", "img3"]]


def test_rerun_with_more_images_scores_only_the_new_ones_and_retries_skipped(tmp_path):
    image(tmp_path / "in" / "a.jpg")
    (tmp_path / "in" / "b.jpg").write_bytes(b"\xff\xd8\xff broken")
    out = tmp_path / "scores.csv"
    assert run([tmp_path / "in"], out, Brightness()).skipped == 1
    image(tmp_path / "in" / "b.jpg")  # fixed
    image(tmp_path / "in" / "c.jpg")
    again = Brightness()
    summary = run([tmp_path / "in"], out, again)
    assert again.seen == ["b", "c"] and (summary.scored, summary.resumed, summary.skipped) == (2, 1, 0)
    assert read_csv(out.with_name("scores.skipped.csv")) == [["path", "reason"]]


def test_nothing_readable_is_zero_rows(tmp_path):
    (tmp_path / "bad.jpg").write_text("text")
    summary = run([tmp_path / "bad.jpg"], tmp_path / "scores.csv", Brightness())
    assert summary.rows == 0 and summary.skipped == 1
    assert read_csv(tmp_path / "scores.csv") == [["id", "path", "brightness"]]


def test_other_settings_or_someone_elses_file_are_refused_before_any_work(tmp_path):
    image(tmp_path / "a.jpg")
    out = tmp_path / "scores.csv"
    run([tmp_path / "a.jpg"], out, Brightness(), settings={"command": "test", "model": "one"})
    scorer = Brightness()
    with pytest.raises(GeolibError, match=r'made with \{"command": "test", "model": "one"\}, not .*"two"'):
        run([tmp_path / "a.jpg"], out, scorer, settings={"command": "test", "model": "two"})
    other = tmp_path / "theirs.csv"
    other.write_text("keep me\n")
    with pytest.raises(GeolibError, match="theirs.csv exists but theirs.settings.json does not"):
        run_batch(
            collect_inputs([tmp_path / "a.jpg"]),
            Output(
                other,
                tmp_path / "theirs.skipped.csv",
                tmp_path / "theirs.settings.json",
                tmp_path / ".p",
                ("x",),
            ),
            {},
            scorer,
            batch_size=1,
            desc="test",
        )
    assert other.read_text() == "keep me\n" and scorer.seen == []


def test_a_model_that_cannot_be_loaded_leaves_no_settings_behind(tmp_path):
    image(tmp_path / "a.jpg")
    out = tmp_path / "scores.csv"

    def missing(device):
        raise GeolibError("cannot load model 'x'")

    with pytest.raises(GeolibError, match="cannot load model 'x'"):
        run([tmp_path / "a.jpg"], out, missing, settings={"model": "x"})
    assert not out.with_name("scores.settings.json").exists()
    assert run([tmp_path / "a.jpg"], out, Brightness(), settings={"model": "y"}).rows == 1  # not refused


def test_batch_size_must_be_positive(tmp_path):
    image(tmp_path / "a.jpg")
    with pytest.raises(GeolibError, match="batch_size must be an integer of at least 1, got 0"):
        run([tmp_path / "a.jpg"], tmp_path / "scores.csv", Brightness(), batch_size=0)
    assert not (tmp_path / "scores.csv").exists()

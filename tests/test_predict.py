"""Inference (``geolib predict``), the report, the learner-vs-model round and the notebook-06 widgets.

The model is the course's stacked adapters, shared with test_lvlm_runs through the data cache."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from geolib.cli import main
from geolib.errors import GeolibError
from geolib.lvlm import runs

COLUMNS = ["id", "path", "answer", "country", "city", "reasons", "latitude", "longitude", "parsed"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def views():
    return runs.held_out("test", richness="rich")[:4]


@pytest.fixture(scope="module")
def predictor():
    from geolib.lvlm.predict import default_adapters, load_predictor

    return load_predictor(default_adapters(), device="cpu")


@pytest.fixture
def folder(tmp_path, views):
    """Four held-out views, a corrupt JPEG and a real photograph that is not from ClueWorld."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    folder = tmp_path / "views"
    folder.mkdir()
    for view in views:
        shutil.copy(view["path"], folder / f"{view['id']}.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(load_sample_image("china.jpg")).save(folder / "photo.jpg")
    return folder


def _truth(views, path: Path) -> Path:
    """The views' truth, and the photograph's: scikit-learn's china.jpg, the Summer Palace in Beijing."""
    import pandas as pd

    rows = [{k: v[k] for k in ("id", "latitude", "longitude", "country", "city")} for v in views]
    rows.append({"id": "photo", "latitude": 39.999, "longitude": 116.275, "country": "CN", "city": "Beijing"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_predict_a_folder_skips_the_corrupt_file_answers_the_rest_and_feeds_evaluate(
    capsys, folder, views, tmp_path
):
    out = tmp_path / "predictions.jsonl"
    code, printed, err = run(capsys, "predict", folder, "--out", out, "--batch-size", "3")
    assert code == 0, err
    assert "corrupt.jpg" in err and "5 images" in printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == sorted([v["id"] for v in views] + ["photo"])
    for record in records:
        assert list(record) == COLUMNS
        assert isinstance(record["answer"], str) and isinstance(record["parsed"], bool)
        if record["parsed"]:  # a place for every readable answer, on the globe
            assert (
                record["country"] and -90 <= record["latitude"] <= 90 and -180 <= record["longitude"] <= 180
            )
    clueworld = [r for r in records if r["id"] != "photo"]
    assert all(r["parsed"] and r["reasons"] for r in clueworld)  # the stacked adapters answer and explain
    skipped = (tmp_path / "predictions.skipped.csv").read_text()
    assert "corrupt.jpg" in skipped
    # the output is what `geolib evaluate` reads
    truth = _truth(views, tmp_path / "truth.csv")
    code, printed, err = run(capsys, "evaluate", "--predictions", out, "--truth", truth)
    assert code == 0 and "country" in printed and "5 samples" in printed, err


def test_an_interrupted_prediction_file_is_continued(capsys, folder, views, tmp_path):
    out = tmp_path / "p.jsonl"
    assert run(capsys, "predict", folder, "--out", out)[0] == 0
    lines = out.read_text().splitlines(keepends=True)
    # what an interrupted run leaves: two finished records in its part file and half of a third
    parts = tmp_path / ".p.jsonl.parts"
    parts.mkdir()
    (parts / "rows-0-of-1.jsonl").write_text("".join(lines[:2]) + lines[2][:30])
    out.unlink()
    code, printed, _ = run(capsys, "predict", folder, "--out", out)
    assert code == 0 and "3 scored now, 2 kept" in printed
    assert out.read_text().splitlines(keepends=True) == lines  # greedy answers: the same file


def test_two_adapter_directories_stack_as_the_stage2_directory_does(predictor, views):
    from geolib.lvlm.predict import answer_views, load_predictor

    stacked = load_predictor([runs.course_adapter("stage1"), runs.course_adapter("stage2")])
    images = [v["path"] for v in views]
    one = answer_views(*predictor, images, progress=False)
    two = answer_views(*stacked, images, progress=False)
    assert [r["answer"] for r in one] == [r["answer"] for r in two]
    base = answer_views(*load_predictor([]), images, progress=False)
    assert [r["answer"] for r in base] != [r["answer"] for r in one]


def test_sampled_answers_are_seeded(predictor, views):
    from geolib.lvlm.predict import answer_views

    images = [v["path"] for v in views]
    first = answer_views(*predictor, images, plan="stages", temperature=1.5, seed=3, progress=False)
    again = answer_views(*predictor, images, plan="stages", temperature=1.5, seed=3, progress=False)
    assert [r["answer"] for r in first] == [r["answer"] for r in again]
    with pytest.raises(GeolibError, match="temperature"):
        answer_views(*predictor, images, temperature=0, progress=False)
    with pytest.raises(GeolibError, match="paper, stages"):
        answer_views(*predictor, images, plan="poem", progress=False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "0"], "batch_size must be an integer of at least 1"),
        (["--temperature", "-1"], "temperature must be > 0"),
        (["--adapters", "nowhere"], "nowhere is not an adapter directory"),
        (["--adapters", "a", "b", "c"], "at most two adapter directories"),
        (["--prompt", "paper", "--temperature", "0"], "temperature must be > 0"),
    ],
)
def test_impossible_arguments_are_one_line_errors(capsys, folder, tmp_path, extra, message):
    code, _, err = run(capsys, "predict", folder, "--out", tmp_path / "p.jsonl", *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_an_unwritable_or_directory_output_is_refused(capsys, folder, tmp_path, unwritable_dir):
    code, _, err = run(capsys, "predict", folder, "--out", unwritable_dir / "p.jsonl")
    assert code == 2 and "p.jsonl" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "predict", folder, "--out", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_the_full_profile_asks_for_adapters(capsys, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOLIB_PROFILE", "full")
    code, _, err = run(capsys, "predict", folder, "--out", tmp_path / "p.jsonl")
    assert code == 2 and "the full profile needs --adapters" in err


# ----------------------------------------------------------------------------- the report


def test_the_report_is_self_contained_well_formed_html(capsys, folder, views, tmp_path):
    out = tmp_path / "p.jsonl"
    assert run(capsys, "predict", folder, "--out", out)[0] == 0
    truth = _truth(views, tmp_path / "truth.csv")
    page = tmp_path / "report.html"
    code, printed, err = run(capsys, "report", out, "--truth", truth, "--out", page, "--limit", "3")
    assert code == 0 and "wrote" in printed, err
    text = page.read_text(encoding="utf-8")
    root = ET.fromstring(text.split("\n", 1)[1])  # after the doctype: XHTML
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    images = root.findall(".//h:img", ns)
    assert images and all(img.get("src").startswith("data:image/") for img in images)
    assert not root.findall(".//h:script", ns) and not root.findall(".//h:link", ns)
    assert len(root.findall(".//h:div[@class='card']", ns)) == 3
    assert "GeoScore" in text and "precision" in text
    assert "photo" not in {c.find("h:div/h:b", ns).text for c in root.findall(".//h:div[@class='card']", ns)}


def test_report_errors_are_one_line(capsys, tmp_path, unwritable_dir, views):
    truth = _truth(views, tmp_path / "truth.csv")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": views[0]["id"], "answer": "{'country': 'France'}"}) + "\n")
    code, _, err = run(capsys, "report", predictions, "--truth", truth, "--out", unwritable_dir / "r.html")
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run(
        capsys, "report", predictions, "--truth", truth, "--out", tmp_path / "r.html", "--limit", "-1"
    )
    assert code == 2 and "--limit" in err
    code, _, err = run(
        capsys, "report", tmp_path / "missing.jsonl", "--truth", truth, "--out", tmp_path / "r.html"
    )
    assert code == 2 and "missing.jsonl" in err


# ----------------------------------------------------------------------------- the round and the widgets


def _game_views():
    paris = {"id": "p", "path": "", "country": "FR", "latitude": 48.86, "longitude": 2.35}
    tokyo = {"id": "t", "path": "", "country": "JP", "latitude": 35.68, "longitude": 139.69}
    answers = [
        {"country": "France", "latitude": 45.76, "longitude": 4.84, "reasons": "blue plates"},
        {"country": None, "latitude": None, "longitude": None, "reasons": None},
    ]
    return [paris, tokyo], answers


def test_the_round_scores_both_players_and_keeps_a_leaderboard():
    from geolib.game import GuessingGame

    views, answers = _game_views()
    game = GuessingGame(views, answers)
    first = game.guess("Germany")  # wrong country, placed inside Germany
    assert not first.you.correct and first.model.correct and first.winner == "model"
    assert 0 < first.you.points < first.model.points <= 5000
    second = game.guess("japan", 35.7, 139.7)  # right, and a pin within a few km
    assert second.you.correct and second.you.points > 4990 and second.you.km < 5
    assert second.model.points == 0 and second.model.km == float("inf")  # no answer, no points
    assert game.finished and game.current is None
    board = game.leaderboard()
    assert [row["player"] for row in board] == ["you", "model"]
    assert board[0]["points"] == first.you.points + second.you.points
    assert board[1]["right countries"] == 1
    with pytest.raises(GeolibError, match="game is over"):
        game.guess("France")


@pytest.mark.parametrize(
    ("guess", "message"),
    [
        (("Atlantis",), "unknown country"),
        (("France", 48.0, None), "both a latitude and a longitude"),
        (("France", 120.0, 2.0), "latitude"),
    ],
)
def test_impossible_guesses_are_refused(guess, message):
    from geolib.game import GuessingGame

    game = GuessingGame(*_game_views())
    with pytest.raises(GeolibError, match=message):
        game.guess(*guess)
    assert game.current["id"] == "p"  # a refused guess does not use up the round
    with pytest.raises(GeolibError, match="1 model answers for 2 views"):
        GuessingGame(_game_views()[0], _game_views()[1][:1])


def test_the_game_board_reacts_to_a_pick_a_click_and_the_button(views, predictor):
    from geolib.game import GuessingGame
    from geolib.lvlm.predict import answer_views
    from geolib.widgets import GameBoard

    chosen = views[:2]
    board = GameBoard(
        GuessingGame(chosen, answer_views(*predictor, [v["path"] for v in chosen], progress=False))
    )
    first_picture = board.picture.value
    assert first_picture and not board.result.value
    board.country.value = board.country.options[0]
    board.on_map(type="click", coordinates=[chosen[0]["latitude"], chosen[0]["longitude"] + 360])
    assert board.pin == pytest.approx((chosen[0]["latitude"], chosen[0]["longitude"]))
    board.button.click()
    assert "It was" in board.result.value and "points" in board.board.value
    assert board.picture.value != first_picture and board.pin is None
    assert board.game.results[0].you.km < 1  # the pin was on the truth
    board.button.click()
    assert "Game over" in board.board.value and board.button.disabled


def _upload(name: str, content: bytes) -> dict:
    """A file as ipywidgets' FileUpload holds it after the browser sent it."""
    import datetime

    when = datetime.datetime.now(datetime.timezone.utc)
    return {
        "name": name,
        "type": "image/png",
        "size": len(content),
        "content": memoryview(content),
        "last_modified": when,
    }


def test_the_reasoning_display_answers_the_picked_view_and_an_upload(views, predictor, tiny_segmenter):
    import io

    from PIL import Image

    from geolib.widgets import ReasoningDisplay

    display = ReasoningDisplay(views[:2], *predictor, segmenter=tiny_segmenter)
    first = (display.picture.value, display.answer.value)
    assert "<mark>" in display.answer.value and "GeoScore" in display.distance.value
    assert "locatability" in display.locatability.value and display.segmentation.value
    assert len(display.map.layers) == 5  # tiles, outlines, truth, guess and the line between them
    display.gallery.value = views[1]["id"]
    assert (display.picture.value, display.answer.value) != first
    assert display.record["country"]
    buffer = io.BytesIO()
    Image.open(views[0]["path"]).save(buffer, format="PNG")
    display.upload.value = (_upload("mine.png", buffer.getvalue()),)
    assert "no ground truth" in display.distance.value and len(display.map.layers) == 3
    display.upload.value = (_upload("bad.png", b"nope"),)
    assert "bad.png is not an image" in display.answer.value


def test_the_same_adapters_in_another_place_continue_a_file_and_other_adapters_do_not(
    capsys, folder, tmp_path
):
    """Settings name adapters by their weights, not their folder: a kit unpacked into another data directory
    continues the same file; adapters with other weights are refused."""
    import shutil

    from geolib.lvlm.predict import default_adapters

    stage2 = default_adapters()[-1]
    moved = tmp_path / "elsewhere" / stage2.name
    shutil.copytree(stage2, moved)
    out = tmp_path / "p.jsonl"
    assert run(capsys, "predict", folder, "--out", out, "--adapters", stage2)[0] == 0
    code, printed, _ = run(capsys, "predict", folder, "--out", out, "--adapters", moved)
    assert code == 0 and "0 scored now" in printed, printed
    weights = next(p for p in moved.iterdir() if p.suffix == ".safetensors")
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    code, _, err = run(capsys, "predict", folder, "--out", out, "--adapters", moved)
    assert code == 2 and "was made with" in err

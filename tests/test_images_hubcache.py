"""Image loading errors name the file; a local model directory installs as a hub snapshot."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from geolib import DataError, GeolibError
from geolib.hubcache import cached_snapshot, hub_cache_folder, install_in_hub_cache
from geolib.images import as_image, load_image


@pytest.fixture
def image_folder(tmp_path):
    good = tmp_path / "good.png"
    Image.effect_noise((64, 48), 60).convert("RGB").save(good)  # noise: the pixel data is most of the file
    Image.new("L", (8, 8), 128).save(tmp_path / "grey.png")
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:400])
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    return tmp_path


def test_load_image_gives_rgb(image_folder):
    image = load_image(image_folder / "grey.png")
    assert image.mode == "RGB" and image.size == (8, 8) and image.getpixel((0, 0)) == (128, 128, 128)
    assert as_image(Image.new("L", (3, 3))).mode == "RGB"


@pytest.mark.parametrize(
    "name, reason",
    [
        ("truncated.png", "cannot read the image"),
        ("text.png", "is not an image PIL can read"),
        ("empty.jpg", "is an empty file"),
        ("missing.png", "No such file or directory"),
        (".", "is a folder"),
    ],
)
def test_bad_images_are_data_errors_naming_the_file(image_folder, name, reason):
    with pytest.raises(DataError, match=reason) as caught:
        load_image(image_folder / name)
    assert str(image_folder / name) in str(caught.value) and "\n" not in str(caught.value)


def test_as_image_rejects_other_things():
    with pytest.raises(DataError, match="expected a PIL image or a path, got int"):
        as_image(3)


def test_installed_snapshot_loads_offline_by_hub_id(tmp_path):
    from transformers import BertConfig, BertModel

    local = tmp_path / "local"
    BertModel(
        BertConfig(
            vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
        )
    ).save_pretrained(local)
    cache = tmp_path / "hub"
    snapshot = install_in_hub_cache(local, "someone/tiny-bert", cache)
    assert snapshot.parent.parent == hub_cache_folder(cache, "someone/tiny-bert")
    assert (snapshot.parent.parent / "refs" / "main").read_text() == snapshot.name
    assert install_in_hub_cache(local, "someone/tiny-bert", cache) == snapshot  # reproducible commit
    code = (
        "import json; from transformers import BertModel; "
        "m = BertModel.from_pretrained('someone/tiny-bert'); print(json.dumps(m.config.hidden_size))"
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == 8


def test_hub_ids_and_empty_folders_are_checked(tmp_path):
    with pytest.raises(GeolibError, match="not a hub id"):
        hub_cache_folder(tmp_path, "no-owner")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeolibError, match="holds no files"):
        install_in_hub_cache(tmp_path / "empty", "a/b", tmp_path / "hub")


def test_cached_snapshot_finds_an_installed_repository_and_nothing_else(tmp_path):
    local = tmp_path / "model"
    local.mkdir()
    (local / "config.json").write_text("{}")
    cache = tmp_path / "hub"
    assert cached_snapshot("owner/model", cache) is None
    snapshot = install_in_hub_cache(local, "owner/model", cache)
    assert cached_snapshot("owner/model", cache) == snapshot
    assert cached_snapshot("owner/other", cache) is None
    # a ref whose snapshot is missing
    (hub_cache_folder(cache, "owner/model") / "refs" / "main").write_text("0" * 40)
    assert cached_snapshot("owner/model", cache) is None

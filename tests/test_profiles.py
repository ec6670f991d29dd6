import json
from pathlib import Path

import pytest
import torch

from geolib import GeolibError, profiles

BUILDS: list[int] = []


def build_tiny_bert(out_dir: Path, seed: int) -> None:
    """A real (tiny) transformers model, seeded, as a builder would write it."""
    from transformers import BertConfig, BertModel

    BUILDS.append(seed)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(out_dir)


def failing_builder(out_dir: Path, seed: int) -> None:
    (out_dir / "half-written.bin").write_bytes(b"x")
    raise RuntimeError("builder crashed")


@pytest.fixture
def tiny_bert(tmp_data):
    spec = profiles.register(
        profiles.ModelSpec(
            name="test-bert",
            hub_id="google-bert/bert-base-uncased",
            builder=build_tiny_bert,
            description="test model",
            seed=3,
        ),
        replace=True,
    )
    BUILDS.clear()
    yield spec
    profiles.unregister("test-bert")


def test_profile_defaults_to_tiny_and_rejects_unknown(monkeypatch):
    monkeypatch.delenv("GEOLIB_PROFILE", raising=False)
    assert profiles.profile() == "tiny"
    monkeypatch.setenv("GEOLIB_PROFILE", "FULL")
    assert profiles.profile() == "full"
    monkeypatch.setenv("GEOLIB_PROFILE", "huge")
    with pytest.raises(GeolibError, match="GEOLIB_PROFILE='huge'.*tiny, full"):
        profiles.profile()


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("GEOLIB_DATA", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    # installed from this checkout: data/cache of the repository
    assert profiles.data_dir() == profiles.source_checkout() / "data" / "cache"
    monkeypatch.setenv("GEOLIB_DATA", str(tmp_path / "mine"))
    assert profiles.data_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()


def test_colab_default_data_dir(monkeypatch):
    monkeypatch.delenv("GEOLIB_DATA", raising=False)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    assert profiles.default_data_dir() == Path("/content/geolib-data")


def test_device_cascade_and_override(monkeypatch):
    monkeypatch.delenv("GEOLIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert profiles.device().type in (expected, "mps")
    monkeypatch.setenv("GEOLIB_DEVICE", "cpu")
    assert profiles.device() == torch.device("cpu")
    monkeypatch.setenv("GEOLIB_DEVICE", "warp-drive")
    with pytest.raises(GeolibError, match="warp-drive"):
        profiles.device()


def test_resolve_full_is_hub_id_and_tiny_is_a_loadable_directory(tiny_bert):
    from transformers import AutoModel

    assert profiles.resolve("test-bert", "full") == "google-bert/bert-base-uncased"
    path = Path(profiles.resolve("test-bert", "tiny"))
    assert path.is_dir() and path.name.startswith("test-bert-")
    model = AutoModel.from_pretrained(path)
    assert type(model).__name__ == "BertModel" and model.config.hidden_size == 16
    manifest = json.loads((path / profiles.MANIFEST).read_text())
    assert manifest["seed"] == 3 and "transformers" in manifest["versions"]


def test_tiny_models_are_built_once_and_deterministic(tiny_bert):
    from safetensors.torch import load_file

    first = Path(profiles.resolve("test-bert"))
    weights = load_file(first / "model.safetensors")
    assert profiles.resolve("test-bert") == str(first)
    assert BUILDS == [3], "a cached tiny model must not be rebuilt"
    profiles.build_tiny("test-bert", force=True)
    assert BUILDS == [3, 3]
    rebuilt = load_file(first / "model.safetensors")
    assert all(torch.equal(weights[k], rebuilt[k]) for k in weights)


def test_cache_key_follows_library_versions(tiny_bert, monkeypatch):
    before = profiles.tiny_model_dir("test-bert")
    real = profiles.library_versions
    monkeypatch.setattr(profiles, "library_versions", lambda libs: {**real(libs), "transformers": "99.0"})
    after = profiles.tiny_model_dir("test-bert")
    assert before != after, "an upgraded library must lead to a rebuilt tiny model"


def test_failed_build_leaves_nothing_behind(tmp_data):
    profiles.register(profiles.ModelSpec("test-broken", "x/y", failing_builder, "broken"), replace=True)
    try:
        with pytest.raises(RuntimeError, match="builder crashed"):
            profiles.resolve("test-broken")
        assert not profiles.tiny_model_dir("test-broken").exists()
        assert not list(profiles.models_dir().glob(".test-broken*.tmp"))
    finally:
        profiles.unregister("test-broken")


def test_unknown_model_and_duplicate_registration(tiny_bert):
    with pytest.raises(GeolibError, match="unknown model 'nope'.*sentence-encoder"):
        profiles.resolve("nope")
    with pytest.raises(GeolibError, match="already registered"):
        profiles.register(tiny_bert)
    bad = profiles.ModelSpec("test-bad-import", "x/y", "geolib.nowhere:build", "bad")
    with pytest.raises(GeolibError, match="cannot import builder 'geolib.nowhere:build'"):
        bad.builder_function()


def test_builtin_sentence_encoder_is_the_real_minilm():
    from sentence_transformers import SentenceTransformer

    assert profiles.resolve("sentence-encoder", "full") == "sentence-transformers/all-MiniLM-L6-v2"
    encoder = SentenceTransformer(profiles.resolve("sentence-encoder"), device="cpu")
    vectors = encoder.encode(
        ["a yellow centre line", "yellow road markings", "a snowy mountain"], normalize_embeddings=True
    )
    assert vectors.shape == (3, 384)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert related > unrelated + 0.2


def test_build_many_checks_jobs_and_names_before_building(tmp_data):
    from geolib.errors import GeolibError
    from geolib.profiles import build_many

    with pytest.raises(GeolibError, match="--jobs must be a whole number"):
        list(build_many(["sentence-encoder"], jobs=0))
    with pytest.raises(GeolibError):
        list(build_many(["sentence-encoder", "no-such-model"], jobs=2))
    assert not (tmp_data / "models").exists() or not any((tmp_data / "models").glob("sentence-encoder-*"))
    built = dict(build_many(["sentence-encoder"], jobs=2))  # one name: built here, no worker processes
    assert (built["sentence-encoder"] / "geolib-model.json").is_file()

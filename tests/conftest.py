import os

import pytest

# Tests never reach a model hub, and always run the tiny profile unless a test says otherwise.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["GEOLIB_PROFILE"] = "tiny"


@pytest.fixture
def tmp_data(tmp_path, monkeypatch):
    """A private GEOLIB_DATA directory for tests that build or write cached artifacts."""
    monkeypatch.setenv("GEOLIB_DATA", str(tmp_path / "geolib-data"))
    return tmp_path / "geolib-data"

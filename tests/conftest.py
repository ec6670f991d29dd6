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


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory in which no file can be created, by this user.

    chmod 0o500 stops anyone but root; the tests may run as root, so then use sysfs, where the
    kernel itself refuses new files (EACCES / EPERM, or EROFS where /sys is mounted read-only).
    """
    import tempfile
    from pathlib import Path

    if os.geteuid() != 0:
        locked = tmp_path / "read-only"
        locked.mkdir(mode=0o500)
        yield locked
        locked.chmod(0o700)
        return
    candidate = Path("/sys/kernel")
    if not candidate.is_dir():
        pytest.skip("running as root without /sys: no unwritable directory to test with")
    try:
        fd, probe = tempfile.mkstemp(dir=candidate)
    except OSError:
        yield candidate
        return
    os.close(fd)
    os.unlink(probe)
    pytest.skip(f"running as root and {candidate} is writable: no unwritable directory to test with")


@pytest.fixture(scope="session")
def tiny_segmenter():
    """The tiny profile's segmenter on the CPU, built once into the shared model cache (a few minutes
    on 2 cores from an empty cache), then loaded once per test session."""
    from geolib.segmentation import load_segmenter

    return load_segmenter(device="cpu")


@pytest.fixture(scope="session")
def two_processes() -> list[str]:
    """The command prefix that starts two processes under ``accelerate launch``. accelerate's ``--cpu`` alone
    starts one process on one machine; ``--multi_gpu`` starts two through torchrun, which on a CPU-only
    machine communicate over gloo."""
    import sys

    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]


@pytest.fixture(scope="session")
def one_and_two_processes(two_processes):
    """Runs ``geolib ARGS --out DIR/one`` in one process and ``--out DIR/two`` under ``accelerate launch`` with
    two, offline and on the CPU; returns the two output folders (each run must succeed)."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "GEOLIB_PROFILE": "tiny",
        "GEOLIB_DEVICE": "cpu",
    }

    def run(args: list[str], folder):
        outputs = []
        for name, prefix in (("one", [sys.executable]), ("two", two_processes)):
            out = folder / name
            command = [*prefix, "-m", "geolib", *args, "--out", str(out)]
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, result.stderr[-3000:]
            outputs.append(out)
        return outputs

    return run

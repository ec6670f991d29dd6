"""Put a local model directory into a Hugging Face cache under a hub id, as a download would.

The full profile loads hub checkpoints (``from_pretrained("facebook/maskformer-swin-small-ade")``).
Nothing can be downloaded offline, so tests save a *tiny* model of the same class under the real id
into a throw-away cache and run the full profile's own loading code against it with
``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE`` pointing there.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from geolib.errors import GeolibError


def hub_cache_folder(cache_dir: str | Path, repo_id: str) -> Path:
    """``<cache>/models--owner--name``, the folder huggingface_hub keeps a model repository in."""
    if repo_id.count("/") != 1 or any(not part for part in repo_id.split("/")):
        raise GeolibError(f"{repo_id!r} is not a hub id of the form 'owner/name'")
    return Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"


def install_in_hub_cache(local_dir: str | Path, repo_id: str, cache_dir: str | Path) -> Path:
    """Copy the files of ``local_dir`` into ``cache_dir`` as the ``main`` revision of ``repo_id``;
    returns the snapshot directory. The commit name is a hash of the contents, so it is reproducible."""
    local_dir = Path(local_dir)
    files = sorted(p for p in local_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise GeolibError(f"{local_dir} holds no files to install as {repo_id}")
    digest = hashlib.sha1()
    for path in files:
        digest.update(str(path.relative_to(local_dir)).encode())
        digest.update(path.read_bytes())
    commit = digest.hexdigest()
    folder = hub_cache_folder(cache_dir, repo_id)
    snapshot = folder / "snapshots" / commit
    for path in files:
        target = snapshot / path.relative_to(local_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return snapshot


def default_hub_cache() -> Path:
    """The Hugging Face cache that downloads go to (``HF_HUB_CACHE``, ``HF_HOME``/hub, ``~/.cache/...``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_snapshot(repo_id: str, cache_dir: str | Path | None = None) -> Path | None:
    """The snapshot of ``repo_id``'s ``main`` revision in the cache, if one was downloaded (or installed)."""
    folder = hub_cache_folder(cache_dir or default_hub_cache(), repo_id)
    try:
        commit = (folder / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = folder / "snapshots" / commit
    return snapshot if snapshot.is_dir() and any(snapshot.iterdir()) else None

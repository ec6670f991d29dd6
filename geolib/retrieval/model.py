"""The dual encoder: an open_clip CLIP, the registry's ``retrieval`` model.

* Full: CLIP ViT-L/14 at 336 px, OpenAI's weights, as CrossText2Loc (``timm/vit_large_patch14_clip_336.openai``
  on the hub, in open_clip's layout; any open_clip model by name or folder).
* Tiny: a CLIP of the same class (a 2-layer ViT on 64 px tiles with 8 px patches, a 2-layer text transformer
  of width 64, 77 positions) with the real CLIP tokenizer and vocabulary that open_clip ships, trained from
  scratch by :func:`build_tiny_retrieval` on ClueWorld tiles and their descriptions, as CLIP's pretraining
  stands behind the full model.

A saved model is a folder in open_clip's layout (``open_clip_config.json``, ``open_clip_model.safetensors``),
so that ``open_clip.create_model("local-dir:...")`` reads it, plus ``retrieval.json`` (the long-text method and
the training record).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path

from geolib.errors import GeolibError
from geolib.profiles import logging_disabled

OPEN_CLIP_CONFIG = "open_clip_config.json"
WEIGHTS = "open_clip_model.safetensors"
RECORD = "retrieval.json"
# Small enough that a 300-position text tower trains at a few steps per second on 2 CPU cores: the text
# tower costs most (300 tokens against the tile's 64 patches).
TINY_MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {
        "image_size": 64,
        "patch_size": 8,
        "width": 96,
        "layers": 2,
        "head_width": 32,
        "mlp_ratio": 2.0,
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 64,
        "heads": 2,
        "layers": 2,
        "mlp_ratio": 2.0,
    },
}
TINY_PREPROCESS = {"size": 64, "interpolation": "bilinear", "resize_mode": "shortest"}
# the tiny "pretraining": fixed sizes, steps and seeds (never a wall-clock budget)
TINY_RECIPE = {"world_seed": 3000, "views": 2000, "tile_size": 64, "steps": 300, "batch_size": 64, "lr": 2e-3}


def _source(name: str | Path) -> str:
    text = str(name)
    if text.startswith(("hf-hub:", "local-dir:")):
        return text
    return f"local-dir:{text}" if Path(text).is_dir() else f"hf-hub:{text}"


@dataclass
class DualEncoder:
    """An open_clip CLIP with its evaluation preprocessing and its open_clip config (``model_cfg``)."""

    model: object
    preprocess: object
    config: dict
    record: dict = field(default_factory=dict)  # retrieval.json of a saved model: long-text method, training

    @property
    def context_length(self) -> int:
        return int(self.model.positional_embedding.shape[0])

    def tokenizer(self):
        from geolib.retrieval.longtext import tokenizer_for

        return tokenizer_for(self.context_length)


def _config_of(source: str) -> dict:
    from geolib.formats.validate import read_json_file

    if source.startswith("local-dir:"):
        path = Path(source.removeprefix("local-dir:")) / OPEN_CLIP_CONFIG
    else:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(source.removeprefix("hf-hub:"), OPEN_CLIP_CONFIG)
    return read_json_file(path)["model_cfg"]


def load_retrieval_model(name: str | Path | None = None, *, device=None) -> DualEncoder:
    """The registry's ``retrieval`` model for the profile (or ``name``: a folder, a hub id in open_clip's
    layout, ``hf-hub:`` / ``local-dir:``), in evaluation mode, with the text positions it was saved with."""
    import open_clip

    from geolib import profiles
    from geolib.formats.validate import read_json_file

    source = _source(name or profiles.resolve("retrieval"))
    try:
        with logging_disabled(logging.WARNING):  # "initialized randomly" before geolib loads weights
            model, _, preprocess = open_clip.create_model_and_transforms(source)
        config = _config_of(source)
    except (RuntimeError, ValueError, KeyError, FileNotFoundError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GeolibError(f"cannot load the retrieval model {source}: {reason}") from None
    record_path = Path(source.removeprefix("local-dir:")) / RECORD
    record = read_json_file(record_path) if source.startswith("local-dir:") and record_path.is_file() else {}
    return DualEncoder(model.to(profiles.device(device)).eval(), preprocess, config, record)


def new_model(model_cfg: dict | None = None, *, seed: int = 0) -> DualEncoder:
    """A randomly initialised (seeded) open_clip CLIP of ``model_cfg`` (default: the tiny one)."""
    import tempfile

    import open_clip
    import torch

    from geolib.iox import write_json

    config = model_cfg or TINY_MODEL_CFG
    with tempfile.TemporaryDirectory() as folder, torch.random.fork_rng(devices=[]):
        write_json(Path(folder) / OPEN_CLIP_CONFIG, {"model_cfg": config, "preprocess_cfg": TINY_PREPROCESS})
        torch.manual_seed(seed)
        with logging_disabled(logging.WARNING):  # "initialized randomly" before geolib loads weights
            model, _, preprocess = open_clip.create_model_and_transforms(
                f"local-dir:{folder}", load_weights=False
            )
    return DualEncoder(model, preprocess, copy.deepcopy(config))


def save_model(encoder: DualEncoder, folder, record: dict | None = None) -> Path:
    """Write the encoder in open_clip's layout to ``folder`` atomically, ``record`` as ``retrieval.json``."""
    import open_clip
    from safetensors.torch import save_file

    from geolib.iox import atomic_dir, write_json

    config = copy.deepcopy(encoder.config)
    config["text_cfg"]["context_length"] = encoder.context_length  # a stretch changes it
    preprocess = open_clip.get_model_preprocess_cfg(encoder.model)
    preprocess = {k: list(v) if isinstance(v, tuple) else v for k, v in preprocess.items()}
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.model.state_dict().items()}
    with atomic_dir(folder) as tmp:
        save_file(state, tmp / WEIGHTS)
        write_json(tmp / OPEN_CLIP_CONFIG, {"model_cfg": config, "preprocess_cfg": preprocess})
        write_json(tmp / RECORD, record if record is not None else encoder.record)
    return Path(folder)


def build_tiny_retrieval(out_dir: Path, seed: int) -> None:
    """Registry builder: a tiny CLIP trained from scratch, at 77 text positions, on the satellite and OSM
    tiles of a ClueWorld of its own and their descriptions (its "pretraining"; the course then fine-tunes it
    with longer texts on other views)."""
    import torch
    from tqdm.auto import trange

    from geolib.retrieval.loss import contrastive_loss
    from geolib.retrieval.train import RetrievalRecipe
    from geolib.training import epoch_order, make_optimizer
    from geolib.world import generate

    r = TINY_RECIPE
    samples = list(
        generate(r["views"], seed=r["world_seed"] + seed, size=64, tile_size=r["tile_size"], progress=False)
    )
    encoder = new_model(seed=seed)
    model = encoder.model
    texts = encoder.tokenizer()([s.description for s in samples] * 2)
    tiles = torch.stack(
        [encoder.preprocess(s.satellite) for s in samples] + [encoder.preprocess(s.osm) for s in samples]
    )

    torch.manual_seed(seed)
    optimizer, schedule = make_optimizer(
        model.parameters(), RetrievalRecipe(learning_rate=r["lr"]), r["steps"]
    )
    per_epoch = len(texts) // r["batch_size"]
    losses = []
    model.train()
    for step in trange(r["steps"], desc="retrieval pretraining", unit="step", mininterval=2):
        epoch, k = divmod(step, per_epoch)
        batch = epoch_order(len(texts), seed, epoch)[k * r["batch_size"] : (k + 1) * r["batch_size"]]
        image_features, text_features, scale = model(tiles[batch], texts[batch])
        loss = contrastive_loss(image_features, text_features, scale, gather=False)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
    model.eval()
    encoder.record = {
        "method": "truncate",
        "pretraining": {**r, "world_seed": r["world_seed"] + seed, "loss": losses},
    }
    save_model(encoder, out_dir)

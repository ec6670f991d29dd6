"""The CLIP-based locatability network: an open_clip image tower and a small regression head that
learns the formula's score from pixels, so that images can be scored without segmenting them.

Full profile: a pretrained CLIP image tower loaded by hub id through open_clip (``hf-hub:``) with a fresh
head that notebook 02 trains on a GPU. Tiny profile: a small open_clip vision transformer trained from
scratch on ClueWorld street views labelled with the formula's score of their exact masks.

A saved network is a folder: ``open_clip_config.json`` (open_clip's own model and preprocessing
config, so the tower is rebuilt by open_clip itself), ``model.safetensors`` (tower and head) and
``locatability_net.json`` (head, training settings and metrics, including the loss curve).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from geolib.errors import DataError, GeolibError
from geolib.formats.validate import read_json_file
from geolib.images import as_image
from geolib.iox import atomic_dir, write_json

NET_CONFIG = "locatability_net.json"
WEIGHTS = "model.safetensors"
OPEN_CLIP_CONFIG = "open_clip_config.json"
FORMAT = "geolib-locatability-net"

# Tiny tower: a 0.5M-parameter ViT on 64 px views (16 patches). Average pooling over the patches mirrors
# the formula, which averages a per-pixel class weight over the image. The text tower is the smallest
# open_clip accepts; it is dropped. Measured on ClueWorld (2,400 training views, 8 epochs): held-out
# Spearman 0.97; a 96 px, 36-patch tower reached 0.92 in twice the time.
TINY_MODEL_CFG = {
    "embed_dim": 128,
    "vision_cfg": {
        "image_size": 64,
        "patch_size": 16,
        "width": 128,
        "layers": 3,
        "head_width": 32,
        "mlp_ratio": 2.0,
        "pool_type": "avg",
    },
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 1, "layers": 1},
}
TINY_PREPROCESS = {"size": 64, "interpolation": "bilinear", "resize_mode": "shortest"}
# The tiny build: fixed sizes, steps and seeds (never a wall-clock budget), so CI rebuilds it identically.
TINY_RECIPE = {
    "world_seed": 2024,
    "n_train": 2400,
    "n_val": 400,
    "render_size": 96,
    "epochs": 8,
    "batch_size": 64,
    "lr": 2e-3,
    "weight_decay": 0.05,
}
HEAD_HIDDEN = 128


class LocatabilityNet(nn.Module):
    """``visual`` (an open_clip image tower) -> LayerNorm -> MLP -> sigmoid: a score in [0, 1], the
    formula's range (its weights lie in [0, 1] and the class fractions sum to 1)."""

    def __init__(self, visual: nn.Module, config: dict, *, seed: int = 0):
        super().__init__()
        self.visual = visual
        self.config = copy.deepcopy(config)  # open_clip model_cfg / preprocess_cfg, head, source, training
        embed_dim = self.config["open_clip"]["model_cfg"]["embed_dim"]
        hidden = self.config["head"]["hidden"]
        with torch.random.fork_rng(devices=[]):  # a fresh head is a function of the seed alone
            torch.manual_seed(seed)
            self.head = nn.Sequential(
                nn.LayerNorm(embed_dim), nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, 1)
            )
        self._transform = None

    # ------------------------------------------------------------------ building and loading

    @classmethod
    def from_config(
        cls, model_cfg: dict, preprocess_cfg: dict | None = None, *, hidden: int = HEAD_HIDDEN, seed: int = 0
    ) -> LocatabilityNet:
        """A new network with a randomly initialised (seeded) tower of the open_clip config ``model_cfg``."""
        # open_clip builds a model from a named config or a folder: give it a folder with this config
        with tempfile.TemporaryDirectory() as folder, torch.random.fork_rng(devices=[]):
            write_json(
                Path(folder) / OPEN_CLIP_CONFIG,
                {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg or {}},
            )
            torch.manual_seed(seed)
            visual, preprocess = _open_clip_tower(f"local-dir:{folder}", pretrained=False)
        return cls(visual, _new_config(model_cfg, preprocess, hidden, source="config"), seed=seed)

    @classmethod
    def from_backbone(
        cls, name: str | None = None, *, hidden: int = HEAD_HIDDEN, seed: int = 0
    ) -> LocatabilityNet:
        """A pretrained CLIP image tower (a hub id such as ``timm/vit_base_patch32_clip_224.openai``, the
        default: the registry's full ``locatability-net``; ``hf-hub:...`` or ``local-dir:...``) with a
        fresh head, to be trained."""
        if name is None:
            from geolib import profiles

            name = profiles.spec("locatability-net").hub_id
        source = name if name.startswith(("hf-hub:", "local-dir:")) else f"hf-hub:{name}"
        visual, preprocess = _open_clip_tower(source, pretrained=True)
        model_cfg = _open_clip_config(source)["model_cfg"]
        return cls(visual, _new_config(model_cfg, preprocess, hidden, source=source), seed=seed)

    @classmethod
    def from_pretrained(cls, source: str | Path, device=None) -> LocatabilityNet:
        """A saved network (a folder or a hub repository holding ``locatability_net.json``), or else a
        CLIP backbone (a folder or hub repository in open_clip's layout) with a fresh, untrained head."""
        from geolib import profiles

        folder = _saved_network(source)
        if folder is None:
            net = cls.from_backbone(f"local-dir:{source}" if Path(source).is_dir() else str(source))
        else:
            net = cls._load_saved(folder)
        return net.to(profiles.device(device)).eval()

    @classmethod
    def _load_saved(cls, folder: Path) -> LocatabilityNet:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        config = read_json_file(folder / NET_CONFIG)
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise DataError(f"expected format {FORMAT!r}", source=str(folder / NET_CONFIG), field="format")
        visual, _ = _open_clip_tower(f"local-dir:{folder}", pretrained=False)
        net = cls(visual, config)
        try:
            state = load_file(folder / WEIGHTS)
            net.load_state_dict(state, strict=True)
        except (OSError, RuntimeError, SafetensorError) as err:
            # a missing file, a corrupt one or weights of another shape: one line naming the file
            reason = str(err).strip().splitlines()[0]
            raise DataError(f"cannot load the weights: {reason}", source=str(folder / WEIGHTS)) from None
        return net

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the network to the folder ``path`` atomically (replacing an earlier save)."""
        with atomic_dir(path) as tmp:
            self._write(tmp)
        return Path(path)

    def _write(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, folder / WEIGHTS)
        write_json(folder / OPEN_CLIP_CONFIG, self.config["open_clip"])
        write_json(folder / NET_CONFIG, self.config)

    # ------------------------------------------------------------------ using it

    @property
    def trained(self) -> bool:
        return bool(self.config.get("training"))

    @property
    def metrics(self) -> dict:
        """Training settings and held-out metrics (empty for an untrained head)."""
        return self.config.get("training") or {}

    @property
    def transform(self):
        """open_clip's evaluation transform for this tower (PIL image -> normalised tensor)."""
        if self._transform is None:
            from open_clip.transform import PreprocessCfg, image_transform_v2

            self._transform = image_transform_v2(
                PreprocessCfg(**self.config["open_clip"]["preprocess_cfg"]), False
            )
        return self._transform

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(self.visual(pixels)).squeeze(-1))

    def pixels(self, images: Sequence, *, progress: bool = False, dtype=torch.float32) -> torch.Tensor:
        """Images (PIL or paths) as one preprocessed tensor (N, 3, S, S); a bad item is a DataError naming it."""
        from tqdm.auto import tqdm

        tensors = [
            self.transform(_image(item, i)).to(dtype)
            for i, item in enumerate(tqdm(images, desc="preprocess", unit="img", disable=not progress))
        ]
        if not tensors:
            size = self.config["open_clip"]["preprocess_cfg"]["size"]
            return torch.empty((0, 3, *_pair(size)), dtype=dtype)
        return torch.stack(tensors)

    def predict(self, images: Sequence, *, batch_size: int = 32, progress: bool = True) -> np.ndarray:
        """Locatability of each image (PIL images or paths): float64 array (N,)."""
        if not self.trained:
            warnings.warn(
                "this locatability network's head is untrained (a CLIP tower with a fresh head): its scores "
                "mean nothing until train_locatability_net has trained it",
                stacklevel=2,
            )
        return self._batched(images, self, batch_size, "locatability", progress)

    def embed(self, images: Sequence, *, batch_size: int = 32, progress: bool = True) -> np.ndarray:
        """Image-tower features for finding near-duplicates: the last block's token grid, pooled to at
        most 4 x 4 cells and L2-normalised, float64 (N, channels * cells).

        The grid keeps the layout of the view, so a re-encoded or slightly cropped copy stays close while
        another street does not; the pooled CLIP embedding is too coarse for that in the tiny tower,
        which was trained for one number. Curation compares these after removing the collection's mean.
        """

        def features(pixels: torch.Tensor) -> torch.Tensor:
            found = self.visual.forward_intermediates(pixels, indices=[-1], intermediates_only=True)
            grid = found["image_intermediates"][0] if isinstance(found, dict) else found[0]
            cells = (min(4, grid.shape[-2]), min(4, grid.shape[-1]))
            pooled = torch.nn.functional.adaptive_avg_pool2d(grid.float(), cells).flatten(1)
            return torch.nn.functional.normalize(pooled, dim=-1)

        return self._batched(images, features, batch_size, "embedding", progress)

    @torch.no_grad()
    def _batched(self, images, function, batch_size: int, desc: str, progress: bool) -> np.ndarray:
        from tqdm.auto import tqdm

        images = [images] if isinstance(images, (str, Path)) or hasattr(images, "getpixel") else list(images)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise GeolibError(f"batch_size must be a positive integer, got {batch_size!r}")
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        results = []
        starts = range(0, len(images), batch_size)
        for start in tqdm(starts, desc=desc, unit="batch", disable=not progress or len(starts) < 2):
            batch = [_image(item, start + i) for i, item in enumerate(images[start : start + batch_size])]
            results.append(function(self.pixels(batch).to(device)).double().cpu().numpy())
        self.train(was_training)
        return np.concatenate(results) if results else np.empty(0)


def _image(item, index: int):
    if not isinstance(item, (str, Path)) and not hasattr(item, "convert"):
        raise DataError(f"expected a PIL image or a path, got {type(item).__name__}", record=index)
    return as_image(item)


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def _new_config(model_cfg: dict, preprocess: dict, hidden: int, *, source: str) -> dict:
    return {
        "format": FORMAT,
        "version": 1,
        "backbone": source,
        "open_clip": {"model_cfg": model_cfg, "preprocess_cfg": preprocess},
        "head": {"hidden": hidden, "output": "sigmoid"},
        "training": {},
    }


def _open_clip_config(source: str) -> dict:
    """The ``open_clip_config.json`` of an ``hf-hub:`` or ``local-dir:`` source (already fetched by open_clip)."""
    if source.startswith("local-dir:"):
        return read_json_file(Path(source.removeprefix("local-dir:")) / OPEN_CLIP_CONFIG)
    from huggingface_hub import hf_hub_download

    return read_json_file(hf_hub_download(source.removeprefix("hf-hub:"), OPEN_CLIP_CONFIG))


def _open_clip_tower(source: str, *, pretrained: bool):
    """(image tower, preprocess config) built by ``open_clip.create_model``; the text tower is dropped."""
    import open_clip

    from geolib.profiles import logging_disabled

    # without weights, open_clip logs "initialized randomly" even when geolib loads its own weights next
    quiet = contextlib.nullcontext() if pretrained else logging_disabled(logging.WARNING)
    try:
        with quiet:
            # require_pretrained: open_clip would otherwise fall back to random weights with a log line
            clip = open_clip.create_model(source, load_weights=pretrained, require_pretrained=pretrained)
    except (RuntimeError, ValueError, FileNotFoundError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GeolibError(f"cannot load the CLIP image tower {source}: {reason}") from None
    preprocess = open_clip.get_model_preprocess_cfg(clip)
    preprocess = {k: list(v) if isinstance(v, tuple) else v for k, v in preprocess.items()}  # JSON-ready
    return clip.visual, preprocess


def _saved_network(source: str | Path) -> Path | None:
    """The local folder of a saved network named by ``source`` (fetched from the hub if needed), or None
    if ``source`` is a plain CLIP backbone."""
    path = Path(source)
    if path.is_dir():
        return path if (path / NET_CONFIG).is_file() else None
    repo = str(source).removeprefix("hf-hub:")
    if repo.count("/") != 1:
        raise GeolibError(f"{source!r} is neither a folder nor a hub id of the form 'owner/name'")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        config = hf_hub_download(repo, NET_CONFIG)
        hf_hub_download(repo, WEIGHTS)
        hf_hub_download(repo, OPEN_CLIP_CONFIG)
    except (EntryNotFoundError, LocalEntryNotFoundError):
        return None  # no saved network there (or not cached offline): a backbone in open_clip's layout
    return Path(config).parent


def load_locatability_net(model: str | None = None, device=None) -> LocatabilityNet:
    """The locatability network ``model`` (default: the registry's ``locatability-net`` for the profile:
    the trained tiny network, or the full profile's pretrained CLIP tower with an untrained head)."""
    from geolib import profiles

    return LocatabilityNet.from_pretrained(model or profiles.resolve("locatability-net"), device=device)


# ----------------------------------------------------------------------------- training


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    value = spearmanr(a, b).statistic
    return float(value) if np.isfinite(value) else 0.0


def _set_trainable(net: LocatabilityNet, trainable) -> list[nn.Parameter]:
    """``"all"``, ``"head"`` or an int n: the head plus the tower's last n transformer blocks (and what
    follows them: final norm, projection, pooling)."""
    for p in net.visual.parameters():
        p.requires_grad_(trainable == "all")
    if isinstance(trainable, int) and not isinstance(trainable, bool):
        blocks = getattr(getattr(net.visual, "transformer", None), "resblocks", None)
        if blocks is None or not 0 <= trainable <= len(blocks):
            raise GeolibError(
                f"trainable={trainable}: the tower has no {trainable} transformer blocks to train"
            )
        for block in list(blocks)[len(blocks) - trainable :]:
            block.requires_grad_(True)
        for name, p in net.visual.named_parameters():
            if name.startswith(("ln_post", "proj", "attn_pool")):
                p.requires_grad_(True)
    elif trainable not in ("all", "head"):
        raise GeolibError(f"trainable must be 'all', 'head' or a number of blocks, got {trainable!r}")
    net.head.requires_grad_(True)
    return [p for p in net.parameters() if p.requires_grad]


def _scores(values, n: int, name: str) -> torch.Tensor:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise DataError(f"expected {n} scores, one per image, got shape {array.shape}", source=name)
    bad = ~np.isfinite(array) | (array < 0) | (array > 1)
    if bad.any():
        raise DataError("expected a score in [0, 1]", source=name, record=int(np.argmax(bad)))
    return torch.tensor(array, dtype=torch.float32)


def train_locatability_net(
    images: Sequence,
    scores,
    *,
    net: LocatabilityNet | None = None,
    val_images: Sequence | None = None,
    val_scores=None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup: float = 0.05,
    trainable="all",
    seed: int = 0,
    device=None,
    progress: bool = True,
) -> LocatabilityNet:
    """Train ``net`` (default: a new tiny network) to predict ``scores`` from ``images``; returns it.

    AdamW with linear warmup then a cosine decay, mean squared error, random horizontal flips (a mirror
    image has the same class fractions, hence the same score). After each epoch the held-out Spearman
    and MAE are measured if ``val_images`` are given. The settings, the loss curve (per step) and the
    per-epoch metrics are kept in ``net.metrics`` and saved with the network. ``trainable``: ``"all"``,
    ``"head"`` (frozen tower) or the number of the tower's last blocks to fine-tune with the head.
    """
    from tqdm.auto import tqdm

    from geolib import profiles

    if epochs < 1 or batch_size < 1:
        raise GeolibError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    targets = _scores(scores, len(images), "scores")
    if net is None:
        net = LocatabilityNet.from_config(TINY_MODEL_CFG, TINY_PREPROCESS, seed=seed)
    device = profiles.device(device)
    # half precision halves the memory of thousands of preprocessed images; batches run in float32
    pixels = net.pixels(images, progress=progress, dtype=torch.float16)
    if val_images is not None:
        val_targets = _scores(val_scores, len(val_images), "val_scores").double().numpy()
        val_pixels = net.pixels(val_images, progress=progress, dtype=torch.float16)
    net.to(device)
    params = _set_trainable(net, trainable)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(targets) / batch_size)
    total = epochs * steps_per_epoch
    warm = max(1, round(warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm))),
    )
    generator = torch.Generator().manual_seed(seed)
    losses, history = [], []
    bar = tqdm(total=total, desc="train locatability-net", unit="step", disable=not progress)
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(targets), generator=generator)
        epoch_loss = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = pixels[index].float()
            flip = torch.rand(len(index), generator=generator) < 0.5
            batch[flip] = batch[flip].flip(-1)
            loss = nn.functional.mse_loss(net(batch.to(device)), targets[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(round(loss.item(), 6))
            epoch_loss += loss.item() * len(index)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", epoch=epoch)
        row = {"epoch": epoch, "train_loss": round(epoch_loss / len(targets), 6)}
        if val_images is not None:
            predicted = _predict_pixels(net, val_pixels, batch_size, device)
            row["val_spearman"] = round(_spearman(predicted, val_targets), 4)
            row["val_mae"] = round(float(np.abs(predicted - val_targets).mean()), 5)
            bar.set_postfix(loss=f"{loss.item():.4f}", epoch=epoch, val_spearman=row["val_spearman"])
        history.append(row)
    bar.close()
    net.eval()
    final = history[-1]
    net.config["training"] = {
        "n_train": len(targets),
        "n_val": 0 if val_images is None else len(val_images),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup": warmup,
        "trainable": trainable,
        "seed": seed,
        "val_spearman": final.get("val_spearman"),
        "val_mae": final.get("val_mae"),
        "history": history,
        "loss_curve": losses,
    }
    return net


@torch.no_grad()
def _predict_pixels(net: LocatabilityNet, pixels: torch.Tensor, batch_size: int, device) -> np.ndarray:
    net.eval()
    out = [
        net(pixels[i : i + batch_size].float().to(device)).double().cpu()
        for i in range(0, len(pixels), batch_size)
    ]
    net.train()
    return torch.cat(out).numpy()


def clueworld_scores(samples) -> np.ndarray:
    """The formula's locatability of ClueWorld samples, from their exact masks."""
    from geolib.locatability.formula import fractions_from_mask, locatability_from_fractions

    return np.array([locatability_from_fractions(fractions_from_mask(s.mask)) for s in samples])


def build_tiny_locatability_net(out_dir: Path, seed: int) -> None:
    """Registry builder: train the tiny network on ClueWorld (fixed recipe and seeds) into ``out_dir``."""
    from geolib.world import generate

    recipe = TINY_RECIPE
    n_train, n_val = recipe["n_train"], recipe["n_val"]
    samples = list(
        generate(n_train + n_val, recipe["world_seed"] + seed, size=recipe["render_size"], tile_size=32)
    )
    images = [s.image for s in samples]
    scores = clueworld_scores(samples)
    net = train_locatability_net(
        images[:n_train],
        scores[:n_train],
        val_images=images[n_train:],
        val_scores=scores[n_train:],
        epochs=recipe["epochs"],
        batch_size=recipe["batch_size"],
        lr=recipe["lr"],
        weight_decay=recipe["weight_decay"],
        seed=seed,
        device="cpu",  # the tiny build is the same on every machine
    )
    net.config["training"]["data"] = {
        "world": "ClueWorld",
        "world_seed": recipe["world_seed"] + seed,
        "render_size": recipe["render_size"],
        "train_indices": [0, n_train],
        "val_indices": [n_train, n_train + n_val],
        "label": "locatability_from_fractions(fractions_from_mask(sample.mask))",
    }
    net._write(Path(out_dir))


def metrics_of(folder: str | Path) -> dict:
    """The training metrics saved with a network, without loading its weights (for plots)."""
    config = read_json_file(Path(folder) / NET_CONFIG)
    return config.get("training") or {} if isinstance(config, dict) else {}


__all__ = [
    "LocatabilityNet",
    "build_tiny_locatability_net",
    "clueworld_scores",
    "load_locatability_net",
    "metrics_of",
    "train_locatability_net",
]

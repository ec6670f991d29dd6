"""Contrastive training of the dual encoder on description / tile pairs, on accelerate.

Every weight trains, as in CrossText2Loc (AdamW, cosine schedule with warm-up). ``batch_size`` is the global
batch: under ``accelerate launch`` with N processes each takes 1/N of every batch and the loss gathers the
other processes' embeddings with their gradients (``geolib.retrieval.loss``), so N processes follow the
one-process run. After every epoch the model is scored on the validation split (Recall@1 over the
validation gallery); the best epoch's model is kept in ``OUT/best`` (never chosen on test). ``OUT/checkpoint``
holds the last finished epoch (model, optimizer, schedule, random state) and ``--resume`` continues from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from geolib.errors import GeolibError

BEST, CHECKPOINT, METRICS = "best", "checkpoint", "metrics.json"


@dataclass(frozen=True)
class RetrievalRecipe:
    learning_rate: float = 1e-5
    batch_size: int = 128
    epochs: int = 40
    weight_decay: float = 0.1
    warmup_ratio: float = 0.05
    adam_beta2: float = 0.98
    seed: int = 0

    def replace(self, **changes) -> RetrievalRecipe:
        return replace(self, **changes)


PAPER_RECIPE = RetrievalRecipe()  # CrossText2Loc: lr 1e-5, batch 128, 40 epochs, every weight trained
TINY_OVERRIDES = {
    "learning_rate": 2e-4,
    "batch_size": 32,
    "epochs": 4,
}  # 5e-4 and above: the tiny model collapses


def recipe() -> RetrievalRecipe:
    from geolib.profiles import profile

    return PAPER_RECIPE.replace(**TINY_OVERRIDES) if profile() == "tiny" else PAPER_RECIPE


def tile_tensor(encoder, paths, *, progress: bool = False):
    """The tiles, preprocessed for the encoder, as one tensor."""
    import torch
    from tqdm.auto import tqdm

    from geolib.images import load_image

    return torch.stack(
        [encoder.preprocess(load_image(p)) for p in tqdm(paths, desc="tiles", disable=not progress)]
    )


def embed_texts(encoder, texts, *, batch_size: int = 256) -> np.ndarray:
    import torch

    tokens = encoder.tokenizer()(list(texts))
    device = next(encoder.model.parameters()).device
    with torch.no_grad():
        parts = [
            encoder.model.encode_text(tokens[i : i + batch_size].to(device), normalize=True)
            for i in range(0, len(tokens), batch_size)
        ]
    return torch.cat(parts).float().cpu().numpy()


def embed_tiles(encoder, tiles, *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Unit embeddings of tiles: paths, or a tensor from :func:`tile_tensor`."""
    import torch
    from tqdm.auto import tqdm

    if not isinstance(tiles, torch.Tensor):
        tiles = tile_tensor(encoder, tiles, progress=progress)
    device = next(encoder.model.parameters()).device
    with torch.no_grad():
        parts = [
            encoder.model.encode_image(tiles[i : i + batch_size].to(device), normalize=True)
            for i in tqdm(range(0, len(tiles), batch_size), desc="embedding", disable=not progress)
        ]
    return torch.cat(parts).float().cpu().numpy()


def _settings(data, view, method, recipe_, model_source) -> dict:
    return {
        "data": str(Path(data).resolve()),
        "view": view,
        "method": method,
        "recipe": asdict(recipe_),
        "model": model_source,
    }


def train_retrieval(
    data,
    view: str,
    out,
    *,
    model=None,
    method: str = "interpolate",
    recipe_: RetrievalRecipe | None = None,
    epochs: int | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Fine-tune the dual encoder (the registry's ``retrieval`` model, or ``model``) on the ``train`` pairs of
    the dataset folder ``data`` for ``view`` tiles, with the long-text ``method``; returns the metrics.
    ``stop_after`` stops (resumably) after that many epochs of this call, as an interruption would."""
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from geolib.formats.validate import read_json_file
    from geolib.iox import check_writable, make_dir, write_json
    from geolib.profiles import resolve
    from geolib.retrieval.data import read_pairs
    from geolib.retrieval.longtext import METHODS, stretch_text_positions
    from geolib.retrieval.loss import contrastive_loss
    from geolib.retrieval.metrics import retrieval_metrics
    from geolib.retrieval.model import load_retrieval_model, save_model
    from geolib.training import epoch_order, make_optimizer

    recipe_ = recipe_ or recipe()
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise GeolibError(f"epochs must be a whole number of at least 1, not {epochs!r}")
        recipe_ = recipe_.replace(epochs=epochs)
    if method not in METHODS:
        raise GeolibError(f"long-text method {method!r} is not one of {', '.join(METHODS)}")
    out = Path(out)
    check_writable(out / METRICS)
    train_pairs, val_pairs = read_pairs(data, view, "train"), read_pairs(data, view, "val")
    if len(train_pairs) < 2 or not val_pairs:
        raise GeolibError(
            f"{data} has {len(train_pairs)} training and {len(val_pairs)} validation pairs; need 2 and 1"
        )
    source = str(model or resolve("retrieval"))
    settings = _settings(data, view, method, recipe_, source)
    metrics = {"settings": settings, "epochs": [], "best": None}
    if resume and (out / CHECKPOINT).is_dir():
        metrics = read_json_file(out / METRICS)
        if metrics.get("settings") != settings:
            raise GeolibError(f"--resume: {out} was trained with other settings; choose another --out")
    elif out.exists() and any(out.iterdir()):
        raise GeolibError(f"{out} is not empty; choose a new folder, or --resume an interrupted run")
    make_dir(out)

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    processes, rank = accelerator.num_processes, accelerator.process_index
    if recipe_.batch_size % processes:
        raise GeolibError(f"the batch of {recipe_.batch_size} does not split over {processes} processes")
    per_process = recipe_.batch_size // processes
    encoder = load_retrieval_model(model, device="cpu")
    stretch_text_positions(encoder.model, method)
    tokens = encoder.tokenizer()([p.description for p in train_pairs])
    tiles = tile_tensor(
        encoder, [p.tile for p in train_pairs], progress=progress and accelerator.is_main_process
    )
    steps_per_epoch = len(train_pairs) // recipe_.batch_size or 1
    torch.manual_seed(recipe_.seed)
    optimizer, scheduler = make_optimizer(
        encoder.model.parameters(), recipe_, steps_per_epoch * recipe_.epochs
    )
    net, optimizer, scheduler = accelerator.prepare(encoder.model, optimizer, scheduler)
    if resume and (out / CHECKPOINT).is_dir():
        accelerator.load_state(str(out / CHECKPOINT))
    start = len(metrics["epochs"])
    end = recipe_.epochs if stop_after is None else min(recipe_.epochs, start + stop_after)
    val_tiles = tile_tensor(encoder, [p.tile for p in val_pairs])
    for epoch in range(start, end):
        net.train()
        order = epoch_order(len(train_pairs), recipe_.seed, epoch)
        losses = []
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{recipe_.epochs}",
            disable=not progress or not accelerator.is_main_process,
        )
        for step in bar:
            batch = order[step * recipe_.batch_size : (step + 1) * recipe_.batch_size]
            mine = batch[rank * per_process : (rank + 1) * per_process]
            image_features, text_features, scale = net(
                tiles[mine].to(accelerator.device), tokens[mine].to(accelerator.device)
            )
            loss = contrastive_loss(image_features, text_features, scale)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():  # as CLIP: the temperature may not go below 1/100
                accelerator.unwrap_model(net).logit_scale.clamp_(0, math.log(100))
            losses.append(accelerator.reduce(loss.detach(), "mean").item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
        net.eval()
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "losses": losses}
        if accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(net)
            encoder.model = unwrapped
            similarity = (
                embed_texts(encoder, [p.description for p in val_pairs]) @ embed_tiles(encoder, val_tiles).T
            )
            val = retrieval_metrics(
                similarity,
                [p.latitude for p in val_pairs],
                [p.longitude for p in val_pairs],
                protocol="gallery",
            )
            row.update({"val_R@1": val["R@1"], "val_R@5": val["R@5"], "val_L@50m": val["L@50m"]})
            best = metrics["best"]
            if best is None or row["val_R@1"] > metrics["epochs"][best - 1]["val_R@1"]:
                metrics["best"] = epoch + 1
                encoder.record = {
                    "method": method,
                    "view": view,
                    "epoch": epoch + 1,
                    "val": {k: row[k] for k in row if k.startswith("val_")},
                }
                save_model(encoder, out / BEST)
            metrics["epochs"].append(row)
            log(f"epoch {epoch + 1}: train loss {row['train_loss']:.3f}, val R@1 {row['val_R@1']:.3f}")
        accelerator.wait_for_everyone()
        accelerator.save_state(str(out / CHECKPOINT))
        if accelerator.is_main_process:
            write_json(out / METRICS, metrics)
    accelerator.wait_for_everyone()
    return metrics

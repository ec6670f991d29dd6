"""Train one LoRA stage with accelerate: what ``geolib train`` runs.

The loop is written out so that learners can read it: micro-batches of ``batch_per_device`` are grouped
into optimizer steps of ``accumulation_steps`` (gradients synchronised across processes only on the last
micro-batch of a group), a cosine schedule with warm-up, gradient clipping, a validation loss after each
epoch, and a checkpoint every ``checkpoint_every`` steps and at each epoch's end.

A checkpoint holds only what changes: the adapter's weights, the optimizer and scheduler states, every
process's random generator state, and where in which epoch the run stood. Each epoch's order is a seeded
permutation, so ``resume=True`` skips exactly the micro-batches already seen and the resumed run ends
with the same weights as an uninterrupted one. ``accelerate launch --num_processes 2 --cpu -m geolib
train ...`` runs the same code on two processes: each takes every other micro-batch and accumulates half
as many, so the effective batch is unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from geolib.errors import GeolibError
from geolib.iox import atomic_dir, make_dir, write_json
from geolib.lvlm.adapters import RUN_FILE, attach_for_training, read_adapter_dir, save_adapter
from geolib.lvlm.data import IGNORE, SFTData, collate
from geolib.lvlm.recipe import Recipe
from geolib.lvlm.recipe import recipe as profile_recipe
from geolib.training import epoch_order, make_optimizer

CHECKPOINTS = "checkpoints"
STATE_FILE = "state.json"
KEEP_CHECKPOINTS = 2


@dataclass
class TrainResult:
    out: Path | None
    metrics: dict
    trainable: int
    total: int
    finished: bool = True


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def supervised_tokens(batch) -> int:
    """Tokens the loss is computed on (labels are shifted by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())


# ----------------------------------------------------------------------------- checkpoints


def _checkpoints(out: Path) -> list[Path]:
    folder = out / CHECKPOINTS
    done = [p for p in folder.glob("step-*") if (p / STATE_FILE).is_file()] if folder.is_dir() else []
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def _trainable_state(model) -> dict:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(accelerator, model, optimizer, scheduler, out: Path, state: dict) -> None:
    """Write a checkpoint atomically (each process adds its random state first) and keep the last two."""
    import torch
    from safetensors.torch import save_file

    folder = out / CHECKPOINTS / f"step-{state['step']:06d}"
    staging = out / CHECKPOINTS / f".rng-{state['step']:06d}"
    if accelerator.is_main_process:
        make_dir(staging)
    accelerator.wait_for_everyone()
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    torch.save(rng, staging / f"rng-{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with atomic_dir(folder) as tmp:
            save_file(_trainable_state(accelerator.unwrap_model(model)), tmp / "adapter.safetensors")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
            for part in staging.iterdir():
                shutil.copyfile(part, tmp / part.name)
            write_json(tmp / STATE_FILE, state)
        shutil.rmtree(staging, ignore_errors=True)
        for old in _checkpoints(out)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator, model, optimizer, scheduler, folder: Path) -> dict:
    import torch
    from safetensors.torch import load_file

    weights = load_file(folder / "adapter.safetensors")
    parameters = dict(accelerator.unwrap_model(model).named_parameters())
    missing = set(weights) ^ {n for n, p in parameters.items() if p.requires_grad}
    if missing:
        raise GeolibError(f"{folder} does not match this run's adapter (e.g. {sorted(missing)[0]})")
    with torch.no_grad():
        for name, value in weights.items():
            parameters[name].copy_(value)
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    rng_file = folder / f"rng-{accelerator.process_index}.pt"
    if not rng_file.is_file():
        raise GeolibError(f"{folder} was written by fewer processes; resume with as many as started the run")
    rng = torch.load(rng_file, weights_only=True)
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    state = json.loads((folder / STATE_FILE).read_text())
    return state


# ----------------------------------------------------------------------------- checks before training


def _check_arguments(stage, data, val, out, init_adapter, without_stage1, epochs, max_steps, stop_after):
    if stage not in (1, 2):
        raise GeolibError(f"--stage must be 1 or 2, not {stage!r}")
    for name, value in (("--max-steps", max_steps), ("--stop-after", stop_after)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise GeolibError(f"{name} must be a positive whole number of steps, not {value!r}")
    if epochs is not None and not (isinstance(epochs, int | float) and math.isfinite(epochs) and epochs > 0):
        raise GeolibError(f"--epochs must be a positive number, not {epochs!r}")
    for name, path in (("--data", data), ("--val", val)):
        if path is not None and not Path(path).is_file():
            raise GeolibError(
                f"{name} {path}: no such file" + (" (it is a folder)" if Path(path).is_dir() else "")
            )
    if stage == 1 and init_adapter is not None:
        raise GeolibError(
            "--init-adapter is for stage 2 (stacking on a stage-1 adapter); stage 1 starts from the base model"
        )
    if stage == 2 and init_adapter is None and not without_stage1:
        raise GeolibError(
            "stage 2 stacks on a stage-1 adapter: pass --init-adapter STAGE1_DIR "
            "(or --without-stage1 for the ablation that skips stage 1)"
        )
    if init_adapter is not None:
        if without_stage1:
            raise GeolibError("--init-adapter and --without-stage1 contradict each other; choose one")
        read_adapter_dir(init_adapter, stage=1)
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise GeolibError(f"--out {out} is a file; an adapter is written to a directory")


def _settings(stage, data, val, init_adapter, recipe: Recipe, model_source: str) -> dict:
    """What a checkpoint must agree with to be resumed."""
    return {
        "stage": stage,
        "model": model_source,
        "data": fingerprint(Path(data)),
        "val": fingerprint(Path(val)) if val else None,
        "init_adapter": fingerprint(Path(init_adapter) / "adapter_model.safetensors")
        if init_adapter
        else None,
        "recipe": asdict(recipe),
    }


def peak_memory_bytes(device) -> int:
    """Peak memory of this process: allocated on a GPU, resident set size on a CPU."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


# ----------------------------------------------------------------------------- the loop


def train_adapter(
    stage: int,
    data,
    out=None,
    *,
    val=None,
    init_adapter=None,
    without_stage1: bool = False,
    model_name: str | None = None,
    recipe: Recipe | None = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    stop_after: int | None = None,
    resume: bool = False,
    dry_run: bool = False,
    merge: bool = False,
    four_bit: bool = False,
    progress: bool = True,
    log=print,
) -> TrainResult:
    """Train a stage-1 or stage-2 LoRA adapter on an SFT file into the adapter directory ``out``.

    ``stop_after`` ends the run after that many optimizer steps with a checkpoint (for time-limited
    sessions: ``resume=True`` continues it). ``dry_run`` runs one optimizer step, writes nothing and
    reports the peak memory. ``merge`` also writes ``out/merged``: the base model with the adapter(s)
    merged in, loadable without peft.
    """
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from geolib.lvlm.model import load_vlm, parameter_counts, resolve_vlm

    _check_arguments(stage, data, val, out, init_adapter, without_stage1, epochs, max_steps, stop_after)
    if out is None and not dry_run:
        raise GeolibError("--out is needed (an adapter directory), except with --dry-run")
    recipe = recipe or profile_recipe()
    if epochs is not None:
        recipe = recipe.replace(epochs=epochs)
    out = Path(out) if out is not None else None
    if out is not None and not dry_run:
        done = out.is_dir() and (out / RUN_FILE).is_file()
        started = bool(_checkpoints(out)) if out.is_dir() else False
        if resume and not started and not done:
            raise GeolibError(f"--resume: {out} holds no checkpoint to resume from")
        if not resume and (done or started):
            raise GeolibError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        if done and resume:
            raise GeolibError(f"{out} holds a finished run; nothing to resume")
        make_dir(out / CHECKPOINTS)

    on_gpu = torch.cuda.is_available()
    accelerator = Accelerator(
        mixed_precision=("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_gpu else "no",
        cpu=not on_gpu,
    )
    processes = accelerator.num_processes
    micro_batch = recipe.micro_batch(processes)
    accumulation = recipe.accumulation_steps(processes)
    torch.manual_seed(recipe.seed + accelerator.process_index)
    main = accelerator.is_main_process
    say = log if main else (lambda *a, **k: None)

    model_source = resolve_vlm(model_name)
    model, processor = load_vlm(model_source, device=accelerator.device, four_bit=four_bit)
    train_data = SFTData(data, stage, processor, max_length=recipe.max_length, progress=progress and main)
    val_data = SFTData(val, stage, processor, max_length=recipe.max_length, progress=False) if val else None
    settings = _settings(stage, data, val, init_adapter, recipe, model_source)

    if four_bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=recipe.gradient_checkpointing
        )
    elif on_gpu and recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = attach_for_training(model, recipe, init_adapter)
    trainable, total = parameter_counts(model)
    say(f"trainable parameters: {trainable:,} of {total:,} ({trainable / total:.2%})")

    pad = processor.tokenizer.pad_token_id
    micro_per_epoch = math.ceil(len(train_data) / (micro_batch * processes))
    steps_per_epoch = math.ceil(micro_per_epoch / accumulation)
    total_steps = math.ceil(steps_per_epoch * recipe.epochs)
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    if dry_run:
        total_steps = 1
    optimizer, scheduler = make_optimizer(
        [p for p in model.parameters() if p.requires_grad], recipe, total_steps
    )
    model, optimizer = accelerator.prepare(model, optimizer)

    def loader(dataset, order):
        from torch.utils.data import DataLoader

        # its own generator: a loader draws a seed whenever it starts, and from the global generator that
        # would shift the dropout masks of a resumed run away from those of an uninterrupted one
        batches = DataLoader(
            dataset,
            generator=torch.Generator().manual_seed(recipe.seed),
            batch_size=micro_batch,
            sampler=order,
            collate_fn=lambda items: collate(items, pad),
        )
        return accelerator.prepare_data_loader(batches)

    state = {"step": 0, "epoch": 0, "micro": 0, "history": [], "epochs": [], "settings": settings}
    if resume:
        latest = _checkpoints(out)[-1]
        loaded = load_checkpoint(accelerator, model, optimizer, scheduler, latest)
        wanted = json.loads(json.dumps(settings))  # as the checkpoint stored them (tuples become lists)
        changed = [k for k in wanted if loaded["settings"].get(k) != wanted[k]]
        if changed:
            raise GeolibError(
                f"--resume: {latest} was made with other settings ({', '.join(changed)} changed)"
            )
        state = loaded
        say(f"resuming from {latest.name}: epoch {state['epoch'] + 1}, step {state['step']} of {total_steps}")

    def validate() -> float | None:
        if val_data is None:
            return None
        model.eval()
        sums = torch.zeros(2, device=accelerator.device)
        with torch.no_grad():
            for batch in loader(val_data, list(range(len(val_data)))):
                tokens = supervised_tokens(batch)
                sums += torch.tensor([model(**batch).loss.item() * tokens, tokens], device=accelerator.device)
        model.train()
        sums = accelerator.reduce(sums, reduction="sum")
        return float(sums[0] / sums[1]) if sums[1] else None

    def finish_epoch() -> None:
        losses = [h["loss"] for h in state["history"] if h["epoch"] == state["epoch"] + 1]
        state["epochs"].append(
            {
                "epoch": state["epoch"] + 1,
                "train_loss": float(sum(losses) / len(losses)) if losses else None,
                "val_loss": validate(),
            }
        )
        state["epoch"] += 1
        state["micro"] = 0

    model.train()
    started_at = time.perf_counter()
    first_step = state["step"]
    bar = tqdm(
        total=total_steps,
        initial=state["step"],
        desc=f"stage {stage}",
        unit="step",
        disable=not (progress and main),
    )
    stopped = False
    while state["step"] < total_steps:
        batches = loader(train_data, epoch_order(len(train_data), recipe.seed, state["epoch"]))
        n_micro, skipped = len(batches), state["micro"]
        if skipped:
            batches = accelerator.skip_first_batches(batches, skipped)
        group: list = []
        for position, batch in enumerate(batches, start=skipped):
            group.append(batch)
            if len(group) < accumulation and position + 1 < n_micro:
                continue
            losses = []
            for k, micro in enumerate(group):
                last_micro = k == len(group) - 1  # gradients are averaged across processes only here
                with contextlib.nullcontext() if last_micro else accelerator.no_sync(model):
                    loss = model(**micro).loss
                    accelerator.backward(loss / len(group))
                losses.append(loss.detach())
            if recipe.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss = float(accelerator.reduce(torch.stack(losses).mean(), reduction="mean"))
            state["step"] += 1
            state["micro"] = position + 1
            rate = scheduler.get_last_lr()[0]
            state["history"].append(
                {"step": state["step"], "epoch": state["epoch"] + 1, "loss": loss, "lr": rate}
            )
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{rate:.2e}")
            group = []
            if dry_run:
                break
            end_of_epoch = state["micro"] >= n_micro
            if end_of_epoch:
                finish_epoch()
            last = state["step"] >= total_steps
            pause = stop_after is not None and state["step"] - first_step >= stop_after
            if state["step"] % recipe.checkpoint_every == 0 or end_of_epoch or (pause and not last):
                save_checkpoint(accelerator, model, optimizer, scheduler, out, state)
                if main:
                    write_json(out / "metrics.json", _metrics(state, total_steps, trainable, total))
            if last or pause:
                stopped = pause and not last
                break
        if dry_run or stopped:
            break
    bar.close()

    if dry_run:
        peak = peak_memory_bytes(accelerator.device)
        say(
            f"dry run: one optimizer step of {accumulation} x {micro_batch} examples; "
            f"peak memory on {accelerator.device.type}: {peak / 2**30:.2f} GiB"
        )
        return TrainResult(
            None, {"peak_memory_bytes": peak, "loss": state["history"][-1]["loss"]}, trainable, total
        )
    if state["micro"] and not stopped:
        finish_epoch()  # a run cut short by max_steps still reports its last, partial epoch
    metrics = _metrics(state, total_steps, trainable, total)
    metrics["seconds"] = round(time.perf_counter() - started_at, 1)
    if stopped:
        say(f"stopped after step {state['step']} of {total_steps}; continue with --resume")
        return TrainResult(out, metrics, trainable, total, finished=False)

    accelerator.wait_for_everyone()
    if main:
        unwrapped = accelerator.unwrap_model(model)
        save_adapter(unwrapped, out, init_adapter)
        write_json(out / "metrics.json", metrics)
        if merge:
            from geolib.lvlm.adapters import merge as merge_adapters

            merged = merge_adapters(unwrapped)
            with atomic_dir(out / "merged") as tmp:
                merged.save_pretrained(tmp)
                processor.save_pretrained(tmp)
        write_json(
            out / RUN_FILE,
            {
                "stage": stage,
                "base_model": model_source,
                "stacked_on_stage1": init_adapter is not None,
                "recipe": asdict(recipe),
                "data": str(Path(data).resolve()),
                "processes": processes,
                "trainable_parameters": trainable,
                "total_parameters": total,
            },
        )
    accelerator.wait_for_everyone()
    return TrainResult(out, metrics, trainable, total)


def _metrics(state: dict, total_steps: int, trainable: int, total: int) -> dict:
    return {
        "epochs": state["epochs"],
        "steps": state["history"],
        "total_steps": total_steps,
        "trainable_parameters": trainable,
        "total_parameters": total,
    }

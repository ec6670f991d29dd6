"""LoRA adapters with peft: the recipe's config, stage 2 stacked on stage 1, loading for inference, merging.

An adapter directory is what peft saves (``adapter_config.json``, ``adapter_model.safetensors``) plus
``geolib-train.json`` (the stage, the base model, the recipe). A stage-2 directory that was trained on top
of a stage-1 adapter carries a copy of that adapter in ``stage1/``, so it is self-contained: loading it
stacks both, in the order the authors' inference loads them (reasoning, then location).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from geolib.errors import GeolibError
from geolib.formats.validate import read_json_file

RUN_FILE = "geolib-train.json"
STAGE1_DIR = "stage1"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TRAINED = "default"  # peft saves the adapter named "default" at the top of the directory
STACKED = "stage1"


def lora_config(recipe):
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules=recipe.target_modules,
        bias="none",
    )


def read_adapter_dir(path, *, stage: int | None = None) -> dict:
    """The run information of an adapter directory; a missing file or a wrong stage is a GeolibError."""
    path = Path(path)
    if not path.is_dir():
        raise GeolibError(f"{path} is not an adapter directory (it does not exist or is a file)")
    missing = [name for name in (*ADAPTER_FILES, RUN_FILE) if not (path / name).is_file()]
    if missing:
        raise GeolibError(f"{path} is not a finished geolib adapter: {', '.join(missing)} missing")
    info = read_json_file(path / RUN_FILE, str(path / RUN_FILE))
    if not isinstance(info, dict) or info.get("stage") not in (1, 2):
        raise GeolibError(f"{path / RUN_FILE} does not say which stage trained this adapter")
    if stage is not None and info["stage"] != stage:
        raise GeolibError(f"{path} holds a stage-{info['stage']} adapter; a stage-{stage} adapter is needed")
    return info


def attach_for_training(model, recipe, init_adapter=None):
    """``model`` with a fresh trainable LoRA adapter; with ``init_adapter``, on top of that frozen adapter."""
    from peft import PeftModel, get_peft_model

    if init_adapter is None:
        return get_peft_model(model, lora_config(recipe))
    model = PeftModel.from_pretrained(model, str(init_adapter), adapter_name=STACKED, is_trainable=False)
    model.add_adapter(TRAINED, lora_config(recipe))
    model.base_model.set_adapter([STACKED, TRAINED])  # both act on every forward pass
    for name, parameter in model.named_parameters():
        parameter.requires_grad = f".{TRAINED}." in name and "lora_" in name
    return model


def save_adapter(model, out: Path, init_adapter=None) -> None:
    """Save the trained adapter at the top of ``out`` and, if stacked, a copy of the stage-1 one in ``stage1/``."""
    model.save_pretrained(str(out), selected_adapters=[TRAINED])
    if init_adapter is not None:
        target = out / STAGE1_DIR
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name in (*ADAPTER_FILES, RUN_FILE):
            shutil.copyfile(Path(init_adapter) / name, target / name)


def load_adapters(model, adapter_dir, stage1_dir=None):
    """A model with the adapter(s) of ``adapter_dir`` active: a stage-2 directory with ``stage1/`` stacks both.
    ``stage1_dir`` stacks ``adapter_dir`` (then a stage-2 adapter) on that stage-1 adapter instead."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    read_adapter_dir(adapter_dir, stage=2 if stage1_dir is not None else None)
    stacked = Path(stage1_dir) if stage1_dir is not None else adapter_dir / STAGE1_DIR
    if stacked.is_dir() or stage1_dir is not None:
        read_adapter_dir(stacked, stage=1)
        model = PeftModel.from_pretrained(model, str(stacked), adapter_name=STACKED)
        model.load_adapter(str(adapter_dir), adapter_name=TRAINED)
        model.base_model.set_adapter([STACKED, TRAINED])
    else:
        model = PeftModel.from_pretrained(model, str(adapter_dir), adapter_name=TRAINED)
    for parameter in model.parameters():
        parameter.requires_grad = False
    return model.eval()


@contextlib.contextmanager
def stage1_only(model):
    """Within the block, only the stage-1 adapter of a stacked model acts (the reasoning adapter answers on
    its own); a model without a stacked stage-1 adapter is left as it is."""
    config = getattr(model, "peft_config", {})
    if STACKED not in config or TRAINED not in config:
        yield model
        return
    model.base_model.set_adapter([STACKED])
    try:
        yield model
    finally:
        model.base_model.set_adapter([STACKED, TRAINED])
        for parameter in model.parameters():  # set_adapter makes the active adapters trainable again
            parameter.requires_grad = False


def merge(model):
    """The base model with every active adapter merged into its weights (no peft needed to load it)."""
    return model.merge_and_unload()

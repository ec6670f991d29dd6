"""The LoRA recipe: the paper's settings as the full profile's defaults, the tiny profile's overrides in one place.

GeoReasoner's stage-1 script (``finetune_lora_reason.sh``, see ``georeasoner_recipe.json``) trains LoRA
adapters of rank 64 (alpha 16, dropout 0.05) on the language model's attention and MLP projections with the
vision tower frozen: lr 1e-5, cosine schedule, warm-up ratio 0.01, weight decay 0.1, Adam beta2 0.95,
5 epochs, 10 examples per device x 8 accumulation steps = an effective batch of 80, bf16, gradient
checkpointing. Stage 2 uses the same recipe on the location data.

The tiny model has 2 layers of width 128 and starts from a short caption training, so it needs a far
larger learning rate and a smaller batch to learn anything in a minute; those differences are
:data:`TINY_OVERRIDES` and nothing else.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from geolib.errors import GeolibError

# The language model's attention and MLP projections (Qwen2 / Qwen2.5 / Llama names), and only those of the
# language model: Qwen2.5-VL's vision blocks also have gate/up/down projections, which must stay frozen.
LANGUAGE_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TARGET_MODULES = r".*language_model.*\.(" + "|".join(LANGUAGE_PROJECTIONS) + r")"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how an adapter is trained."""

    rank: int = 64
    alpha: int = 16
    dropout: float = 0.05
    target_modules: str = TARGET_MODULES
    learning_rate: float = 1e-5
    warmup_ratio: float = 0.01
    weight_decay: float = 0.1
    adam_beta2: float = 0.95
    epochs: float = 5
    effective_batch: int = 80
    batch_per_device: int = 10
    max_grad_norm: float = 1.0  # the Hugging Face Trainer's default, which the authors' script kept
    max_length: int = 2048  # tokens; longer conversations are an error, not silently cut
    gradient_checkpointing: bool = True  # only on GPU: on a CPU it costs time and saves nothing needed
    checkpoint_every: int = 30  # optimizer steps, as the authors' save_steps
    seed: int = 0

    def __post_init__(self):
        for name in (
            "rank",
            "alpha",
            "effective_batch",
            "batch_per_device",
            "max_length",
            "checkpoint_every",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GeolibError(f"recipe: {name} must be a positive whole number, not {value!r}")
        for name in ("learning_rate", "epochs"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise GeolibError(f"recipe: {name} must be a positive number, not {value!r}")
        for name in ("dropout", "warmup_ratio", "adam_beta2"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value < 1):
                raise GeolibError(f"recipe: {name} must be in [0, 1), not {value!r}")
        if not (isinstance(self.weight_decay, int | float) and 0 <= self.weight_decay <= 1):
            raise GeolibError(f"recipe: weight_decay must be in [0, 1], not {self.weight_decay!r}")

    def micro_batch(self, processes: int = 1) -> int:
        """Examples per forward pass on each process: ``batch_per_device``, smaller when that many on every
        process would already exceed the effective batch."""
        return min(self.batch_per_device, math.ceil(self.effective_batch / processes))

    def accumulation_steps(self, processes: int = 1) -> int:
        """Micro-batches per optimizer step on each process, so that the effective batch is kept."""
        return max(1, math.ceil(self.effective_batch / (self.micro_batch(processes) * processes)))

    def replace(self, **changes) -> Recipe:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise GeolibError(f"recipe: unknown setting(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)


PAPER_RECIPE = Recipe()

TINY_OVERRIDES = {
    "rank": 16,
    "alpha": 32,
    "learning_rate": 4e-3,
    "warmup_ratio": 0.05,
    "epochs": 1,
    "effective_batch": 16,
    "batch_per_device": 16,
    "max_length": 512,
    "checkpoint_every": 50,
}


def recipe(profile_name: str | None = None, **changes) -> Recipe:
    """The recipe of a profile (the active one by default), with ``changes`` on top."""
    from geolib.profiles import profile

    chosen = profile() if profile_name is None else profile_name
    base = PAPER_RECIPE.replace(**TINY_OVERRIDES) if chosen == "tiny" else PAPER_RECIPE
    return base.replace(**changes)

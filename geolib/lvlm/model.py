"""Load the vision-language model and its processor, by registry name or path, in either profile.

``load_vlm()`` resolves ``vlm`` (Qwen2-VL-2B-Instruct in ``full``, the tiny Qwen2-VL built on ClueWorld in
``tiny``) and loads it with ``AutoModelForImageTextToText`` and ``AutoProcessor``: native transformers
classes, ``trust_remote_code`` off. Any other native image-text-to-text checkpoint works by name.
"""

from __future__ import annotations

from pathlib import Path

from geolib.errors import GeolibError

# Full-profile image budget: Qwen2-VL turns every 28 x 28 pixels into one token, so a 1024 x 1024 view would
# cost 1,300 tokens; 448 x 448 (256 tokens) keeps a T4 within memory while a sign stays readable.
FULL_IMAGE_PIXELS = 448 * 448


def resolve_vlm(name: str | None = None) -> str:
    """A registry name (default ``vlm``) or a local directory / hub id, as ``from_pretrained`` takes it."""
    from geolib.profiles import registered, resolve

    name = name or "vlm"
    return resolve(name) if name in registered() else name


def load_processor(source: str, *, image_pixels: int | None = FULL_IMAGE_PIXELS):
    from transformers import AutoProcessor

    kwargs = {}
    if image_pixels and not Path(source).is_dir():  # the tiny processor fixes its own size
        kwargs = {
            "size": {"shortest_edge": 28 * 28 * 4, "longest_edge": image_pixels}
        }  # Qwen2-VL: pixel counts
    try:
        processor = AutoProcessor.from_pretrained(source, trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as err:
        raise GeolibError(f"cannot load the processor of {source}: {str(err).splitlines()[0]}") from None
    tokenizer = getattr(processor, "tokenizer", None)
    if (
        getattr(processor, "chat_template", None) is None
        and getattr(tokenizer, "chat_template", None) is None
    ):
        raise GeolibError(f"{source} has no chat template: it is not an instruction-tuned model")
    return processor


def load_vlm(name: str | None = None, *, device=None, four_bit: bool = False, dtype=None):
    """``(model, processor)`` for ``name`` (default: the registry's ``vlm``), in evaluation mode.

    On a GPU the weights load in bfloat16 (float16 where bfloat16 is not supported, e.g. a T4); on a CPU in
    float32. ``four_bit`` loads them quantised with bitsandbytes (QLoRA; needs a CUDA GPU and the
    ``qlora`` extra).
    """
    import torch
    from transformers import AutoModelForImageTextToText

    from geolib.profiles import device as pick_device

    source = resolve_vlm(name)
    target = pick_device(device) if not isinstance(device, torch.device) else device
    if dtype is None:
        if target.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
    kwargs = {"dtype": dtype, "trust_remote_code": False}
    if four_bit:
        if target.type != "cuda":
            raise GeolibError("4-bit loading (QLoRA) needs a CUDA GPU; this machine has none")
        try:
            from transformers import BitsAndBytesConfig
        except ImportError:  # pragma: no cover - transformers always has it
            raise GeolibError("4-bit loading needs transformers' BitsAndBytesConfig") from None
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise GeolibError("4-bit loading needs bitsandbytes: pip install 'geolib[qlora]'") from None
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": target.index or 0}
    try:
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        raise GeolibError(
            f"cannot load the vision-language model {source}: {str(err).splitlines()[0]}"
        ) from None
    if not four_bit:
        model.to(target)
    model.eval()
    return model, load_processor(source)


def parameter_counts(model) -> tuple[int, int]:
    """``(trainable, total)`` parameters (a 4-bit weight counts as the parameters it packs)."""
    trainable = total = 0
    for parameter in model.parameters():
        count = parameter.numel()
        if hasattr(parameter, "quant_state"):  # bitsandbytes packs two 4-bit values per byte
            count *= 2
        total += count
        trainable += count if parameter.requires_grad else 0
    return trainable, total

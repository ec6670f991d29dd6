"""Ask the model about images: batched generation (greedy or sampled) through the chat template.

Batched generation pads on the left (the answers must all start right after their own prompt), which is
the opposite of training; :func:`answer_images` switches the tokenizer for the call and restores it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from geolib.errors import GeolibError
from geolib.formats.sft import SFTExample
from geolib.lvlm.data import messages_of


@contextlib.contextmanager
def left_padding(tokenizer):
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side = side


def answer_images(
    model,
    processor,
    images: Sequence,
    prompt: str,
    *,
    max_new_tokens: int = 64,
    batch_size: int = 32,
    temperature: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[str]:
    """The model's answer to ``prompt`` about each image (PIL images or paths), as text: greedy, or sampled
    at ``temperature`` (top-p 0.9, seeded, so a rerun gives the same answers)."""
    import torch
    from tqdm.auto import tqdm

    from geolib.images import as_image

    text = processor.apply_chat_template(
        messages_of(SFTExample("", "", prompt, {}), with_answer=False),
        tokenize=False,
        add_generation_prompt=True,
    )
    tokenizer = processor.tokenizer
    answers: list[str] = []
    device = next(model.parameters()).device
    starts = range(0, len(images), batch_size)
    sampling = {"do_sample": False}
    if temperature is not None:
        if not temperature > 0:
            raise GeolibError(f"temperature must be > 0, not {temperature!r}")
        sampling = {"do_sample": True, "temperature": float(temperature), "top_p": 0.9}
        torch.manual_seed(seed)
    with left_padding(tokenizer), torch.no_grad():
        for start in tqdm(starts, desc="answering", unit="batch", disable=not progress or len(starts) < 2):
            chunk = [as_image(image) for image in images[start : start + batch_size]]
            inputs = processor(text=[text] * len(chunk), images=chunk, return_tensors="pt", padding=True).to(
                device
            )
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                **sampling,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = output[:, inputs["input_ids"].shape[1] :]
            answers += tokenizer.batch_decode(new, skip_special_tokens=True)
    return answers

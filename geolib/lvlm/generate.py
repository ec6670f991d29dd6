"""Ask the model about images: batched greedy generation through the chat template, and scoring the answers.

Batched generation pads on the left (the answers must all start right after their own prompt), which is
the opposite of training; :func:`answer_images` switches the tokenizer for the call and restores it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

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
    progress: bool = True,
) -> list[str]:
    """The model's greedy answer to ``prompt`` about each image (PIL images or paths), as text."""
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
    with left_padding(tokenizer), torch.no_grad():
        for start in tqdm(starts, desc="answering", unit="batch", disable=not progress or len(starts) < 2):
            chunk = [as_image(image) for image in images[start : start + batch_size]]
            inputs = processor(text=[text] * len(chunk), images=chunk, return_tensors="pt", padding=True).to(
                device
            )
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            new = output[:, inputs["input_ids"].shape[1] :]
            answers += tokenizer.batch_decode(new, skip_special_tokens=True)
    return answers

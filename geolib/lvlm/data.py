"""SFT conversations as the model sees them: chat template, image tokens, and labels on the answer only.

An SFT example (``geolib.formats.sft``: an image, the user's prompt, the assistant's answer) becomes one
conversation, rendered by the processor's chat template and tokenised with the image's tokens expanded.
The loss is on what the assistant says: every label outside an assistant turn's answer (the system turn,
the user's prompt, the image tokens, the ``<|im_start|>assistant`` header, padding) is -100; the answer and
its closing ``<|im_end|>`` are learned, so that the model also learns to stop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geolib.errors import DataError
from geolib.formats.sft import SFTExample

IGNORE = -100


def messages_of(example: SFTExample, *, with_answer: bool = True) -> list[dict]:
    """The conversation of one example, in the processor's message format."""
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": example.prompt}]}
    if not with_answer:
        return [user]
    answer = example.answer if isinstance(example.answer, str) else repr(example.answer)
    return [user, {"role": "assistant", "content": [{"type": "text", "text": answer}]}]


def _token_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def assistant_labels(input_ids: Sequence[int], tokenizer) -> np.ndarray:
    """``input_ids`` with -100 everywhere except inside assistant answers (each through its ``<|im_end|>``)."""
    ids = list(map(int, input_ids))
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    header = _token_ids(tokenizer, "assistant\n")
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    i = 0
    while i < len(ids):
        if ids[i] == start and ids[i + 1 : i + 1 + len(header)] == header:
            j = i + 1 + len(header)
            while j < len(ids) and ids[j] != end:
                labels[j] = ids[j]
                j += 1
            if j < len(ids):
                labels[j] = ids[j]  # the closing <|im_end|>: the model learns to stop
            i = j
        i += 1
    return labels


def encode(processor, example: SFTExample, image, *, with_answer: bool = True) -> dict:
    """One example as model inputs: ``input_ids``, ``attention_mask``, ``pixel_values``,
    ``image_grid_thw`` and (with the answer) ``labels``; tensors without a batch dimension."""
    text = processor.apply_chat_template(
        messages_of(example, with_answer=with_answer), tokenize=False, add_generation_prompt=not with_answer
    )
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    item = {key: value[0] for key, value in inputs.items() if key not in ("pixel_values", "image_grid_thw")}
    item["pixel_values"] = inputs["pixel_values"]
    item["image_grid_thw"] = inputs["image_grid_thw"]
    if with_answer:
        import torch

        labels = assistant_labels(item["input_ids"].tolist(), processor.tokenizer)
        if not (labels != IGNORE).any():
            raise DataError("the answer was cut off entirely", record=example.id)
        item["labels"] = torch.as_tensor(labels)
    return item


def collate(items: Sequence[dict], pad_token_id: int) -> dict:
    """Pad a list of :func:`encode` outputs on the right into one batch; images are concatenated."""
    import torch

    length = max(len(item["input_ids"]) for item in items)
    batch = {}
    for key, fill in (
        ("input_ids", pad_token_id),
        ("attention_mask", 0),
        ("labels", IGNORE),
        ("mm_token_type_ids", 0),
    ):
        if key in items[0]:
            batch[key] = torch.stack(
                [
                    torch.nn.functional.pad(item[key], (0, length - len(item[key])), value=fill)
                    for item in items
                ]
            )
    batch["pixel_values"] = torch.cat([item["pixel_values"] for item in items])
    batch["image_grid_thw"] = torch.cat([item["image_grid_thw"] for item in items])
    return batch

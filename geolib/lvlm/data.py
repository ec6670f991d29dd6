"""SFT conversations as the model sees them: chat template, image tokens, and labels on the answer only.

An SFT example (``geolib.formats.sft``: an image, the user's prompt, the assistant's answer) becomes one
conversation, rendered by the processor's chat template and tokenised with the image's tokens expanded.
The loss is on what the assistant says: every label outside an assistant turn's answer (the system turn,
the user's prompt, the image tokens, the ``<|im_start|>assistant`` header, padding) is -100; the answer and
its closing ``<|im_end|>`` are learned, so that the model also learns to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geolib.errors import DataError
from geolib.formats.sft import SFTExample

IGNORE = -100


def messages_of(example: SFTExample, *, with_answer: bool = True, with_image: bool = True) -> list[dict]:
    """The conversation of one example, in the processor's message format (text-only without the image)."""
    image = [{"type": "image"}] if with_image else []
    user = {"role": "user", "content": [*image, {"type": "text", "text": example.prompt}]}
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
    ``image_grid_thw`` and (with the answer) ``labels``; tensors without a batch dimension.
    ``image=None`` makes a text-only conversation (no pixels)."""
    text = processor.apply_chat_template(
        messages_of(example, with_answer=with_answer, with_image=image is not None),
        tokenize=False,
        add_generation_prompt=not with_answer,
    )
    inputs = processor(text=[text], images=None if image is None else [image], return_tensors="pt")
    item = {key: value[0] for key, value in inputs.items() if key not in ("pixel_values", "image_grid_thw")}
    if image is not None:
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
    """Pad a list of :func:`encode` outputs on the right into one batch; images are concatenated (text-only
    items add none)."""
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
    with_images = [item for item in items if "pixel_values" in item]
    if with_images:
        batch["pixel_values"] = torch.cat([item["pixel_values"] for item in with_images])
        batch["image_grid_thw"] = torch.cat([item["image_grid_thw"] for item in with_images])
    return batch


def image_path(example: SFTExample, sft_path: Path) -> Path:
    """Where an example's image is: absolute as written, else relative to the SFT file's folder."""
    path = Path(example.image)
    return path if path.is_absolute() else sft_path.parent / path


class SFTData:
    """The examples of one SFT file, checked up front and encoded for the model on demand.

    Every record is read and every image fully decoded before training starts, so that a bad file fails
    in seconds with its name and record instead of hours into a run. Encoded examples are kept in memory
    when ``keep`` (the tiny profile's few thousand short conversations); a full-size run re-encodes.
    """

    def __init__(self, path, stage: int, processor, *, max_length: int, keep: bool = True, progress=True):
        from tqdm.auto import tqdm

        from geolib.formats.sft import read_sft_json
        from geolib.images import load_image

        self.path = Path(path)
        if self.path.is_dir():
            raise DataError("is a folder, expected an SFT JSON file", source=str(self.path))
        self.examples = read_sft_json(self.path, stage)
        if not self.examples:
            raise DataError("holds no examples", source=str(self.path))
        seen: dict[str, int] = {}
        for position, example in enumerate(self.examples):
            if example.id in seen:
                raise DataError(
                    f"id {example.id!r} also names record #{seen[example.id]}",
                    source=self.path.name,
                    record=f"#{position}",
                    field="id",
                )
            seen[example.id] = position
        self.stage, self.processor, self.max_length, self.keep = stage, processor, max_length, keep
        self.images = []
        for position, example in enumerate(
            tqdm(self.examples, desc=f"checking {self.path.name}", unit="image", disable=not progress)
        ):
            try:
                image = load_image(image_path(example, self.path))
            except DataError as err:
                raise DataError(
                    f"{err}", source=self.path.name, record=f"#{position} (id {example.id!r})", field="image"
                ) from None
            self.images.append(image if keep else None)
        self._encoded: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict:
        if index in self._encoded:
            return self._encoded[index]
        from geolib.images import load_image

        example = self.examples[index]
        image = self.images[index] if self.keep else load_image(image_path(example, self.path))
        item = encode(self.processor, example, image)
        if len(item["input_ids"]) > self.max_length:
            raise DataError(
                f"the conversation is {len(item['input_ids'])} tokens long, more than max_length "
                f"{self.max_length}; shorten the answer or raise the limit",
                source=self.path.name,
                record=f"#{index} (id {example.id!r})",
            )
        if self.keep:
            self._encoded[index] = item
        return item

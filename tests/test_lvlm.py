"""The tiny vision-language model's pieces: tokenizer, chat template, processor, assistant-only labels."""

from __future__ import annotations

import numpy as np
import pytest

from geolib.formats.sft import stage1_example, stage2_example
from geolib.lvlm.data import IGNORE, assistant_labels, collate, encode
from geolib.lvlm.tiny import tiny_processor, tiny_vlm_config, train_tokenizer


@pytest.fixture(scope="module")
def samples():
    from geolib.world import generate

    return list(generate(24, seed=4, size=112, tile_size=32, workers=1, progress=False))


@pytest.fixture(scope="module")
def processor(samples):
    texts = [s.reasoning for s in samples] + [s.description for s in samples]
    return tiny_processor(train_tokenizer(texts, vocab_size=600))


def _examples(samples):
    return [
        stage1_example(s.id, "x.jpg", s.country_name, s.reasoning)
        if i % 2
        else stage2_example(s.id, "x.jpg", s.country_name, s.city)
        for i, s in enumerate(samples)
    ]


def test_chat_template_lays_out_a_conversation_as_qwen2_vl(processor, samples):
    example = _examples(samples)[0]
    from geolib.lvlm.data import messages_of

    text = processor.apply_chat_template(messages_of(example), tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        f"{example.prompt}<|im_end|>\n<|im_start|>assistant\n{example.answer!r}<|im_end|>\n"
    )
    prompt = processor.apply_chat_template(
        messages_of(example, with_answer=False), tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n") and text.startswith(prompt)


def test_tokenizer_round_trips_clueworld_text_and_keeps_special_tokens_whole(processor, samples):
    tokenizer = processor.tokenizer
    text = samples[0].reasoning
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    ids = tokenizer("<|im_start|>user<|image_pad|><|im_end|>", add_special_tokens=False)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[0] == "<|im_start|>" and tokens[-2:] == ["<|image_pad|>", "<|im_end|>"]


def test_only_the_assistant_answer_carries_labels(processor, samples):
    for example, sample in zip(_examples(samples)[:6], samples, strict=False):
        item = encode(processor, example, sample.image)
        ids, labels = item["input_ids"].numpy(), item["labels"].numpy()
        learned = labels != IGNORE
        assert (labels[learned] == ids[learned]).all()
        # the learned tokens are exactly the answer and its <|im_end|>, contiguous, at the end (before "\n")
        span = np.flatnonzero(learned)
        assert (np.diff(span) == 1).all() and span[-1] == len(ids) - 2
        assert processor.tokenizer.decode(ids[learned]) == f"{example.answer!r}<|im_end|>"
        image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        assert (ids == image_token).sum() == 16 and not learned[ids == image_token].any()


def test_labels_of_two_assistant_turns_and_of_none(processor):
    tokenizer = processor.tokenizer
    text = (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nFrance<|im_end|>\n"
        "<|im_start|>user\nand?<|im_end|>\n<|im_start|>assistant\nParis<|im_end|>\n"
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    labels = assistant_labels(ids, tokenizer)
    assert tokenizer.decode([t for t in labels if t != IGNORE]) == "France<|im_end|>Paris<|im_end|>"
    assert (assistant_labels(ids[:5], tokenizer) == IGNORE).all()


def test_a_batch_trains_the_tiny_qwen2_vl(processor, samples):
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(tiny_vlm_config(processor.tokenizer))
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 2e6
    items = [encode(processor, e, s.image) for e, s in zip(_examples(samples)[:4], samples, strict=False)]
    batch = collate(items, processor.tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape and batch["pixel_values"].shape[0] == 4 * 64
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE).all()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_a_text_only_conversation_has_no_pixels_and_batches_with_images(processor, samples):
    example = _examples(samples)[0]
    text_only = encode(processor, example, None)
    assert "pixel_values" not in text_only
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert image_pad not in text_only["input_ids"].tolist()
    batch = collate(
        [text_only, encode(processor, example, samples[0].image)], processor.tokenizer.pad_token_id
    )
    assert batch["pixel_values"].shape[0] == 64 and batch["image_grid_thw"].tolist() == [[1, 8, 8]]


def test_reasons_mention_exactly_the_visible_clues_of_a_clueworld_trace(samples):
    from geolib.lvlm.reasons import clue_scores, mentioned_clues

    for sample in samples:
        assert mentioned_clues(sample.reasoning) == set(sample.clues.values()), sample.reasoning
    rich = next(s for s in samples if len(s.clues) >= 3)
    perfect = clue_scores([rich.reasoning], [rich.clues])
    assert perfect["recall"] == perfect["precision"] == 1.0
    phrase = next(iter(rich.clues.values()))
    invented = f"I see {phrase}, which leaves 3 of the 29 countries. I see a flag with a red disc on blue, so only Japan fits."
    scores = clue_scores([invented], [rich.clues])
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(1 / len(rich.clues))
    assert clue_scores(["no reasons at all"], [rich.clues])["recall"] == 0.0


def test_recall_by_kind_counts_each_kind_of_clue_over_the_views_that_show_one(samples):
    from geolib.lvlm.reasons import recall_by_kind
    from geolib.lvlm.tiny import caption, caption_mentions, caption_phrases

    views = [s.clues for s in samples if s.clues][:20]
    assert set(recall_by_kind([s.reasoning for s in samples if s.clues][:20], views).values()) == {1.0}
    first = dict([next(iter(views[0].items()))])  # one view that names only its first clue
    texts = [f"I see {first.popitem()[1]}, which fits."] + [""] * (len(views) - 1)
    by_kind = recall_by_kind(texts, views)
    kind = next(iter(views[0]))
    assert by_kind[kind] == pytest.approx(1 / sum(kind in v for v in views))
    assert sum(by_kind.values()) == by_kind[kind]
    # captions: every clue read back, the landmark as the caption words it
    phrases = [caption_phrases(v) for v in views]
    assert set(recall_by_kind([caption(v) for v in views], phrases, caption_mentions).values()) == {1.0}
    with pytest.raises(ValueError, match="2 texts for 1 views"):
        recall_by_kind(["", ""], views[:1])


def test_a_caption_never_names_the_country_or_the_city(samples):
    from geolib.lvlm.tiny import LANDMARK, caption

    assert any("landmark" in s.clues for s in samples)  # the clue whose phrase names the city
    for s in samples:
        text = caption(s.clues)
        assert s.country_name not in text and s.city not in text
        assert (LANDMARK in text) == ("landmark" in s.clues)

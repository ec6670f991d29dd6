"""The tiny profile's vision-language model: the same classes as Qwen2-VL-2B-Instruct, at toy size.

* A byte-level BPE tokenizer trained offline on ClueWorld text (prompts, answers, reasons, captions), with
  Qwen2-VL's special tokens (``<|im_start|>``, ``<|vision_start|>``, ``<|image_pad|>``...) and a chat
  template written for the course that lays a conversation out as Qwen2-VL's does.
* ``Qwen2VLImageProcessor`` at a fixed 112 x 112 pixels: 8 x 8 patches of 14 px, merged 2 x 2 into
  16 image tokens per picture.
* ``Qwen2VLForConditionalGeneration`` built from a small ``Qwen2VLConfig`` (2 text layers of width 128,
  a 2-block vision tower), so that LoRA, the processor and the chat template run exactly as in ``full``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
IMAGE_SIZE = 112  # pixels: 8 x 8 patches of 14 px, 16 tokens after the 2 x 2 merge
VOCAB_SIZE = 2048

# A conversation as Qwen2-VL lays it out: a default system turn, then each turn between <|im_start|>role
# and <|im_end|>, an image as <|vision_start|><|image_pad|><|vision_end|> (the processor repeats the pad
# once per image token), and "<|im_start|>assistant\n" when a generation prompt is asked for.
CHAT_TEMPLATE = (
    "{%- set nl = '\\n' -%}"
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{ '<|im_start|>system' + nl + 'You are a helpful assistant.<|im_end|>' + nl }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + nl }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>' + nl }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant' + nl }}{%- endif -%}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``, with the special tokens and
    the chat template above; padding on the right with ``<|endoftext|>``, as Qwen2's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        padding_side="right",
        model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_image_processor(size: int = IMAGE_SIZE):
    """``Qwen2VLImageProcessor`` that resizes every image to ``size`` x ``size`` (a multiple of 28)."""
    from transformers import Qwen2VLImageProcessor

    pixels = size * size
    return Qwen2VLImageProcessor(
        min_pixels=pixels, max_pixels=pixels, size={"shortest_edge": pixels, "longest_edge": pixels}
    )


def tiny_processor(tokenizer, size: int = IMAGE_SIZE):
    """A ``Qwen2VLProcessor`` from the tiny tokenizer and image processor (videos are not used)."""
    from transformers import Qwen2VLProcessor, Qwen2VLVideoProcessor

    return Qwen2VLProcessor(
        image_processor=tiny_image_processor(size),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def tiny_vlm_config(tokenizer, **overrides):
    """A ``Qwen2VLConfig`` of about a million parameters whose special token ids are the tokenizer's."""
    from transformers import Qwen2VLConfig

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    hidden = overrides.pop("hidden_size", 128)
    heads = overrides.pop("num_attention_heads", 4)
    half_head = hidden // heads // 2
    # M-RoPE splits each head's rotary frequencies between time, height and width
    sections = [half_head - 2 * (half_head // 3), half_head // 3, half_head // 3]
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": overrides.pop("intermediate_size", 4 * hidden),
        "num_hidden_layers": overrides.pop("num_hidden_layers", 2),
        "num_attention_heads": heads,
        "num_key_value_heads": overrides.pop("num_key_value_heads", 2),
        "max_position_embeddings": 2048,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": sections},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": overrides.pop("vision_depth", 2),
        "embed_dim": overrides.pop("vision_width", 64),
        "hidden_size": hidden,  # the merger projects image tokens to the language model's width
        "num_heads": overrides.pop("vision_heads", 4),
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    return Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
        **overrides,
    )


# ----------------------------------------------------------------------------- the tiny base model

CAPTION_PROMPT = "What do you see?"
GUIDE_PROMPT = "How do you tell where a street view was taken?"
CITY_PROMPT = "Which country is {city} in?"
NO_CLUES = "nothing that tells where this is"
LANDMARK = "a landmark tower"  # the clue's phrase names the city: a caption keeps only what is seen
BASE_VIEWS = 2000  # ClueWorld views of the caption training (their own world seed: never a curated view)
BASE_WORLD_SEED = 1000
BASE_STEPS = 600
BASE_BATCH = 16
BASE_LEARNING_RATE = 2e-3


def caption_phrases(clues: dict[str, str]) -> dict[str, str]:
    """Each visible clue as a caption words it: its own phrase, except the landmark's, which names the city."""
    return {clue: LANDMARK if clue == "landmark" else phrase for clue, phrase in clues.items()}


def caption(clues: dict[str, str]) -> str:
    """What a view shows, as the phrases of its visible clues: never the country or the city."""
    return "; ".join(caption_phrases(clues).values()) or NO_CLUES


def caption_mentions(text: str) -> set[str]:
    """The clue phrases a caption (the base model's answer to ``CAPTION_PROMPT``) names."""
    return {phrase.strip() for phrase in (text or "").split(";")} - {"", NO_CLUES}


def tokenizer_texts(samples) -> list[str]:
    """Every kind of text the course shows the tiny model: prompts, captions, reasons, descriptions, and the
    name of every ClueWorld country and city (so that an answer is a few tokens, not a spelling)."""
    from geolib.formats.sft import INFERENCE_PROMPT, STAGE1_PROMPT, STAGE2_PROMPT
    from geolib.world import countries
    from geolib.world.places import cities

    texts = [CAPTION_PROMPT, STAGE1_PROMPT, STAGE2_PROMPT, INFERENCE_PROMPT]
    for s in samples:
        texts += [s.reasoning, s.description, caption(s.clues)]
    for country in countries().values():
        answer = {"country": country.name, "city": ""}
        texts += [repr({**answer, "city": city.name}) for city in cities(country.iso2)]
    return texts


def base_conversations(samples) -> list:
    """What the tiny base model learns, standing in for a real model's pretraining (it never links a view to
    its place): captions of views (it can see), guide texts without images (it has read how clues point to
    countries, as a real model has read about GeoGuessr) and which country each city is in (it knows the
    names and the answer format; an answer token it never produced would have an untrained embedding that a
    LoRA adapter cannot reach)."""
    from geolib.formats.sft import SFTExample
    from geolib.world import countries
    from geolib.world.places import cities

    pairs = []
    for s in samples:
        pairs.append((SFTExample(s.id, "", CAPTION_PROMPT, caption(s.clues)), s.image))
        pairs.append((SFTExample(s.id, "", GUIDE_PROMPT, s.reasoning), None))
    for country in countries().values():
        for city in cities(country.iso2):
            answer = repr({"country": country.name, "city": city.name})
            pairs.append((SFTExample(city.name, "", CITY_PROMPT.format(city=city.name), answer), None))
    return pairs


def build_tiny_vlm(out_dir: Path, seed: int, *, views: int = BASE_VIEWS, steps: int = BASE_STEPS) -> None:
    """The registry's tiny ``vlm``: tokenizer, processor and a Qwen2-VL trained from scratch on
    :func:`base_conversations` of a ClueWorld of its own, so that LoRA starts from a model that can see.

    Writes what ``from_pretrained`` of the model and of the processor read, plus ``base_training.json``
    (the settings and the loss of every step)."""
    import torch
    from tqdm.auto import trange
    from transformers import Qwen2VLForConditionalGeneration

    from geolib.iox import write_json
    from geolib.lvlm.data import collate, encode
    from geolib.lvlm.recipe import PAPER_RECIPE
    from geolib.training import epoch_order, make_optimizer
    from geolib.world import generate

    torch.manual_seed(seed)
    samples = list(
        generate(views, seed=BASE_WORLD_SEED + seed, size=IMAGE_SIZE, tile_size=32, progress=False)
    )
    tokenizer = train_tokenizer(tokenizer_texts(samples))
    processor = tiny_processor(tokenizer)
    model = Qwen2VLForConditionalGeneration(tiny_vlm_config(tokenizer))
    items = [encode(processor, example, image) for example, image in base_conversations(samples)]
    recipe = PAPER_RECIPE.replace(learning_rate=BASE_LEARNING_RATE, warmup_ratio=0.02)
    optimizer, schedule = make_optimizer(model.parameters(), recipe, steps)
    per_epoch = len(items) // BASE_BATCH
    losses = []
    model.train()
    for step in trange(steps, desc="base training", unit="step", mininterval=2):
        epoch, k = divmod(step, per_epoch)
        order = epoch_order(len(items), seed, epoch)[k * BASE_BATCH : (k + 1) * BASE_BATCH]
        loss = model(**collate([items[i] for i in order], tokenizer.pad_token_id)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
    model.eval()
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    write_json(
        out_dir / "base_training.json",
        {
            "tasks": [CAPTION_PROMPT, GUIDE_PROMPT, CITY_PROMPT],
            "conversations": len(items),
            "views": views,
            "world_seed": BASE_WORLD_SEED + seed,
            "steps": steps,
            "batch": BASE_BATCH,
            "learning_rate": BASE_LEARNING_RATE,
            "loss": losses,
        },
    )

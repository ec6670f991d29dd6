"""Inference that explains itself: country, city and reasons for each image, placed on the map.

Two ways of asking (``PLANS``):

* ``paper``: GeoReasoner's inference prompt (country, city and reasons in one JSON answer) with both
  adapters loaded, as the authors' ``infer.py`` does. The full profile's default.
* ``stages``: the two prompts the adapters were trained on, one after the other: the stage-2 prompt, with
  both adapters, for the country and the city; then the stage-1 prompt, with the stage-1 adapter alone, for
  the reasons. The tiny profile's default: a one-million-parameter model answers the questions it was
  trained on and nothing else (with both adapters it answers every prompt as stage 2 taught it), whereas a
  real model generalises to the paper's wording.

Each answer becomes a record ``id, path, answer, country, city, reasons, latitude, longitude, parsed``:
``answer`` is the raw text (the stage answers joined by a blank line), the fields are what
``geolib.formats.answers.read_model_answer`` could read, the point is the city's (else the country's,
``geolib.geo.evaluate.place_of``) and ``parsed`` says whether a country or city was read. The records feed
``geolib evaluate`` as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from geolib.errors import GeolibError
from geolib.formats.sft import INFERENCE_PROMPT, STAGE1_PROMPT, STAGE2_PROMPT

# each plan: the prompts asked in turn, with the tokens each answer may take and whether the stage-1 adapter
# answers alone
PLANS = {
    "paper": ((INFERENCE_PROMPT, 320, False),),
    "stages": ((STAGE2_PROMPT, 32, False), (STAGE1_PROMPT, 240, True)),
}
COLUMNS = ("answer", "country", "city", "reasons", "latitude", "longitude", "parsed")


def default_plan() -> str:
    from geolib.profiles import profile

    return "stages" if profile() == "tiny" else "paper"


def default_adapters() -> list[Path]:
    """The course's stacked adapters (``stage2`` on ``stage1``) in the tiny profile, trained on first use;
    the full profile has no default, since its adapters take a GPU hour to train."""
    from geolib.profiles import profile

    if profile() != "tiny":
        raise GeolibError(
            "the full profile needs --adapters: a stage-2 adapter directory from `geolib train --stage 2` "
            "(it carries its stage-1 adapter), or a stage-1 and a stage-2 directory"
        )
    from geolib.lvlm.runs import course_adapter

    return [course_adapter("stage2")]


def load_predictor(adapters: Sequence = (), *, model_name: str | None = None, device=None):
    """``(model, processor)`` with ``adapters`` active: none (the base model), one directory (a stage-2 one
    stacks the stage-1 adapter it carries) or a stage-1 and a stage-2 directory, stacked in that order."""
    from geolib.lvlm.adapters import load_adapters
    from geolib.lvlm.model import load_vlm

    adapters = [Path(a) for a in adapters]
    if len(adapters) > 2:
        raise GeolibError(f"at most two adapter directories (stage 1, stage 2), got {len(adapters)}")
    model, processor = load_vlm(model_name, device=device)
    if len(adapters) == 1:
        model = load_adapters(model, adapters[0])
    elif len(adapters) == 2:
        model = load_adapters(model, adapters[1], stage1_dir=adapters[0])
    return model, processor


def record_from_texts(texts: Sequence[str]) -> dict:
    """One record from the answers to a plan's prompts: each field from the first answer that gives it."""
    from geolib.formats.answers import FIELDS, read_model_answer
    from geolib.geo.evaluate import place_of

    answers = [read_model_answer(text) for text in texts]
    fields = {key: next((getattr(a, key) for a in answers if getattr(a, key)), None) for key in FIELDS}
    point = place_of(fields["country"], fields["city"])
    return {
        "answer": "\n\n".join(texts),
        **fields,
        "latitude": point[0] if point else None,
        "longitude": point[1] if point else None,
        "parsed": any(a.parsed for a in answers),
    }


def answer_views(
    model,
    processor,
    images: Sequence,
    *,
    plan: str | None = None,
    temperature: float | None = None,
    seed: int = 0,
    batch_size: int = 8,
    progress: bool = True,
) -> list[dict]:
    """A record (see the module docstring) for each image: PIL images or paths."""
    import contextlib

    from geolib.lvlm.adapters import stage1_only
    from geolib.lvlm.generate import answer_images

    plan = plan or default_plan()
    if plan not in PLANS:
        raise GeolibError(f"prompt plan {plan!r} is not one of {', '.join(PLANS)}")
    texts = []
    for prompt, tokens, alone in PLANS[plan]:
        with stage1_only(model) if alone else contextlib.nullcontext(model):
            texts.append(
                answer_images(
                    model,
                    processor,
                    images,
                    prompt,
                    max_new_tokens=tokens,
                    batch_size=batch_size,
                    temperature=temperature,
                    seed=seed,
                    progress=progress,
                )
            )
    return [record_from_texts(answers) for answers in zip(*texts, strict=True)]


def _adapter_identity(path: Path) -> str:
    from geolib.lvlm.adapters import ADAPTER_FILES, read_adapter_dir
    from geolib.lvlm.train import fingerprint

    read_adapter_dir(path)
    # the weights' hash, not the folder's place: a kit unpacked elsewhere holds the same adapters
    return f"{path.name} {fingerprint(path / ADAPTER_FILES[1])}"


def predict_images(
    inputs,
    out,
    *,
    adapters: Sequence = (),
    model_name: str | None = None,
    plan: str | None = None,
    temperature: float | None = None,
    seed: int = 0,
    batch_size: int = 8,
    log=None,
):
    """Answer every image of ``inputs`` (files, folders, OSV-5M-style CSVs) into ``out`` (``.jsonl`` or
    ``.csv``); unreadable images are skipped into ``<stem>.skipped.csv`` and a rerun continues."""
    from geolib.batch.inputs import collect_inputs
    from geolib.batch.runner import run_batch
    from geolib.batch.stages import file_output
    from geolib.lvlm.model import resolve_vlm

    plan = plan or default_plan()
    if plan not in PLANS:
        raise GeolibError(f"prompt plan {plan!r} is not one of {', '.join(PLANS)}")
    if temperature is not None and not temperature > 0:
        raise GeolibError(f"temperature must be > 0, not {temperature!r}")
    if len(adapters) > 2:
        raise GeolibError(f"at most two adapter directories (stage 1, stage 2), got {len(adapters)}")
    adapters = [Path(a) for a in adapters] or default_adapters()
    model_source = resolve_vlm(model_name)
    settings = {
        "command": "predict",
        "model": Path(model_source).name if Path(model_source).is_dir() else model_source,
        "adapters": [_adapter_identity(a) for a in adapters],
        "plan": plan,
        "temperature": temperature,
        "seed": seed,
    }

    def make_scorer(device):
        model, processor = load_predictor(adapters, model_name=model_name, device=device)

        def score(items, images) -> list:
            records = answer_views(
                model,
                processor,
                images,
                plan=plan,
                temperature=temperature,
                seed=seed,
                batch_size=batch_size,
                progress=False,
            )
            return [[record[column] for column in COLUMNS] for record in records]

        return score

    return run_batch(
        collect_inputs(inputs),
        file_output(out, COLUMNS),
        settings,
        make_scorer,
        batch_size=batch_size,
        desc="predict",
        log=log,
    )

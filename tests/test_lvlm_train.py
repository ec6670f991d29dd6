"""Two-stage LoRA training: recipe, adapters and stacking, the accelerate loop, resume, two processes,
bad input, the full profile's loading code through a throw-away hub cache, memory planning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from geolib.errors import DataError, GeolibError
from geolib.formats.sft import stage1_example, stage2_example, write_sft_json
from geolib.lvlm.recipe import PAPER_RECIPE, TARGET_MODULES, recipe
from geolib.lvlm.train import train_adapter

REFERENCE = Path(__file__).resolve().parents[1] / "geolib" / "resources" / "georeasoner_recipe.json"
QUICK = recipe("tiny", batch_per_device=4, effective_batch=8, checkpoint_every=2, epochs=2)


@pytest.fixture(scope="session")
def base_model() -> str:
    from geolib.profiles import resolve

    return resolve("vlm", "tiny")


@pytest.fixture(scope="module")
def sft(tmp_path_factory) -> Path:
    """20 ClueWorld views as stage-1 and stage-2 SFT files (16 to train on, 4 to validate)."""
    from geolib.world import generate

    root = tmp_path_factory.mktemp("sft")
    (root / "img").mkdir()
    samples = list(generate(20, seed=5, size=112, tile_size=32, workers=1, progress=False))
    for s in samples:
        s.image.save(root / "img" / f"{s.id}.jpg")
    for name, part in (("train", samples[:16]), ("val", samples[16:])):
        write_sft_json(
            [stage1_example(s.id, f"img/{s.id}.jpg", s.country_name, s.reasoning) for s in part],
            root / f"s1_{name}.json",
        )
        write_sft_json(
            [stage2_example(s.id, f"img/{s.id}.jpg", s.country_name, s.city) for s in part],
            root / f"s2_{name}.json",
        )
    return root


@pytest.fixture(scope="module")
def stage1(sft, base_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("adapters") / "stage1"
    train_adapter(
        1,
        sft / "s1_train.json",
        out,
        val=sft / "s1_val.json",
        model_name=base_model,
        recipe=QUICK,
        progress=False,
        log=lambda *a: None,
    )
    return out


def test_the_full_recipe_is_the_papers(tmp_path):
    authors = json.loads(REFERENCE.read_text())["stage1_finetune"]
    assert PAPER_RECIPE.learning_rate == authors["learning_rate"]
    assert PAPER_RECIPE.weight_decay == authors["weight_decay"]
    assert PAPER_RECIPE.adam_beta2 == authors["adam_beta2"]
    assert PAPER_RECIPE.warmup_ratio == authors["warmup_ratio"]
    assert PAPER_RECIPE.epochs == authors["num_train_epochs"]
    assert (
        PAPER_RECIPE.effective_batch
        == authors["per_device_train_batch_size"] * authors["gradient_accumulation_steps"]
    )
    assert (PAPER_RECIPE.rank, PAPER_RECIPE.alpha, PAPER_RECIPE.dropout) == (64, 16, 0.05)
    assert recipe("full") == PAPER_RECIPE and recipe("tiny").rank == 16
    assert PAPER_RECIPE.accumulation_steps(1) == 8 and PAPER_RECIPE.accumulation_steps(2) == 4
    with pytest.raises(GeolibError, match="rank must be a positive"):
        PAPER_RECIPE.replace(rank=0)
    with pytest.raises(GeolibError, match="unknown setting"):
        PAPER_RECIPE.replace(rnak=8)


def test_lora_targets_the_language_model_only_and_leaves_the_vision_tower_frozen(base_model):
    from geolib.lvlm.adapters import attach_for_training
    from geolib.lvlm.model import load_vlm, parameter_counts

    model, _ = load_vlm(base_model, device="cpu")
    peft_model = attach_for_training(model, recipe("tiny"))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    assert not any("visual" in n for n in trainable)
    projections = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable}
    assert projections == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    count, total = parameter_counts(peft_model)
    assert 0 < count < total / 5
    import re

    assert not re.fullmatch(TARGET_MODULES, "model.visual.blocks.0.mlp.gate_proj")  # Qwen2.5-VL's vision MLP


def test_stage1_writes_a_peft_adapter_with_metrics_and_the_loss_falls(stage1):
    for name in ("adapter_config.json", "adapter_model.safetensors", "metrics.json", "geolib-train.json"):
        assert (stage1 / name).is_file(), name
    metrics = json.loads((stage1 / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert all(e["val_loss"] is not None for e in metrics["epochs"])
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    assert metrics["total_steps"] == 4 and len(metrics["steps"]) == 4  # 16 examples / (4 x 2) x 2 epochs
    config = json.loads((stage1 / "adapter_config.json").read_text())
    assert config["r"] == QUICK.rank and config["lora_alpha"] == QUICK.alpha


def test_stage2_stacks_on_stage1_and_both_adapters_change_the_output(stage1, sft, base_model, tmp_path):
    from geolib.lvlm.adapters import load_adapters
    from geolib.lvlm.data import collate, encode
    from geolib.lvlm.model import load_vlm

    out = tmp_path / "stage2"
    train_adapter(
        2,
        sft / "s2_train.json",
        out,
        init_adapter=stage1,
        model_name=base_model,
        recipe=QUICK,
        progress=False,
        log=lambda *a: None,
    )
    assert (out / "stage1" / "adapter_model.safetensors").is_file()
    assert json.loads((out / "geolib-train.json").read_text())["stacked_on_stage1"] is True
    # the copy of stage 1 is the adapter it was stacked on, untouched by stage 2's training
    first, copy = (
        load_file(stage1 / "adapter_model.safetensors"),
        load_file(out / "stage1" / "adapter_model.safetensors"),
    )
    assert all(torch.equal(first[k], copy[k]) for k in first)

    def logits(adapter):
        model, processor = load_vlm(base_model, device="cpu")
        if adapter is not None:
            model = load_adapters(model, adapter)
        from geolib.formats.sft import read_sft_json
        from geolib.images import load_image

        example = read_sft_json(sft / "s2_val.json", 2)[0]
        batch = collate(
            [encode(processor, example, load_image(sft / example.image))], processor.tokenizer.pad_token_id
        )
        batch.pop("labels")
        with torch.no_grad():
            return model(**batch).logits, model

    base, _ = logits(None)
    only_stage1, _ = logits(stage1)
    stacked, model = logits(out)
    assert sorted(model.peft_config) == ["default", "stage1"]
    assert model.base_model.active_adapters == ["stage1", "default"]
    assert not torch.allclose(base, only_stage1, atol=1e-4)
    assert not torch.allclose(only_stage1, stacked, atol=1e-4)


def test_an_interrupted_and_resumed_run_ends_with_the_same_weights(sft, base_model, tmp_path):
    quiet = {
        "model_name": base_model,
        "recipe": QUICK.replace(epochs=3),
        "progress": False,
        "log": lambda *a: None,
    }
    train_adapter(2, sft / "s2_train.json", tmp_path / "whole", without_stage1=True, **quiet)
    cut = tmp_path / "cut"
    first = train_adapter(2, sft / "s2_train.json", cut, without_stage1=True, stop_after=3, **quiet)
    assert not first.finished and not (cut / "adapter_model.safetensors").exists()
    assert (cut / "checkpoints").is_dir()
    train_adapter(2, sft / "s2_train.json", cut, without_stage1=True, resume=True, **quiet)
    whole, resumed = (
        load_file(tmp_path / "whole" / "adapter_model.safetensors"),
        load_file(cut / "adapter_model.safetensors"),
    )
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)  # step 3 is mid-epoch: the order was kept
    steps = [s["loss"] for s in json.loads((cut / "metrics.json").read_text())["steps"]]
    assert steps == [
        s["loss"] for s in json.loads((tmp_path / "whole" / "metrics.json").read_text())["steps"]
    ]
    with pytest.raises(GeolibError, match="finished run"):
        train_adapter(2, sft / "s2_train.json", cut, without_stage1=True, resume=True, **quiet)


def test_two_processes_follow_the_single_process_loss_curve(sft, base_model, tmp_path, one_and_two_processes):
    """Two processes under ``accelerate launch``, each taking half of every optimizer step. accelerate's
    ``--cpu`` alone starts one process on one machine; ``--multi_gpu`` starts two through torchrun, which on
    this CPU-only machine train over gloo."""
    args = [
        "train",
        "--stage",
        "2",
        "--without-stage1",
        "--data",
        str(sft / "s2_train.json"),
        "--model",
        base_model,
        "--epochs",
        "2",
    ]
    one_dir, two_dir = one_and_two_processes(args, tmp_path)
    one = json.loads((one_dir / "metrics.json").read_text())
    two = json.loads((two_dir / "metrics.json").read_text())
    assert len(one["steps"]) == len(two["steps"]) == 2  # 16 examples, effective batch 16, 2 epochs
    assert json.loads((two_dir / "geolib-train.json").read_text())["processes"] == 2
    for a, b in zip(one["steps"], two["steps"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.03)  # dropout masks differ between processes
        assert b["lr"] == pytest.approx(a["lr"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {"data": d / "missing.json"}, "no such file"),
        (lambda d: {"data": d}, "folder"),
        (lambda d: {"stage": 2}, "stage 2 stacks on a stage-1 adapter"),
        (lambda d: {"init_adapter": d}, "for stage 2"),
        (lambda d: {"stage": 2, "init_adapter": d / "nothing"}, "not an adapter directory"),
        (lambda d: {"max_steps": 0}, "--max-steps must be a positive"),
        (lambda d: {"epochs": -1}, "--epochs must be a positive"),
        (lambda d: {"resume": True}, "no checkpoint to resume"),
    ],
)
def test_bad_arguments_stop_before_training(sft, base_model, tmp_path, change, message):
    kwargs = {
        "stage": 1,
        "data": sft / "s1_train.json",
        "out": tmp_path / "out",
        "model_name": base_model,
        "progress": False,
        "log": lambda *a: None,
        **change(sft),
    }
    with pytest.raises(GeolibError, match=message):
        train_adapter(kwargs.pop("stage"), kwargs.pop("data"), kwargs.pop("out"), **kwargs)


def test_bad_sft_files_name_the_file_and_record(sft, base_model, tmp_path):
    quiet = {"model_name": base_model, "progress": False, "log": lambda *a: None}
    records = json.loads((sft / "s1_train.json").read_text())
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(records)[:-20], encoding="utf-8")
    with pytest.raises(DataError, match="broken.json"):
        train_adapter(1, broken, tmp_path / "a", **quiet)
    (sft / "img" / "bad.jpg").write_bytes(b"not a jpeg")
    records[3]["conversations"][0]["value"] = "Picture 1: <img>img/bad.jpg</img>\nWhich country?"
    corrupt = sft / "corrupt.json"  # beside the images its records point to
    corrupt.write_text(json.dumps(records), encoding="utf-8")
    with pytest.raises(DataError, match=r"corrupt.json, record #3.*bad.jpg"):
        train_adapter(1, corrupt, tmp_path / "b", **quiet)
    stage2 = json.loads((sft / "s2_train.json").read_text())
    wrong = tmp_path / "wrong_stage.json"
    wrong.write_text(json.dumps(stage2), encoding="utf-8")
    with pytest.raises(DataError, match="reasons"):
        train_adapter(1, wrong, tmp_path / "c", **quiet)
    assert not (tmp_path / "a" / "adapter_model.safetensors").exists()


def test_a_run_is_not_overwritten_and_a_stage1_adapter_is_checked(stage1, sft, base_model, tmp_path):
    quiet = {"model_name": base_model, "progress": False, "log": lambda *a: None}
    with pytest.raises(GeolibError, match="already holds a run"):
        train_adapter(1, sft / "s1_train.json", stage1, **quiet)
    stage2 = tmp_path / "s2"
    train_adapter(2, sft / "s2_train.json", stage2, without_stage1=True, max_steps=1, **quiet)
    with pytest.raises(GeolibError, match="stage-2 adapter; a stage-1 adapter is needed"):
        train_adapter(2, sft / "s2_train.json", tmp_path / "x", init_adapter=stage2, **quiet)
    (tmp_path / "file").write_text("x")
    with pytest.raises(GeolibError, match="is a file"):
        train_adapter(1, sft / "s1_train.json", tmp_path / "file", **quiet)


def test_dry_run_takes_one_step_writes_nothing_and_reports_memory(sft, base_model, tmp_path, capsys):
    from geolib.cli import main

    out = tmp_path / "never"
    code = main(
        [
            "train",
            "--stage",
            "1",
            "--data",
            str(sft / "s1_train.json"),
            "--model",
            base_model,
            "--out",
            str(out),
            "--dry-run",
        ]
    )
    assert code == 0
    assert "peak memory on cpu" in capsys.readouterr().out
    assert not out.exists()


def test_command_errors_are_one_line(sft, tmp_path, capsys):
    from geolib.cli import main

    assert (
        main(["train", "--stage", "2", "--data", str(sft / "s2_train.json"), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--init-adapter" in err and "Traceback" not in err
    assert main(["train", "--stage", "1", "--data", str(sft / "s1_train.json")]) == 2
    assert "--out is needed" in capsys.readouterr().err


FULL_PROFILE_RUN = """
import json
from geolib.lvlm.model import load_vlm
model, processor = load_vlm(device="cpu")
print(json.dumps({"class": type(model).__name__, "longest_edge": processor.image_processor.size["longest_edge"]}))
"""


def test_full_profile_loads_the_hub_id_from_a_cache_offline(base_model, sft, tmp_path):
    """The full path (hub id, AutoProcessor with a pixel budget, AutoModelForImageTextToText, the paper's
    recipe) against a tiny Qwen2-VL saved under the real id in a throw-away Hugging Face cache. In a fresh
    process: huggingface_hub reads HF_HUB_CACHE when it is imported."""
    from geolib.hubcache import install_in_hub_cache
    from geolib.lvlm.model import FULL_IMAGE_PIXELS
    from geolib.profiles import spec

    hub_id = spec("vlm").hub_id
    assert hub_id == "Qwen/Qwen2-VL-2B-Instruct"
    cache = tmp_path / "hub"
    install_in_hub_cache(base_model, hub_id, cache)
    env = {
        **os.environ,
        "GEOLIB_PROFILE": "full",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(cache),
        "GEOLIB_DATA": str(tmp_path / "data"),
        "GEOLIB_DEVICE": "cpu",
    }  # nothing may be built in full
    loaded = subprocess.run(
        [sys.executable, "-c", FULL_PROFILE_RUN], env=env, capture_output=True, text=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result == {"class": "Qwen2VLForConditionalGeneration", "longest_edge": FULL_IMAGE_PIXELS}
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "geolib",
            "train",
            "--stage",
            "1",
            "--data",
            str(sft / "s1_train.json"),
            "--dry-run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "trainable parameters" in dry.stdout and "peak memory on cpu" in dry.stdout
    assert not (tmp_path / "data" / "models").exists()


def test_memory_plan_for_qwen2_vl_2b_on_colab_gpus():
    from geolib.lvlm.memory import GPUS, count_parameters, estimate, plan, qwen2_vl_2b_config

    config = qwen2_vl_2b_config()
    counts = count_parameters(config, PAPER_RECIPE.target_modules, PAPER_RECIPE.rank)
    assert 2.1e9 < counts["total"] < 2.3e9  # Qwen2-VL-2B has 2.2B parameters
    assert counts["lora"] == pytest.approx(7.4e7, rel=0.05)  # r = 64 on 7 projections x 28 layers
    table = plan(config, PAPER_RECIPE, image_tokens=256, text_tokens=200)
    assert list(table["gpu"]) == list(GPUS)
    assert table["largest micro-batch"].is_monotonic_increasing
    small = estimate(config, PAPER_RECIPE, image_tokens=256, text_tokens=200, batch=1, counts=counts)
    large = estimate(config, PAPER_RECIPE, image_tokens=256, text_tokens=200, batch=8, counts=counts)
    assert (
        large["activations"] == pytest.approx(8 * small["activations"])
        and large["weights"] == small["weights"]
    )
    quantised = estimate(
        config, PAPER_RECIPE, image_tokens=256, text_tokens=200, batch=1, four_bit=True, counts=counts
    )
    assert quantised["weights"] < 0.6 * small["weights"]  # the vision tower and embeddings stay 16-bit
    unchecked = estimate(
        config,
        PAPER_RECIPE,
        image_tokens=256,
        text_tokens=200,
        batch=1,
        counts=counts,
        gradient_checkpointing=False,
    )
    assert unchecked["activations"] > 5 * small["activations"]

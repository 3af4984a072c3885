"""`latentgen train data|vae|dit` and `latentgen eval`: build a dataset, train the small models, measure them.

Thin commands over latentgen.data, latentgen.train and latentgen.evaluate; `make weights` runs the three
training commands in order. Every stage resumes from its last checkpoint when run again with --resume.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from .cli import STATE, app, user_errors
from .errors import EXIT_BATCH_FAILED

train_app = typer.Typer(
    no_args_is_help=True,
    help="Train latentgen's own small models: build a dataset, then the ShapeVAE, then DiT + image encoder.",
)
app.add_typer(train_app, name="train")

ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", help="CPU threads (default: all cores; on a busy machine 1 is faster).")
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --output from its last checkpoint.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Optimiser steps (default: the recipe's).")]
RunOpt = Annotated[Path, typer.Option("--output", "-o", help="Run folder: checkpoints, state.json, curve.png.")]


def _log(line: str) -> None:
    STATE.out.info(line)
    STATE.out.event("log", message=line)


def _set_threads(threads: int | None) -> int:
    threads = threads or os.cpu_count() or 1
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
    return threads


@train_app.command("data")
def data_cmd(
    output: Annotated[Path, typer.Argument(help="Dataset folder to build (finished shapes are kept: resumable).")],
    meshes: Annotated[
        Path | None,
        typer.Option(
            "--meshes",
            help="Your own meshes (sub-folders = families; an image with a mesh's stem beside it = its picture) "
            "instead of the procedural shapes.",
        ),
    ] = None,
    per_family: Annotated[
        int | None,
        typer.Option("--per-family", help="Procedural training shapes per family (default: the shipped data's)."),
    ] = None,
    heldout: Annotated[
        int | None,
        typer.Option("--heldout", help="Procedural held-out shapes per family (default: the shipped data's)."),
    ] = None,
    families: Annotated[
        list[str] | None,
        typer.Option(
            "--family",
            help="Procedural families to include (repeat; default: the shipped data's 21 everyday families; "
            "`all`: those and machined parts, `part`).",
        ),
    ] = None,
    images: Annotated[
        int | None,
        typer.Option(
            "--images",
            min=0,
            help="Conditioning pictures per shape (default: the shipped data's 4 procedural, 1 per mesh without a"
            " photo); 0: none, enough for `train vae`.",
        ),
    ] = None,
    heldout_fraction: Annotated[
        float, typer.Option("--heldout-fraction", help="--meshes: share of each family held out for evaluation.")
    ] = 0.1,
    up_axis: Annotated[
        str, typer.Option("--up-axis", help="--meshes: y (glTF, most OBJ) or z (Blender, CAD, STL files).")
    ] = "y",
    workers: Annotated[int, typer.Option("--workers", help="Processes.", min=1)] = os.cpu_count() or 1,
) -> None:
    """Build a training dataset: surface samples, labelled occupancy queries and conditioning pictures per shape.

    With --meshes, a file that cannot be used is reported and skipped (exit 1 at the end); the rest is built.

    Example: latentgen train data out/train/data --per-family 2 --heldout 1 --family mug --family ring
    """
    from .train.data import TINY_DATA

    out = STATE.out
    with user_errors(input=str(meshes or output)):
        with out.progress(output.name) as progress:
            if meshes is not None:
                from .data.meshes import MeshDatasetConfig, build_mesh_dataset

                config = MeshDatasetConfig(heldout_fraction=heldout_fraction, up_axis=up_axis)
                if images is not None:
                    config = replace(config, images_per_shape=images)
                index = build_mesh_dataset(
                    meshes,
                    output,
                    config,
                    workers=workers,
                    progress=progress,
                    skipped=lambda source, reason: out.error(f"skipped {source}: {reason}", 1, input=str(source)),
                )
            else:
                from .data import FAMILIES, build_dataset

                if families and "all" in families:  # every family, in their fixed order
                    families = list(FAMILIES) + [f for f in families if f not in FAMILIES and f != "all"]
                config = replace(
                    TINY_DATA,
                    train_per_family=TINY_DATA.train_per_family if per_family is None else per_family,
                    heldout_per_family=TINY_DATA.heldout_per_family if heldout is None else heldout,
                    images_per_shape=TINY_DATA.images_per_shape if images is None else images,
                    families=tuple(families) if families else TINY_DATA.families,
                )
                index = build_dataset(output, config, workers=workers, progress=progress)
    n = len(index["items"])
    held = sum(it["split"] == "heldout" for it in index["items"])
    bad = index.get("skipped", [])
    out.result(
        f"wrote {output} ({n - held} training + {held} held-out shapes" + (f", {len(bad)} skipped)" if bad else ")"),
        output=str(output),
        shapes=n,
        skipped=len(bad),
    )
    if bad:
        raise typer.Exit(EXIT_BATCH_FAILED)


@train_app.command("vae")
def vae_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset folder (from `latentgen train data`).")],
    output: RunOpt = Path("out/train/vae"),
    steps: StepsOpt = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Shapes per step (default: the recipe's).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate (default: the recipe's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights, batches and samples.")] = 0,
    num_latents: Annotated[
        int | None, typer.Option("--num-latents", help="Latent tokens (default: the recipe's, or --init's).")
    ] = None,
    embed_dim: Annotated[
        int | None, typer.Option("--embed-dim", help="Feature channels per token (default: the recipe's, or --init's).")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", help="Transformer width (default: the recipe's, or --init's).")
    ] = None,
    decoder_layers: Annotated[
        int | None,
        typer.Option(
            "--decoder-layers", help="Self-attention blocks of the decoder (default: the recipe's, or --init's)."
        ),
    ] = None,
    queries: Annotated[
        int | None, typer.Option("--queries", help="Occupancy queries per shape and step (default: the recipe's).")
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init",
            help="Start from this trained ShapeVAE folder and its sizes (--decoder-layers may add blocks, which"
            " start as identities).",
        ),
    ] = None,
    freeze_encoder: Annotated[
        bool,
        typer.Option(
            "--freeze-encoder",
            help="With --init: train the decoder only. The latents stay those of --init, so a DiT trained on them"
            " still fits.",
        ),
    ] = False,
    threads: ThreadsOpt = None,
    resume: ResumeOpt = False,
) -> None:
    """Train a ShapeVAE (occupancy BCE + KL) and watch its held-out IoU; the model lands in OUTPUT/model.

    Example: latentgen train vae out/train/data -o out/train/vae --resume

    Fine-tune a trained decoder, latents unchanged:
    latentgen train vae out/train/data -o out/train/vae_dec --init out/train/vae/model --freeze-encoder
    --decoder-layers 6 --queries 2048 --lr 5e-4 --resume
    """

    from .train.vae import VAETrainOptions, train_vae, trained_config

    base = VAETrainOptions()
    with user_errors(input=str(init or data)):
        start = trained_config(init) if init else base.model  # a fine-tune keeps the sizes of what it starts from
    model = replace(
        start,
        num_latents=num_latents or start.num_latents,
        embed_dim=embed_dim or start.embed_dim,
        width=width or start.width,
        num_decoder_layers=decoder_layers or start.num_decoder_layers,
    )
    with user_errors(input=str(data)):
        opts = VAETrainOptions(
            model=model,
            steps=steps or base.steps,
            batch=batch or base.batch,
            lr=lr or base.lr,
            n_queries=queries or base.n_queries,
            init=str(init) if init else "",
            freeze_encoder=freeze_encoder,
            seed=seed,
            threads=_set_threads(threads),
        )
        state = train_vae(data, output, opts, resume, log=_log)
    iou = next((r["heldout_iou"] for r in reversed(state.history) if "heldout_iou" in r), None)
    STATE.out.result(
        f"wrote {output / 'model'} (step {state.step}, held-out IoU {iou:.3f})" if iou is not None else str(output),
        output=str(output / "model"),
        step=state.step,
        heldout_iou=iou,
    )


@train_app.command("dit")
def dit_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset folder (from `latentgen train data`).")],
    vae: Annotated[Path, typer.Option("--vae", help="Trained ShapeVAE folder (e.g. out/train/vae/model).")],
    output: RunOpt = Path("out/train/dit"),
    steps: StepsOpt = None,
    batch: Annotated[int | None, typer.Option("--batch", help="Latents per step (default: the recipe's).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of weights, batches and noise.")] = 0,
    threads: ThreadsOpt = None,
    resume: ResumeOpt = False,
    export: Annotated[
        Path | None, typer.Option("--export", help="When done, copy the weights root here (e.g. weights/tiny).")
    ] = None,
    mirror: Annotated[
        bool,
        typer.Option(
            "--mirror/--no-mirror",
            help="Also train on each shape mirrored left-right with its picture flipped (not for pictures that "
            "must not be flipped, e.g. with writing on them; off in the shipped recipe, see its model card).",
        ),
    ] = False,
    ema: Annotated[
        float | None,
        typer.Option(
            "--ema",
            help="Decay of the moving average of the weights that are evaluated and exported (0: the raw weights; "
            "default: the recipe's).",
        ),
    ] = None,
    match_tokens: Annotated[
        bool | None,
        typer.Option(
            "--match-tokens/--no-match-tokens",
            help="Pair each shape's latent tokens with the noise tokens nearest to them (a minimal-cost assignment; "
            "the DiT is order-blind over tokens, so the pairing is free) instead of by index (default: the recipe's).",
        ),
    ] = None,
    t_mean: Annotated[
        float | None,
        typer.Option(
            "--t-mean",
            help="Mean of the logit-normal training times (below 0: more steps near noise, where the picture "
            "decides the shape; default: the recipe's).",
        ),
    ] = None,
    aux_surface: Annotated[
        float | None,
        typer.Option(
            "--aux-surface",
            help="Weight of the image encoder's auxiliary loss: predict where the shape's surface is on a coarse "
            "grid (0: off; default: the recipe's).",
        ),
    ] = None,
    aux_grid: Annotated[
        int | None,
        typer.Option("--aux-grid", min=1, help="Cells per axis of --aux-surface's grid (default: the recipe's)."),
    ] = None,
) -> None:
    """Train the flow-matching DiT and its image encoder on the VAE's latents. OUTPUT is a weights root
    (shapevae/, dit/, conditioner/, pipeline.json) after every checkpoint: `--weights OUTPUT` uses it.

    Example: latentgen train dit out/train/data --vae out/train/vae/model -o out/train/dit --resume
    """

    from .train.dit import DiTTrainOptions, export_weights, train_dit

    base = DiTTrainOptions()
    with user_errors(input=str(data)):
        opts = DiTTrainOptions(
            steps=steps or base.steps,
            batch=batch or base.batch,
            lr=lr or base.lr,
            seed=seed,
            threads=_set_threads(threads),
            mirror=mirror,
            ema=base.ema if ema is None else ema,
            match_tokens=base.match_tokens if match_tokens is None else match_tokens,
            t_mean=base.t_mean if t_mean is None else t_mean,
            aux_surface=base.aux_surface if aux_surface is None else aux_surface,
            aux_grid=base.aux_grid if aux_grid is None else aux_grid,
        )
        state = train_dit(data, vae, output, opts, resume, log=_log)
        if export is not None:
            export_weights(output, export)
    STATE.out.result(f"wrote {export or output} (step {state.step})", output=str(export or output), step=state.step)


@app.command("eval")
def eval_cmd(
    data: Annotated[
        Path | None, typer.Option("--data", help="Procedural dataset: its held-out shapes and pictures.")
    ] = None,
    meshes: Annotated[Path | None, typer.Option("--meshes", help="Folder of real meshes (VAE volume IoU).")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Folder of real photos (silhouette IoU).")] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Weights root (default: the shipped weights/tiny).")
    ] = None,
    resolution: Annotated[int, typer.Option("--resolution", help="Volume IoU grid, cells per axis.")] = 128,
    per_family: Annotated[int, typer.Option("--per-family", help="Held-out shapes per family (0: all).")] = 0,
    only: Annotated[str | None, typer.Option("--only", help="Only 'vae' or only 'image' figures.")] = None,
    candidates: Annotated[
        int | None,
        typer.Option("--candidates", help="Image -> shape: shapes sampled per picture (default: the weights')."),
    ] = None,
    ceilings: Annotated[
        bool,
        typer.Option(
            "--ceilings",
            help="Also score the held-out pictures against their shapes' VAE reconstructions and the true shapes: "
            "what image -> shape could reach through this VAE, and with a perfect shape.",
        ),
    ] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write the full JSON report (per item) here.")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Measure weights on shapes and pictures never seen in training: VAE volume IoU and image -> shape
    silhouette IoU (seeded: the same weights and data give the same figures). Prints a Markdown table.

    Example: latentgen eval --meshes ../shared/data/meshes --images ../shared/data/images --per-family 1
    """
    import torch

    from .cli import _weights
    from .errors import InputError
    from .evaluate import EvalInputs, EvalOptions, evaluate, markdown

    out = STATE.out
    with user_errors():
        if only not in (None, "vae", "image"):
            raise InputError(f"--only {only}: choose vae or image")
        torch.set_num_threads(_set_threads(threads))
        inputs = EvalInputs(_weights(weights), data, meshes, images)
        opts = EvalOptions(
            resolution=resolution,
            per_family=per_family,
            candidates=candidates,
            vae=only != "image",
            image=only != "vae",
            ceilings=ceilings,
        )
        with out.progress("eval") as progress:
            result = evaluate(inputs, opts, progress=progress)
        if report is not None:
            from .files import atomic_path

            with atomic_path(report) as tmp:
                tmp.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: {"mean": v["mean"], "n": v["n"]} for k, v in result.items() if isinstance(v, dict) and "mean" in v}
    out.result(markdown(result).rstrip("\n"), **summary)

"""Evaluation of a run: flip test-time augmentation, the snapshot ensemble, clean and occluded
test sets, the mean-pose baseline and the left/right-swapped error, and the same numbers on a
fixed subset of the run's own training samples (`training_samples`: fitted or underfitted?).

`evaluate_all(run_dir)` writes the run's metrics (the full config and profile stamped in) and
their Markdown table (`report.tables.summary`, through `runs.RunFolder.write_metrics`);
`load_run(name)` (= `runs.load`) reads a run back, `report.read` its numbers as typed values.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, distributed, metrics, report, runs, runtime
from .data import sources
from .config import RunConfig

SPLITS = ("test", "test_occluded")


load_run = runs.load        # the book reads its numbers through `evaluate.load_run`


@torch.no_grad()
def collect(models: list, dataset, config: RunConfig, device="cpu", flip_variants=(False, True)):
    """One pass over `dataset` with every model, with and without flip TTA. In a torchrun
    group every rank passes over its slice (`distributed.shard`) and every rank returns the
    whole, in dataset order (`distributed.gather_rows`).

    Returns dict with "gt" (N, J, 3) mm, "occluded" (N, J) bool, "family" (N,), "n_occluders"
    (N,), and "pred"[(model index, flip)] = (rel (N, J, 3), abs (N, J, 3)) mm.
    """
    from . import model as model_lib

    n, part = len(dataset), distributed.shard(dataset)
    if len(part) == 0:
        raise ValueError(f"{n} evaluation items cannot be split over more processes than that")
    workers = runtime.loader_workers(config)
    if workers:
        runtime.one_opencv_thread()              # inherited by the forked workers
    loader = torch.utils.data.DataLoader(part, batch_size=max(1, config.batch_size * 2),
                                         num_workers=workers)
    gt, occluded, family, n_occluders = [], [], [], []
    pred = {(m, f): ([], []) for m in range(len(models)) for f in flip_variants}
    precision = runtime.precision_for(config, torch.device(device))   # as in training
    for batch in loader:
        images = batch["image"].to(device)
        intrinsics = batch["intrinsics"].to(device)
        gt.append(batch["joints_cam_mm"].double().numpy())
        occluded.append(batch["occluded"].numpy())
        family.append(batch["family"].numpy())
        n_occluders.append(batch["n_occluders"].numpy())
        for m, net in enumerate(models):
            net.eval()
            with runtime.autocast(precision, device):
                views = model_lib.flip.views(net, images, intrinsics, flip=True in flip_variants)
            for flip in flip_variants:
                pred[(m, flip)][0].append(views[flip]["joints_rel_mm"].double().cpu().numpy())
                pred[(m, flip)][1].append(views[flip]["joints_cam_mm"].double().cpu().numpy())
    cat = lambda arrays: distributed.gather_rows(np.concatenate(arrays), n)  # noqa: E731
    return {"gt": cat(gt), "occluded": cat(occluded), "family": cat(family),
            "n_occluders": cat(n_occluders),
            "pred": {k: (cat(r), cat(a)) for k, (r, a) in pred.items()}}


def quick_mpjpe(model, dataset, config: RunConfig, device="cpu") -> float:
    """Root-relative MPJPE of one model without TTA (the validation curve during training)."""
    was_training = model.training
    result = collect([model], dataset, config, device, flip_variants=(False,))
    model.train(was_training)
    return metrics.mpjpe(result["pred"][(0, False)][0], result["gt"])


def split_metrics(pred_rel, pred_abs, result, mean_pose_rel_mm, names,
                  protocol1: bool = False, loss: str = "root_relative") -> dict:
    """Every number for one split and one prediction (see `evaluate_all`); `names`: the family
    names (`sources.Source.family_names`); `protocol1` (`sources.Source.protocol1`) adds
    protocol1_mm, the mean over actions (the families) of the per-action MPJPE. The absolute
    MPJPE ("mpjpe_abs_mm") exists only for runs trained with the absolute `loss`, which is
    what trains the person's position; every run records how far off its root depth is
    ("root_depth_error_mm", "root_depth_error_pct"): a root-relative loss trains the depth head
    too, only through the scale of x and y (the pose is back-projected with that depth)."""
    gt = result["gt"]
    errors = metrics.joint_errors(pred_rel, gt)
    extra = {"protocol1_mm": metrics.protocol1(errors, result["family"], names)["Average"]} \
        if protocol1 else {}
    baseline = np.broadcast_to(mean_pose_rel_mm, gt.shape) if mean_pose_rel_mm is not None else None
    absolute = {"mpjpe_abs_mm": metrics.mpjpe(pred_abs, gt, root=None)} if loss == "absolute" else {}
    return {
        "n": int(len(gt)),
        "mpjpe_mm": float(errors.mean()),
        "pa_mpjpe_mm": metrics.pa_mpjpe(pred_rel, gt),
        **absolute,
        "root_depth_error_mm": metrics.root_depth_error_mm(pred_abs, gt),
        "root_depth_error_pct": metrics.root_depth_error_pct(pred_abs, gt),
        "lr_swapped_mpjpe_mm": metrics.left_right_swapped_mpjpe(pred_rel, gt),
        "mean_pose_baseline_mm": None if baseline is None else metrics.mpjpe(baseline, gt),
        "per_joint_mm": metrics.per_joint(errors),
        "per_family_mm": metrics.per_group(errors, result["family"], names),
        **metrics.occluded_vs_visible(errors, result["occluded"]),
        **extra,
    }


def combine(result: dict, members, flip: bool):
    """Mean prediction of the models `members` (indices into `collect`'s models) with or
    without flip: (root-relative (N, J, 3), absolute (N, J, 3)) mm."""
    rel = np.mean([result["pred"][(m, flip)][0] for m in members], axis=0)
    abs_ = np.mean([result["pred"][(m, flip)][1] for m in members], axis=0)
    return rel, abs_


def _models(run_dir: Path, device: str, model=None) -> tuple[list, list[str], list[int], int]:
    """(models, their checkpoint names, indices of the snapshots, index of the last weights).
    When the last snapshot was taken at the final step it *is* the last model, loaded once."""
    run = runs.load(run_dir)
    state_step = run.state()["step"]
    names = run.snapshot_names()
    models = [_snapshot_model(run, n, device) for n in names]
    steps = [run.state(n)["step"] for n in names]
    if steps and steps[-1] == state_step:
        return models, names, list(range(len(models))), len(models) - 1
    models.append(model.eval() if model is not None
                  else runs.load_model(run_dir, runs.LAST, device)[0])
    return models, [*names, runs.LAST], list(range(len(names))), len(models) - 1


def _snapshot_model(run, name: str, device):
    """The model of snapshot `name`; ValueError when it was made with another config than the
    run's (a file copied in from another run must not join the ensemble)."""
    model, config = runs.load_model(run.path, name, device)
    diff = checkpoint.config_diff(config, run.config)
    if diff:
        key, (theirs, ours) = next(iter(diff.items()))
        raise ValueError(f"{run.checkpoint_path(name)} is not a snapshot of this run: its config "
                         f"differs from the run's in {', '.join(diff)} ({key} {theirs!r}, the "
                         f"run's {ours!r}); remove it to evaluate the run")
    return model


def choose_members(models: list, names: list[str], snaps: list[int], last: int,
                   config: RunConfig, device) -> tuple[list[int], dict]:
    """The snapshot-ensemble members, chosen on the VALIDATION split (never on test).

    Candidates are the ensembles of the last k snapshots (k = 2 .. all); the one with the lowest
    validation MPJPE (config.flip_test setting) wins, unless the last weights alone are at least
    as good: then the last weights are used. Without `config.ensemble`, snapshots or a
    validation split (n_val=0), the last weights are used. A source without a validation split
    of its own (`sources.Source.has_validation`; Human3.6M: its "val" is the test subjects S9,
    S11) is never scored: `config.ensemble` (the paper's rule) means the ensemble of all kept
    snapshots, else the last weights. Returns (indices into `models`, the record written to
    metrics.json as "ensemble_choice": members (checkpoint names), used ("ensemble" | "last"), rule
    ("validation" | "fixed"), reason, and val_mpjpe_mm {candidate label: MPJPE})."""
    from .data.dataset import PoseDataset

    def record(members, used, reason, val=None, rule="fixed"):
        return members, {"members": [names[m] for m in members], "used": used, "rule": rule,
                         "reason": reason, "val_mpjpe_mm": val or {}}

    if not config.ensemble:
        return record([last], "last", "config.ensemble is off")
    if len(snaps) < 2:
        return record([last], "last", "fewer than two snapshots")
    source = sources.for_config(config)
    if not source.has_validation:    # its "val" split is not held out: the fixed rule
        return record(list(snaps), "ensemble", source.no_validation_reason)
    if config.n_val <= 0:
        return record([last], "last", "no validation split (n_val=0)")
    flip = config.flip_test
    result = collect(models, PoseDataset(config, "val"), config, device, flip_variants=(flip,))
    val = {"last weights": metrics.mpjpe(combine(result, [last], flip)[0], result["gt"])}
    candidates = {}
    for k in range(2, len(snaps) + 1):
        members = snaps[-k:]
        label = "ensemble of " + ", ".join(names[m] for m in members)
        candidates[label] = members
        val[label] = metrics.mpjpe(combine(result, members, flip)[0], result["gt"])
    best = min(candidates, key=val.get)
    if val[best] < val["last weights"]:
        return record(candidates[best], "ensemble",
                      f"{best}: {val[best]:.1f} mm on validation, last weights "
                      f"{val['last weights']:.1f} mm", val, "validation")
    return record([last], "last", f"every ensemble is worse on validation than the last weights "
                  f"({val['last weights']:.1f} mm; best ensemble {val[best]:.1f} mm)", val,
                  "validation")


def evaluate(run_dir: str | Path, split: str = "test", flip: bool = True,
             ensemble: bool = True, device=None) -> dict:
    """Metrics of one split for one setting: flip TTA on/off, snapshot ensemble on/off."""
    from .data.dataset import PoseDataset

    run_dir = runs.resolve(run_dir)
    last = runs.load(run_dir).state()
    config = RunConfig.from_dict(last["config"])
    device = runtime.setup(config, device)
    models, names, snaps, last_index = _models(run_dir, device)
    members = [last_index]
    if ensemble:   # as in evaluate_all: chosen on validation, or the fixed choice (Human3.6M)
        members = choose_members(models, names, snaps, last_index,
                                 config.replace(ensemble=True), device)[0]
    source = sources.for_config(config)
    result = collect(models, PoseDataset(config, split), config, device, flip_variants=(flip,))
    rel, abs_ = combine(result, members, flip)
    out = split_metrics(rel, abs_, result, mean_pose(last), source.family_names,
                        source.protocol1, config.loss)
    return {"split": split, "flip": flip, "ensemble": ensemble, "members": len(members), **out}


def test_split(run_dir: str | Path) -> report.SplitMetrics:
    """A finished run's clean-test numbers with its root-depth error: as recorded in its
    metrics.json, or, for a run recorded before posebook measured the root depth, measured now
    (`evaluate` with the run's own flip and ensemble settings; nothing is written)."""
    recorded = report.read(run_dir).test
    if recorded.root_depth_error_mm is not None:
        return recorded
    config = runs.load(run_dir).config
    measured = evaluate(run_dir, "test", flip=config.flip_test, ensemble=config.ensemble)
    return report.SplitMetrics.from_dict(measured)


def mean_pose(state: dict) -> np.ndarray | None:
    """(1, J, 3) mean root-relative training pose, mm, accumulated during training."""
    if not state.get("pose_count"):
        return None
    return (state["pose_sum"].double().numpy() / state["pose_count"])[None]


def evaluate_all(run_dir: str | Path, model=None, state: dict | None = None,
                 device=None, writer: bool = True) -> dict:
    """Evaluate a run on "test" and "test_occluded" with the config's flip/ensemble setting (plus
    the MPJPE of every flip x ensemble variant of both); write metrics.json and metrics.md.

    metrics.json: name, profile, dataset, occluders (source label), config (all fields),
    backbone_weights (ImageNet file or random init, as trained), steps,
    snapshots, flip, ensemble (True when the chosen members are an ensemble),
    ensemble_choice (`choose_members`), train_seconds, variants
    {"<split>/<flip|no_flip>/<ensemble|last>": MPJPE; "ensemble" = the chosen members}, and per
    split `split_metrics` (MPJPE, PA-MPJPE, absolute MPJPE of absolute-loss runs only,
    left/right-swapped MPJPE, mean-pose baseline, per joint, per posture family, occluded vs
    visible joints); "train": the same `split_metrics` of the chosen members with the config's
    flip setting on `training_samples` (as many as the clean test set has). Only a `writer`
    writes (every rank of a torchrun job evaluates its slices; rank 0 writes)."""
    from .data.dataset import PoseDataset

    run_dir = runs.resolve(run_dir)
    state = state or runs.load(run_dir).state()
    config = RunConfig.from_dict(state["config"])
    device = runtime.setup(config, device)
    models, names, snaps, last_index = _models(run_dir, device, model)
    last = [last_index]
    members, choice = choose_members(models, names, snaps, last_index, config, device)
    out = {"name": run_dir.name, "profile": config.profile, "dataset": config.dataset,
           "occluders": occluder_label(config), "config": config.to_dict(),
           "backbone_weights": state.get("backbone_weights", "unknown"),
           "steps": int(state["step"]), "snapshots": runs.snapshot_names(run_dir),
           "flip": config.flip_test, "ensemble": choice["used"] == "ensemble",
           "ensemble_choice": choice, "train_seconds": float(state.get("seconds", 0.0)),
           "variants": {}}
    source = sources.for_config(config)
    for split in SPLITS:
        result = collect(models, PoseDataset(config, split), config, device)
        rel, abs_ = combine(result, members, config.flip_test)
        out[split] = split_metrics(rel, abs_, result, mean_pose(state), source.family_names,
                                   source.protocol1, config.loss)
        for flip in (False, True):
            for ens in (False, True):
                key = f"{split}/{'flip' if flip else 'no_flip'}/{'ensemble' if ens else 'last'}"
                rel, _ = combine(result, members if ens else last, flip)
                out["variants"][key] = metrics.mpjpe(rel, result["gt"])
    dataset = training_samples(config, out["test"]["n"])
    chosen = [models[m] for m in members]     # only the models the test numbers average
    result = collect(chosen, dataset, config, device, flip_variants=(config.flip_test,))
    rel, abs_ = combine(result, list(range(len(chosen))), config.flip_test)
    out["train"] = split_metrics(rel, abs_, result, mean_pose(state), source.family_names,
                                 source.protocol1, config.loss)
    runs.RunFolder(run_dir, writer).write_metrics(out, report.tables.summary_markdown(
        report.RunMetrics.from_dict(out)))
    return out


def training_samples(config: RunConfig, n: int) -> torch.utils.data.Subset:
    """A fixed subset of the run's own training samples, unaugmented, for the training-split
    MPJPE: min(n, training-set size) items spread evenly over the training set (item
    ``k * size // count`` for k = 0 .. count-1), so that Human3.6M's subject- and action-ordered
    frames are all represented, not only the first subject's first action. `evaluate_all`
    passes the clean test set's size as `n`, so both numbers carry about the same sampling
    noise at the same cost. The items come from the "train" split of the run's data source
    (synthetic: the frame cache that training rendered) with no geometry, appearance or
    occlusion augmentation: the crop of the person box, as the test sets are cropped."""
    from .data.dataset import PoseDataset

    plain = config.replace(occlusion_p=0.0, augment_geometry=False, augment_appearance=False)
    dataset = PoseDataset(plain, "train")
    count = min(int(n), len(dataset))
    if count < 1:
        raise ValueError(f"training_samples needs n >= 1, got {n!r}")
    return torch.utils.data.Subset(dataset, [k * len(dataset) // count for k in range(count)])


def occluder_label(config: RunConfig) -> str:
    """Where the occluders came from, e.g. "procedural fallback (300 objects)"."""
    from .data import occluders

    return occluders.load_bank(config)[1]


@torch.no_grad()
def predict_samples(run_dir: str | Path, split: str = "test", indices=(0, 1, 2),
                    flip: bool = True, ensemble: bool = True) -> dict:
    """A few test samples with their predictions, for figures.

    Returns dict: image (n, S, S, 3) uint8, gt_mm (n, J, 3), pred_mm (n, J, 3) absolute in the
    crop camera (root-relative error is what MPJPE measures), family (n,), index (n,).
    """
    from .data.dataset import PoseDataset

    run = runs.load(run_dir)
    config, run_dir = run.config, run.path
    names = list(report.of(run).members) if ensemble and run.finished else [runs.LAST]
    models = [runs.load_model(run_dir, n)[0] for n in names]
    dataset = PoseDataset(config, split)
    subset = torch.utils.data.Subset(dataset, list(indices))
    result = collect(models, subset, config, flip_variants=(flip,))
    _, pred = combine(result, list(range(len(models))), flip)
    items = [dataset[i] for i in indices]
    return {"image": np.stack([it["image"].permute(1, 2, 0).numpy() for it in items]),
            "gt_mm": result["gt"], "pred_mm": pred, "family": result["family"],
            "index": np.asarray(indices)}


# --- command line ---------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("run", help="run folder (runs/<name>) or run name")
    parser.add_argument("--split", default="all", choices=("all", *SPLITS),
                        help="which test set: all (default), test, or test_occluded (the same "
                             "images with synthetic occluders)")
    parser.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation")
    parser.add_argument("--no-ensemble", action="store_true", help="last weights only")


def run(args) -> int:
    splits = SPLITS if args.split == "all" else (args.split,)
    note = runs.load(args.run).progress_note()
    if note:
        print(f"posebook eval: note: {note}: evaluating its last checkpoint", file=sys.stderr)
    for split in splits:
        r = evaluate(args.run, split, flip=not args.no_flip, ensemble=not args.no_ensemble)
        baseline = r["mean_pose_baseline_mm"]
        print(f"{split}: MPJPE {r['mpjpe_mm']:.1f} mm, PA-MPJPE {r['pa_mpjpe_mm']:.1f} mm, "
              f"left/right swapped {r['lr_swapped_mpjpe_mm']:.1f} mm, mean-pose baseline "
              f"{'none (no mean pose recorded)' if baseline is None else f'{baseline:.1f} mm'} "
              f"(n={r['n']}, flip={r['flip']}, "
              f"ensemble of {r['members']})")
        line = protocol1_line(r, runs.load(args.run).config)
        if line:
            print(line)
    return 0


def protocol1_line(split_result: dict, config: RunConfig) -> str | None:
    """The protocol-1 number of a split result, labelled with its source's people and the test
    subjects that were in training (`report.sentences.protocol1_line`); None for a source
    without protocol 1."""
    return report.sentences.protocol1_line(split_result.get("protocol1_mm"), config)

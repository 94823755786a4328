"""Every computed sentence of the book: captions that say where a run's numbers come from, and
verdicts that a measured comparison selects, so no chapter states a conclusion its own run did
not compute. Numbers come in typed (`RunMetrics`) or as the plain values a study measured."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import sources
from .metrics import RunMetrics, SplitMetrics


# --- where the numbers come from ----------------------------------------------------------------
def initialisation(weights_source: str) -> str:
    """How a backbone was initialised, for readers: "ImageNet (<file name>)" or the "random
    init (...)" text of `model.backbones`, with no folder of the machine that trained it."""
    if weights_source.startswith("ImageNet weights from "):
        return f"ImageNet ({Path(weights_source.removeprefix('ImageNet weights from ')).name})"
    return weights_source


def test_size(m: RunMetrics) -> int:
    """The number of test frames a run was measured on: its test split's n, else (older runs)
    the size of its source's test split."""
    if m.test.n is not None:
        return m.test.n
    return len(sources.for_config(m.config).frames("test"))


def run_caption(m: RunMetrics, seeds=None, steps: int | None = None) -> str:
    """Where a run's numbers come from: data (dataset, test size, occluders), profile, backbone
    and its initialisation, input size, steps and seeds. `seeds`/`steps` override the run's own
    (a study over several seeds of one setting)."""
    c = m.config
    seeds = ", ".join(str(s) for s in (seeds if seeds is not None else [c.seed]))
    return (f"{c.dataset} data ({test_size(m)} test images; occluders: {m.occluders}); "
            f"profile '{c.profile}': {c.backbone} at {c.input_px} px, "
            f"{initialisation(m.backbone_weights)}, "
            f"{steps if steps is not None else m.steps} steps, seed(s) {seeds}.")


def training_subjects(m: RunMetrics) -> tuple[str, ...]:
    """The subjects a run trained on (its source's): Human3.6M S1, S5, S6, S7, S8 (plus S9,
    S11 with train_on_val); () for synthetic people."""
    return sources.for_config(m.config).subjects("train")


def training_data(m: RunMetrics) -> str:
    """What a run trained on, in words: "synthetic people" or "Human3.6M subjects S1, ..."."""
    source = sources.for_config(m.config)
    subjects = source.subjects("train")
    return (f"{source.people} subjects {', '.join(subjects)}" if subjects
            else f"{source.people} people")


def chosen_label(m: RunMetrics) -> str:
    """The weights a run chose, in words: "last weights" or "ensemble of snapshot_1,
    snapshot_2" (`evaluate.choose_members`)."""
    if not m.uses_ensemble:
        return "last weights"
    return "ensemble of " + ", ".join(m.ensemble_choice.members)


def chosen_how(m: RunMetrics) -> str:
    """How the weights were picked: "chosen on validation", or "fixed by the profile" where
    nothing was chosen on data (Human3.6M, no ensemble asked for; the choice's rule)."""
    fixed = m.ensemble_choice is not None and m.ensemble_choice.rule == "fixed"
    return "fixed by the profile" if fixed else "chosen on validation"


def weights_used(m: RunMetrics) -> str:
    """The weights a run was measured with and why, e.g. "ensemble of snapshot_0, snapshot_1
    (Human3.6M: no validation split ...)"."""
    reason = m.ensemble_choice.reason if m.ensemble_choice else None
    return f"{chosen_label(m)} ({reason or 'no choice recorded'})"


def ensemble_used(m: RunMetrics | None, ensemble_configured: bool) -> str:
    """Whether a run averaged snapshots, for the table of unstated choices; without a run
    (`m` None) only what the config asks for."""
    if m is None:
        return "yes, as configured (no run: nothing says what was used)" if ensemble_configured \
            else "no"
    if m.uses_ensemble:
        return f"yes ({', '.join(m.ensemble_choice.members)})"
    reason = m.ensemble_choice.reason if m.ensemble_choice else None
    return f"no, last weights ({reason or 'no ensemble_choice recorded'})"


def study_caption(first: RunMetrics, seeds, steps: int, paper: bool = True) -> str:
    """Where a study's measured numbers come from (`run_caption` of its first run, with the
    study's seeds and steps per run); `paper` adds where the quoted Table 1 column is from."""
    text = "Measured on " + run_caption(first, seeds, steps)
    if paper:
        text += (" Paper column quoted from Sárándi et al. 2018, Table 1 (challenge validation "
                 "set).")
    return text


def ablation_caption(study, paper: bool = True) -> str:
    """`study_caption` of an `ablation.Ablation`: its first run, its main seeds and run length."""
    return study_caption(study.first, study.base.ablation_seeds, study.steps, paper)


def train_split_line(m: RunMetrics) -> str | None:
    """One sentence with a run's training-split MPJPE beside the clean test's; None for a run
    measured before the training split existed."""
    if m.train is None:
        return None
    return (f"On {m.train.n} of its own training samples (unaugmented, evaluated like "
            f"the test sets) the MPJPE is {m.train.mpjpe_mm:.1f} mm, against "
            f"{m.test.mpjpe_mm:.1f} mm on the clean test people.")


# --- verdicts ------------------------------------------------------------------------------------
def left_right_verdict(split: SplitMetrics) -> str:
    """Whether a run tells the person's left from right: its error against the left/right-swapped
    ground truth is well above (over 1.2 times) its MPJPE when it does."""
    if split.lr_swapped_mpjpe_mm > 1.2 * split.mpjpe_mm:
        return "well above the MPJPE, so the network tells the person's left from right"
    return "close to the MPJPE, so this run has not yet learned left from right"


def ensemble_verdict(m: RunMetrics) -> str:
    """The snapshot-ensemble choice of a run in words: what validation chose and why, and how
    that choice does on the test set against the last weights (for a run with a validation
    split; `weights_used` says what any run used)."""
    choice = m.ensemble_choice
    chosen, last = m.variants["test/flip/ensemble"], m.variants["test/flip/last"]
    how = chosen_how(m)
    if not m.uses_ensemble:
        reason = (choice.reason if choice else None) or "no ensemble"
        return (f"This run uses the last weights alone: {reason}. "
                f"In the table below the rows \"{how}\" therefore equal the rows \"last\".")
    test = ("it also helps on test" if chosen < last else
            "on test it is not better than the last weights" if chosen == last else
            "on test it is worse than the last weights, so the validation split did not predict "
            "the test result here")
    return (f"Validation chose the {choice.reason}; {test} ({chosen:.1f} vs {last:.1f} mm with "
            f"flip TTA).")


def chain_depths() -> tuple[int, ...]:
    """Bones between each joint and the pelvis in the H36M-17 tree (pelvis 0, wrists 5)."""
    from ..skeleton import PARENTS

    def depth(j: int) -> int:
        return 0 if PARENTS[j] < 0 else 1 + depth(PARENTS[j])
    return tuple(depth(j) for j in range(len(PARENTS)))


def kinematic_chain_verdict(per_joint_mm: dict[str, float]) -> str:
    """Whether the error grows with the distance from the pelvis along the kinematic tree,
    from a split's per_joint_mm (joint order of `skeleton.JOINT_NAMES`), measured: the mean
    error at each depth (bones from the pelvis), and whether it rises at every step."""
    depths = chain_depths()
    errors = list(per_joint_mm.values())
    by_depth = {d: float(np.mean([e for e, k in zip(errors, depths) if k == d]))
                for d in sorted(set(depths)) if d > 0}
    means = list(by_depth.values())
    steps = ", ".join(f"{by_depth[d]:.0f}" for d in by_depth)
    if all(b > a for a, b in zip(means, means[1:])):
        trend = "grows at every step along the kinematic chain away from the pelvis"
    elif means[-1] > means[0]:
        trend = "is larger at the ends of the kinematic chain than next to the pelvis, though " \
                "not at every step"
    else:
        trend = "does not grow along the kinematic chain in this run"
    return (f"the mean error of the joints 1 to {max(by_depth)} bones away from the pelvis is "
            f"{steps} mm in that order: the error {trend}")


def absolute_depth_note(test: SplitMetrics, loss: str) -> str:
    """What trained a run's root depth (its config.loss) and how far off it is on its test
    set (`test`: a split with the root-depth error, `evaluate.test_split`), beside the
    root-relative MPJPE."""
    if test.root_depth_error_mm is None:
        raise ValueError("absolute_depth_note needs the split's root_depth_error_mm "
                         "(evaluate.test_split measures it for an older run)")
    if loss == "absolute":
        how = ("This run was trained with the absolute loss, which compares the joints in the "
               "camera frame, so it trained the depth head to put the person at the right "
               "distance directly.")
    else:
        how = ("This run was trained with the root-relative loss, which compares the joints "
               "after subtracting the pelvis. That still trains the depth head: the network "
               "back-projects its pixel coordinates with the predicted root depth "
               "(X = (u - cx) Z / f), so a wrong depth makes the pose too wide or too narrow, "
               "and the loss pulls the depth through that scale.")
    return (f"{how} On its {test.n} test images the pelvis depth is off by "
            f"{test.root_depth_error_mm:.0f} mm on average ({test.root_depth_error_pct:.1f}% of "
            f"the true depth), against a root-relative MPJPE of {test.mpjpe_mm:.0f} mm.")


def relative_change_verdict(a_mm: float, b_mm: float, what: str) -> str:
    """A sentence comparing two errors: "barely depends on <what>" when they differ by less
    than a tenth, else how much it moves."""
    change = abs(b_mm - a_mm) / max(min(a_mm, b_mm), 1e-9)
    if change < 0.1:
        return f"the pose relative to the pelvis barely depends on {what}"
    return f"the pose relative to the pelvis depends on {what} too (its error changes by " \
           f"{100 * change:.0f}%)"


def real_frames_verdict(real: dict | None, m: RunMetrics) -> str:
    """What a run does on real people, from `real_frames.evaluate_run` (None: no real frames
    given) and the run's metrics; every number is measured here, what the run trained on comes
    from its config, and the real frames' subjects (from their file names) are named when the
    run trained on them."""
    test, c = m.test, m.config
    people = sources.for_config(c).people
    measured = f"on {people} test people it is off by {test.mpjpe_mm:.0f} mm"
    if test.mean_pose_baseline_mm is not None:
        measured += (f", against {test.mean_pose_baseline_mm:.0f} mm for always guessing the "
                     f"mean pose")
    model = (f"this model (backbone {c.backbone}; {initialisation(m.backbone_weights)}; "
             f"trained on {training_data(m)})")
    if real is None:
        return (f"No real frames were given (POSEBOOK_REALDATA is not set), so this chapter "
                f"measures only what it has: {measured}. The photos above have no ground truth; "
                f"nothing here measures {model} on real people.")
    subjects = sorted({name.split("/")[0] for name in real.get("per_frame_mm", {})})
    source = sources.for_config(m.config)
    seen = [s for s in subjects if s in training_subjects(m)] if source.real_people else []
    held_out = (f" These frames are not held out: their subjects {', '.join(seen)} were in this "
                f"run's training data." if seen else "")
    baseline = real.get("mean_pose_baseline_mm")
    if baseline is None:
        compare = "this run has no mean training pose to compare with"
    else:
        compare = (f"{'worse than' if real['mpjpe_mm'] > baseline else 'better than'} always "
                   f"guessing its mean training pose ({baseline:.0f} mm)")
    facing = list(real.get("per_frame_facing_deg", {}).values())
    turned = (f" Its pose faces away from the person's true chest direction by more than 90° on "
              f"{sum(a > 90 for a in facing)} of {len(facing)} frames (median "
              f"{float(np.median(facing)):.0f}°)." if facing else "")
    return (f"On the {real['n']} real Human3.6M frames given, with their true boxes and cameras, "
            f"{model} is off by {real['mpjpe_mm']:.0f} mm per joint (root-relative MPJPE): "
            f"{compare}.{turned}{held_out} By contrast, {measured}.")


def coverage_verdict(coverage: dict[float, float], p: float = 0.85) -> str:
    """A sentence on how much of the body occlusion hides at probability `p`, chosen from the
    measured `coverage` ({p: fraction of joints covered over all frames}, with p = 1 present)."""
    share, augmented = coverage[p], coverage[1.0]
    if augmented < 0.5:
        return (f"So at p = {p:g} most joints stay visible even in the augmented frames: the "
                f"network sees occlusion often, but rarely loses most of the body.")
    return (f"So an augmented frame loses most of its joints ({100 * augmented:.0f}%), and at "
            f"p = {p:g} {100 * share:.0f}% of all training joints are covered.")


def untrained_heatmaps_verdict(heatmaps, coords_px, input_px: int) -> dict[str, str]:
    """What an untrained network's heatmaps look like, measured, as glue-ready text.

    Args:
        heatmaps: (J, D, h, w) logits. coords_px: (J, >=2) soft-argmax (u, v), crop pixels.
        input_px: crop side S.
    Returns:
        {"peak": mean over joints of the largest cell's probability over a uniform volume's
        (x), "offset": mean distance of the joints from the crop centre (px), "verdict": a
        sentence chosen from the two}.
    """
    logits = np.asarray(heatmaps.detach().cpu() if hasattr(heatmaps, "detach") else heatmaps,
                        dtype=np.float64)
    flat = logits.reshape(logits.shape[0], -1)
    probs = np.exp(flat - flat.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    peak = float((probs.max(1) * flat.shape[1]).mean())
    uv = np.asarray(coords_px.detach().cpu() if hasattr(coords_px, "detach") else coords_px)
    centre = (input_px - 1) / 2
    offset = float(np.linalg.norm(uv[:, :2] - centre, axis=1).mean())
    flat_enough, central = peak < 3.0, offset < 0.1 * input_px
    if flat_enough and central:
        verdict = ("so the heatmaps are nearly flat and soft-argmax puts every joint near the "
                   "centre of its volume")
    elif central:
        verdict = ("so the heatmaps already have peaks from the random weights, but soft-argmax "
                   "still puts the joints near the centre of the crop")
    else:
        verdict = ("so the heatmaps are not flat: the random weights already make peaks, and "
                   "soft-argmax puts the joints well away from the centre of the crop")
    return {"peak": f"{peak:.1f}", "offset": f"{offset:.0f}", "verdict": verdict}


def quantization_verdict(rows: list[dict], crop_px: int = 256) -> dict[str, str]:
    """Glue-ready text on `softargmax.quantization_errors` rows (one per grid, ascending cells):
    "hard_cells" the mean hard-argmax error in cells (3D distance, averaged over the grids),
    "halving" the mean factor by which it falls when the grid doubles, and "soft_verdict" a
    sentence on whether soft-argmax beat hard argmax on every grid."""
    in_cells = [r["hard_px"] / (crop_px / r["cells"]) for r in rows]
    ratios = [a["hard_px"] / b["hard_px"] for a, b in zip(rows, rows[1:])
              if b["cells"] == 2 * a["cells"]]
    wins = sum(r["soft_px"] < r["hard_px"] for r in rows)
    verdict = ("Soft-argmax is more accurate than hard argmax on every grid here: it recovers "
               "the sub-cell position" if wins == len(rows) else
               f"Soft-argmax beats hard argmax on {wins} of the {len(rows)} grids here")
    return {"hard_cells": f"{np.mean(in_cells):.2f}",
            "halving": f"{np.mean(ratios):.1f}" if ratios else "—", "soft_verdict": verdict}


def h36m_status(status: str, root) -> str:
    """One sentence on what `data.h36m.status(root)` found: "prepared", "release" or "missing"."""
    return {
        "prepared": f"Human3.6M found at {root}: the measured row below is a real protocol-1 "
                    f"result.",
        "release": f"{root} holds the raw release, not prepared frames: run "
                   f"`posebook prepare-h36m --root {root} --out <folder>` and set "
                   f"H36M_ROOT=<folder>.",
        "missing": "Human3.6M is not available here, so no Human3.6M number is measured in this "
                   "build: the table shows the paper's quoted rows and, apart, our synthetic "
                   "result.",
    }[status]


def protocol1_line(protocol1_mm: float | None, config) -> str | None:
    """The protocol-1 number of a split, labelled with its source's people (`config`'s source)
    and the test subjects that were in training; None when there is none."""
    if protocol1_mm is None:
        return None
    source = sources.for_config(config)
    trained = [s for s in source.subjects("test") if s in source.subjects("train")]
    seen = f" ({' and '.join(trained)} were in training: train_on_val)" if trained else ""
    return (f"{source.people} protocol 1 (mean over actions of the per-action MPJPE, no "
            f"Procrustes): {protocol1_mm:.1f} mm{seen}")


def table2_runs(h36m: dict[str, RunMetrics], synthetic: RunMetrics | None) -> str:
    """Which runs Table 2 shows, in words: the Human3.6M runs by setting (``runs/<name>``) and
    the book's synthetic run of chapter 05, or that they do not exist."""
    found = "; ".join(f"{setting} setting in runs/{m.name}" for setting, m in h36m.items())
    return (f"Human3.6M runs: {found or 'none'}. Synthetic run (chapter 05): "
            f"{f'runs/{synthetic.name}' if synthetic else 'not run yet'}.")


def trained_heatmaps_note(trained: dict[str, str] | None, untrained: dict[str, str]) -> str:
    """The trained network's heatmaps against the untrained ones, in words: `trained` and
    `untrained` are `untrained_heatmaps_verdict` of each output (the same measures); `trained`
    None means there is no trained run yet."""
    if trained is None:
        return ("This profile's network has not been trained yet (chapter 05 trains it), so "
                "only the untrained heatmaps are shown; run chapter 05 and rebuild to see the "
                "trained ones here.")
    sharper = float(trained["peak"]) / max(float(untrained["peak"]), 1e-9)
    how = ("training has sharpened the heatmaps into peaks, although only the coordinates are "
           "supervised, never the heatmaps" if sharper > 2 else
           "training has barely sharpened the heatmaps in this run: the coordinate loss can be "
           "met by wide heatmaps too, and a short run does not get further")
    return (f"After training, the largest cell of a joint's volume holds on average "
            f"{trained['peak']} times a uniform cell's probability ({untrained['peak']} before) "
            f"and the joints land {trained['offset']} px from the crop centre on average "
            f"({untrained['offset']} before): {how}.")

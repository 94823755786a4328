"""Captions and computed sentences for the book, read from a run's metrics.json.

Captions say where a run's numbers come from (data, occluders, profile, backbone and how it was
initialised, steps, seeds); the `*_verdict`/`*_note` functions return the sentence that a
measured comparison selects, so no chapter states a conclusion its own run did not compute."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def initialisation(weights_source: str) -> str:
    """How a backbone was initialised, for readers: "ImageNet (<file name>)" or the "random
    init (...)" text of `model.backbones`, with no folder of the machine that trained it."""
    if weights_source.startswith("ImageNet weights from "):
        return f"ImageNet ({Path(weights_source.removeprefix('ImageNet weights from ')).name})"
    return weights_source


def run_caption(metrics: dict, seeds=None, steps: int | None = None) -> str:
    """Where a run's numbers come from, from its metrics.json: data (dataset, test size,
    occluders), profile, backbone and its initialisation, input size, steps and seeds.
    `seeds`/`steps` override the run's own (a study over several seeds of one setting)."""
    c = metrics["config"]
    seeds = ", ".join(str(s) for s in (seeds if seeds is not None else [c["seed"]]))
    return (f"{c['dataset']} data ({test_size(metrics)} test images; occluders: {metrics['occluders']}); "
            f"profile '{c['profile']}': {c['backbone']} at {c['input_px']} px, "
            f"{initialisation(metrics.get('backbone_weights', 'unknown'))}, "
            f"{steps if steps is not None else metrics['steps']} steps, seed(s) {seeds}.")


def test_size(metrics: dict) -> int:
    """The number of test frames a run was measured on: metrics.json's test "n", else (older
    runs) the size of its source's test split."""
    if "n" in metrics.get("test", {}):
        return metrics["test"]["n"]
    from .data import sources
    return len(sources.for_config(metrics["config"]).frames("test"))


def training_subjects(metrics: dict) -> tuple[str, ...]:
    """The subjects a run trained on, from metrics.json's config (its source's): Human3.6M
    S1, S5, S6, S7, S8 (plus S9, S11 with train_on_val); () for synthetic people."""
    from .data import sources
    return sources.for_config(metrics["config"]).subjects("train")


def training_data(metrics: dict) -> str:
    """What a run trained on, in words: "synthetic people" or "Human3.6M subjects S1, ..."."""
    from .data import sources
    source = sources.for_config(metrics["config"])
    subjects = source.subjects("train")
    return (f"{source.people} subjects {', '.join(subjects)}" if subjects
            else f"{source.people} people")


def absolute_depth_note(loss: str) -> str:
    """What a run's absolute depths mean, from its config.loss."""
    if loss == "absolute":
        return ("This run was trained with the absolute loss, so its depth head was trained to "
                "put the person at the right distance.")
    return ("This run was trained with the root-relative loss: nothing trained its absolute "
            "depth, so the depths here are what an untrained depth head gives, shown only to "
            "see how they move with the focal length.")


def relative_change_verdict(a_mm: float, b_mm: float, what: str) -> str:
    """A sentence comparing two errors: "barely depends on <what>" when they differ by less
    than a tenth, else how much it moves."""
    change = abs(b_mm - a_mm) / max(min(a_mm, b_mm), 1e-9)
    if change < 0.1:
        return f"the pose relative to the pelvis barely depends on {what}"
    return f"the pose relative to the pelvis depends on {what} too (its error changes by " \
           f"{100 * change:.0f}%)"


def real_frames_verdict(real: dict | None, metrics: dict) -> str:
    """What a run does on real people, from `real_frames.evaluate_run` (None: no real frames
    given) and the run's metrics.json; every number is measured here, what the run trained on
    comes from its config, and the real frames' subjects (from their file names) are named when
    the run trained on them."""
    from .data import sources

    test, c = metrics["test"], metrics["config"]
    init = initialisation(metrics.get("backbone_weights", "unknown"))
    people = sources.for_config(c).people
    measured = f"on {people} test people it is off by {test['mpjpe_mm']:.0f} mm"
    if test.get("mean_pose_baseline_mm") is not None:
        measured += f", against {test['mean_pose_baseline_mm']:.0f} mm for always guessing the mean pose"
    model = f"this model (backbone {c['backbone']}; {init}; trained on {training_data(metrics)})"
    if real is None:
        return (f"No real frames were given (POSEBOOK_REALDATA is not set), so this chapter "
                f"measures only what it has: {measured}. The photos above have no ground truth; "
                f"nothing here measures {model} on real people.")
    subjects = sorted({name.split("/")[0] for name in real.get("per_frame_mm", {})})
    seen = [s for s in subjects if s in training_subjects(metrics)]
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


def chain_depths() -> tuple[int, ...]:
    """Bones between each joint and the pelvis in the H36M-17 tree (pelvis 0, wrists 5)."""
    from .skeleton import PARENTS

    def depth(j: int) -> int:
        return 0 if PARENTS[j] < 0 else 1 + depth(PARENTS[j])
    return tuple(depth(j) for j in range(len(PARENTS)))


def kinematic_chain_verdict(per_joint_mm: dict[str, float]) -> str:
    """Whether the error grows with the distance from the pelvis along the kinematic tree,
    from metrics.json's per_joint_mm (joint order of `skeleton.JOINT_NAMES`), measured: the
    mean error at each depth (bones from the pelvis), and whether it rises at every step."""
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


def chosen_label(metrics: dict) -> str:
    """The weights a run's metrics.json chose, in words: "last weights" or "ensemble of
    snapshot_1, snapshot_2" (`evaluate.choose_members`)."""
    choice = metrics.get("ensemble_choice") or {}
    if choice.get("used") != "ensemble":
        return "last weights"
    return "ensemble of " + ", ".join(choice["members"])


def chosen_how(metrics: dict) -> str:
    """How the weights were picked: "chosen on validation", or "fixed by the profile" where
    nothing was chosen on data (Human3.6M, no ensemble asked for; ensemble_choice's rule)."""
    choice = metrics.get("ensemble_choice") or {}
    return "fixed by the profile" if choice.get("rule") == "fixed" else "chosen on validation"


def weights_used(metrics: dict) -> str:
    """The weights a run was measured with and why, from metrics.json's ensemble_choice, e.g.
    "ensemble of snapshot_0, snapshot_1 (Human3.6M: no validation split ...)"."""
    reason = (metrics.get("ensemble_choice") or {}).get("reason", "no choice recorded")
    return f"{chosen_label(metrics)} ({reason})"


def ensemble_verdict(metrics: dict) -> str:
    """The snapshot-ensemble choice of a run in words, from metrics.json: what validation chose
    and why, and how that choice does on the test set against the last weights (for a run with
    a validation split; `weights_used` says what any run used)."""
    choice = metrics.get("ensemble_choice") or {}
    variants = metrics["variants"]
    chosen, last = variants["test/flip/ensemble"], variants["test/flip/last"]
    how = chosen_how(metrics)
    if choice.get("used") != "ensemble":
        return (f"This run uses the last weights alone: {choice.get('reason', 'no ensemble')}. "
                f"In the table below the rows \"{how}\" therefore equal the rows \"last\".")
    test = ("it also helps on test" if chosen < last else
            "on test it is not better than the last weights" if chosen == last else
            "on test it is worse than the last weights, so the validation split did not predict "
            "the test result here")
    return (f"Validation chose the {choice['reason']}; {test} ({chosen:.1f} vs {last:.1f} mm with "
            f"flip TTA).")

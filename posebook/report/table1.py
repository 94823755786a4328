"""Table 1's sentences (chapter 06): the protocol in words, each gain against the seed-to-seed
noise, what occlusion augmentation did to the training fit and the generalisation gap, and the
regime without a gap (chapter 05's run, people drawn afresh for every image). Inputs are the
values `posebook.ablation` computes (its `summary` rows, `seed_spread`, `Gain`), duck-typed: this
layer sits below the ablation."""
from __future__ import annotations

import numpy as np

from .. import paper_numbers as paper
from ..data import sources
from ..config import RunConfig
from .metrics import RunMetrics
from .sentences import initialisation

NOISE_MULTIPLE = 2.0    # a difference beyond this many pooled seed stds is called real


def protocol(config: RunConfig, weights_source: str = "") -> str:
    """Table 1's runs in words: people (named subjects where the source has them), frames,
    network, input size, length, seeds and probabilities; `config` is one run's resolved
    config (`ablation.run_config`), `weights_source` its metrics' backbone_weights."""
    source = sources.for_config(config)
    train, test = source.subjects("train"), source.subjects("test")
    people = (f"{source.people} subjects {', '.join(train)} for training and {', '.join(test)} "
              f"for testing" if train and test else f"{source.people} people")
    init = initialisation(weights_source) if weights_source else (
        "random init" if config.pretrained in ("", "none") else config.pretrained)
    return (f"{people}; {config.n_train} training images, {config.n_test} test images; "
            f"{config.backbone} at {config.input_px} px, {init}, {config.steps} steps of "
            f"{config.batch_size} images, one run per p in "
            f"{', '.join(f'{p:.0%}' for p in config.ablation_p)} and seed in "
            f"{', '.join(str(s) for s in config.ablation_seeds)} (profile '{config.profile}').")


def gain(g, what: str) -> str:
    """One sentence for an `ablation.Gain` on the test set named `what`."""
    direction = "lowers" if g.delta_mm < 0 else "raises"
    text = (f"On the {what}, the best p > 0 (p = {g.p:.0%}) {direction} the MPJPE by "
            f"{abs(g.delta_mm):.1f} mm against no augmentation")
    if not np.isfinite(g.noise_multiple):
        return text + " (no seed-to-seed noise measured: one seed per p)."
    verdict = ("beyond noise" if g.noise_multiple > NOISE_MULTIPLE else "within noise")
    return (f"{text}: {g.noise_multiple:.1f} times the pooled seed-to-seed standard deviation "
            f"of {g.noise_mm:.1f} mm, {verdict} (beyond means more than {NOISE_MULTIPLE:g} "
            f"times).")


def shape(clean, occluded) -> str:
    """Whether the measured shape is the paper's: occlusion augmentation lowers the clean test
    error (the paper's Table 1, unoccluded validation images) and the occluded one, each beyond
    the noise. `clean`, `occluded`: `ablation.Gain`."""
    def real(g):
        return g.delta_mm < 0 and g.noise_multiple > NOISE_MULTIPLE
    quoted = paper.TABLE1_MPJPE_MM
    papers = (f"the paper's {quoted[0.0]} -> {quoted[paper.OCCLUSION_P]} mm at "
              f"p = {paper.OCCLUSION_P:.0%} (quoted)")
    if real(clean) and real(occluded):
        return (f"This is the paper's shape: occlusion augmentation is a regulariser here too, "
                f"lowering the error on unoccluded images of people it never saw, beside "
                f"{papers}.")
    if real(occluded):
        return (f"Only half of the paper's shape: augmentation helps on occluded images, but "
                f"on unoccluded ones it does not beat the noise, unlike {papers}.")
    return f"This is not the paper's shape ({papers}): no gain beyond the noise."


def fit_and_gap(rows: list[dict], p: float, noise_mm: float) -> str:
    """What p did to the training people and to the gap (clean test - training), against p = 0,
    and whether the two cancel on the test people (their sum, the clean-test change, against
    `NOISE_MULTIPLE` x `noise_mm`, the pooled seed std); `rows`: `ablation.summary` rows."""
    by_p = {r["p"]: r for r in rows}
    base, aug = by_p[0.0], by_p[p]
    if not (np.isfinite(base["train_mm"]) and np.isfinite(aug["train_mm"])):
        return "These runs carry no training-split MPJPE (trained by an older posebook)."
    fit = aug["train_mm"] - base["train_mm"]
    gap = aug["gap_mm"] - base["gap_mm"]
    net, limit = fit + gap, NOISE_MULTIPLE * noise_mm if np.isfinite(noise_mm) else 0.0
    if gap >= 0:
        verdict = "it does not close the gap."
    elif net < -limit:
        verdict = "the regulariser closes more of the gap than it costs in fit."
    elif net > limit:
        verdict = "it closes part of the gap, but costs more in fit."
    else:
        verdict = ("it closes about as much of the gap as it costs in fit: on the test people "
                   "the two cancel, within the seed noise.")
    return (f"Without augmentation the networks fit their training people to "
            f"{base['train_mm']:.1f} mm and miss the test people by {base['gap_mm']:.1f} mm more. "
            f"With p = {p:.0%} the training error is {fit:+.1f} mm "
            f"({aug['train_mm']:.1f} mm: the augmented task is harder to fit) and the gap "
            f"{gap:+.1f} mm ({aug['gap_mm']:.1f} mm): {verdict}")


def unlimited_people(m: RunMetrics | None) -> str:
    """The regime the issue moved away from, measured by chapter 05's run (people drawn afresh
    for every image): its training-split vs test MPJPE. None: chapter 05 has not run."""
    if m is None or m.train is None:
        return ("Chapter 05's run of this profile (people drawn afresh for every image) has not "
                "been trained, or predates the training-split metric: run chapter 05 to see "
                "its training vs test error here.")
    gap = m.test.mpjpe_mm - m.train.mpjpe_mm
    return (f"Chapter 05's run trains on {m.config.dataset} people drawn afresh for every "
            f"image ({m.config.n_train} of them, occlusion p = {m.config.occlusion_p:.0%}): on "
            f"its own training images it scores {m.train.mpjpe_mm:.1f} mm and on new people "
            f"{m.test.mpjpe_mm:.1f} mm, a gap of {gap:+.1f} mm. With no few people to overfit "
            f"to there is little gap for a regulariser to close, so in that regime occlusion "
            f"augmentation can only cost fit; this chapter's protocol is the paper's instead.")

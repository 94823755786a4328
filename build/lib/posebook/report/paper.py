"""The paper beside the book's numbers: sentences that set a run's measured result next to the
numbers quoted from the paper (`posebook.paper_numbers`, labelled as the paper's), say what
differs in how they were made, and explain why the book's own splits disagree."""
from __future__ import annotations

from .. import paper_numbers as paper
from .metrics import RunMetrics
from .sentences import initialisation, test_size, training_data


def paper_range_mm() -> str:
    """The paper's headline errors as a range, e.g. "about 50-55 mm": its challenge-validation
    MPJPE at p = 0.85 (Table 1) to its Human3.6M protocol-1 MPJPE (Table 2)."""
    low = paper.TABLE1_MPJPE_MM[paper.OCCLUSION_P]
    return f"about {low:.0f}-{paper.H36M_PROTOCOL1_MPJPE_MM:.0f} mm"


def paper_comparison(m: RunMetrics) -> str:
    """The paper's numbers (quoted) beside run `m`'s test MPJPE, with what differs: the
    backbone's initialisation, the training data, the schedule and the test set."""
    c = m.config
    quoted = (f"The paper reports {paper.H36M_PROTOCOL1_MPJPE_MM} mm on Human3.6M protocol 1 "
              f"(its Table 2) and {paper.TABLE1_MPJPE_MM[paper.OCCLUSION_P]} mm on the 2018 "
              f"challenge's validation set with p = {paper.OCCLUSION_P} (its Table 1), "
              f"{paper_range_mm()}: numbers quoted from {paper.SOURCE}, not measured here.")
    random = not m.backbone_weights.startswith("ImageNet")
    init = (f"this run's {c.backbone} starts from random weights ({m.backbone_weights})"
            if random else f"this run's {c.backbone} starts from {initialisation(m.backbone_weights)}")
    return (f"{quoted} The paper's {paper.BACKBONE} starts from {paper.INITIALISATION} and trains "
            f"{paper.H36M_EPOCHS} epochs on real people (Human3.6M); {init}, trains "
            f"{m.steps} steps at {c.input_px} px on {training_data(m)}, and is measured on "
            f"{test_size(m)} {c.dataset} test images. Its {m.test.mpjpe_mm:.1f} mm is therefore "
            f"a different measurement, set beside the paper's, not a reproduction of it "
            f"(profile '{c.profile}'; the 'paper' profile on Human3.6M is the reproduction, "
            f"chapter 07).")


def validation_vs_test(m: RunMetrics, history: dict) -> str:
    """Why a run's validation and test numbers differ: the same weights (the last ones) with
    the same flip setting score differently on the two splits because they hold different
    people; the validation curve differs again because it is measured without flip TTA.

    history: the run's history.json (val_step, val_mpjpe_mm: the curve during training).
    """
    c = m.config
    flip = "flip" if c.flip_test else "no_flip"
    val = (m.ensemble_choice.val_mpjpe_mm.get("last weights") if m.ensemble_choice else None)
    test = m.variants.get(f"test/{flip}/last")
    curve, steps = history.get("val_mpjpe_mm") or [], history.get("val_step") or []
    parts = []
    if val is not None and test is not None:
        parts.append(
            f"Validation and test are two separate draws of {c.dataset} people ({c.n_val} and "
            f"{test_size(m)} images, made the same way): the last weights score {val:.1f} mm on "
            f"validation and {test:.1f} mm on test ({'with' if c.flip_test else 'without'} flip "
            f"TTA on both), so the {abs(test - val):.1f} mm between them is sampling: which "
            f"people and poses each split happened to draw. That is why the weights are chosen "
            f"on validation and reported on test.")
    if curve:
        parts.append(f"The validation curve above ends at {curve[-1]:.1f} mm (update "
                     f"{steps[-1] if steps else '?'}): it is measured during training, on the "
                     f"last weights without flip TTA.")
    return " ".join(parts) or "This run recorded no validation numbers (n_val=0)."

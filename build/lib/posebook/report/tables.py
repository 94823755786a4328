"""The book's tables of measured numbers, each a `Table`: a run's test results, its flip x
weights variants and ensemble candidates, Table 1 (occlusion probability) with its breakdowns,
Table 2 (Human3.6M) and its per-action rows, and the sanity checks of a prediction."""
from __future__ import annotations

from ..paper_numbers import TABLE2_MPJPE_MM as TABLE2_QUOTED  # quoted: see posebook.paper_numbers
from . import sentences
from .metrics import RunMetrics
from .table import Table

SUMMARY_ROWS = (("MPJPE (mm)", "mpjpe_mm"), ("PA-MPJPE (mm)", "pa_mpjpe_mm"),
                ("MPJPE, occluded joints (mm)", "occluded_mm"),
                ("MPJPE, visible joints (mm)", "visible_mm"),
                ("left/right-swapped MPJPE (mm)", "lr_swapped_mpjpe_mm"),
                ("mean-pose baseline (mm)", "mean_pose_baseline_mm"))
TABLE2_HEADER = ("method", "source", "Human3.6M, trained on it only (mm)",
                 "Human3.6M, trained with extra 2D data (mm)")
OTHER_TEST_SET = "synthetic test people (mm), not comparable"


# --- one run (chapter 05; metrics.md) -----------------------------------------------------------
def summary(m: RunMetrics, caption: str = "") -> Table:
    """(quantity, clean test, occluded test): MPJPE, PA-MPJPE, occluded/visible joints,
    left/right-swapped MPJPE and the mean-pose baseline, mm."""
    occluded = m.split("test_occluded")
    rows = [(label, _float(getattr(m.test, key)), _float(getattr(occluded, key)))
            for label, key in SUMMARY_ROWS]
    return Table(("", "clean test", "occluded test"), rows, caption=caption)


def summary_markdown(m: RunMetrics) -> str:
    """`summary` as Markdown, then the training-split sentence (`sentences.train_split_line`)
    when the run has one: a run's metrics.md."""
    line = sentences.train_split_line(m)
    return summary(m).to_markdown() + (f"\n{line}\n" if line else "")


def variants(m: RunMetrics, caption: str = "") -> Table:
    """Test MPJPE for every flip x weights combination; "chosen on validation" (or "fixed by
    the profile", `sentences.chosen_how`) is `evaluate.choose_members`' choice (the last
    weights when no ensemble won)."""
    chosen = f"{sentences.chosen_how(m)} ({sentences.chosen_label(m)})"
    rows = []
    for key, value in m.variants.items():
        split, flip, weights = key.split("/")
        rows.append((split, "on" if flip == "flip" else "off",
                     chosen if weights == "ensemble" else "last", float(value)))
    return Table(("test set", "flip TTA", "weights", "MPJPE (mm)"), rows, caption=caption)


def ensemble_choice(m: RunMetrics, caption: str = "") -> Table:
    """The validation MPJPE of every snapshot-ensemble candidate, then the one used and why."""
    choice = m.ensemble_choice
    rows = [(label, float(value)) for label, value in
            (choice.val_mpjpe_mm if choice else {}).items()]
    rows.append((f"**used: {sentences.chosen_label(m)}**", (choice.reason if choice else None)
                 or ""))
    return Table(("candidate", "validation MPJPE (mm)"), rows, caption=caption)


# --- Table 1 (chapter 06): rows of `ablation.summary` ------------------------------------------
def _pm(mean: float, std: float, n: int):
    """"mean ± std" over n seeds (the mean alone for one seed)."""
    if mean is None or mean != mean:                      # None or NaN
        return None
    return f"{mean:.1f} ± {std:.1f}" if n > 1 else float(mean)


def table1(summary_rows: list[dict], caption: str = "") -> Table:
    """The paper's Table 1 (quoted) next to ours per probability: the training people, the clean
    and the occluded test people, and the gap (clean test - training; mean ± std over seeds).

    summary_rows: `posebook.ablation.summary` rows (p, n_seeds, paper_mm, train_mm, clean_mm, ...).
    """
    header = ("occlusion probability p", "paper (mm), quoted", "ours: training people (mm)",
              "ours: clean test (mm)", "gap: test - training (mm)", "ours: occluded test (mm)",
              "seeds")
    rows = [(f"{r['p']:.0%}" if r["p"] else "0 (no augmentation)",
             None if r["paper_mm"] is None else float(r["paper_mm"]),
             _pm(r["train_mm"], r["train_std_mm"], r["n_seeds"]),
             _pm(r["clean_mm"], r["clean_std_mm"], r["n_seeds"]),
             _pm(r["gap_mm"], r["gap_std_mm"], r["n_seeds"]),
             _pm(r["occluded_mm"], r["occluded_std_mm"], r["n_seeds"]), str(r["n_seeds"]))
            for r in summary_rows]
    return Table(header, rows, caption=caption)


def covered(summary_rows: list[dict], caption: str = "") -> Table:
    """Per p: occluded-test error of joints under an occluder vs the others, and the clean error."""
    header = ("occlusion probability p", "covered joints (mm)", "uncovered joints (mm)",
              "clean test, all joints (mm)")
    rows = [(f"{r['p']:.0%}", _pm(r["covered_mm"], r["covered_std_mm"], r["n_seeds"]),
             _pm(r["uncovered_mm"], r["uncovered_std_mm"], r["n_seeds"]),
             _pm(r["clean_mm"], r["clean_std_mm"], r["n_seeds"])) for r in summary_rows]
    return Table(header, rows, caption=caption)


def counts(by_p: dict[float, dict[int, float]], caption: str = "") -> Table:
    """Rows: number of occluders in the test image; columns: training p (MPJPE, mm)."""
    ps = list(by_p)
    numbers = sorted({n for table in by_p.values() for n in table})
    header = ("occluders in the image", *(f"p = {p:.0%}" for p in ps))
    rows = [(str(n), *(by_p[p].get(n) for p in ps)) for n in numbers]
    return Table(header, rows, caption=caption)


# --- Table 2 (chapter 07) ------------------------------------------------------------------------
def table2(measured: list[tuple[str, float | None, str]], caption: str = "",
           other: list[tuple[str, float | None, str]] = ()) -> Table:
    """Table 2: the quoted literature rows, then `measured` rows below a rule.

    Args:
        measured: (label, MPJPE mm or None = not run, source note) per Human3.6M row; the
            MPJPE goes in the "trained on it only" column (posebook adds no 2D data).
        other: rows measured on another test set (the book's synthetic people), in a column of
            their own (`OTHER_TEST_SET`), never under a Human3.6M heading.
    """
    header = TABLE2_HEADER + ((OTHER_TEST_SET,) if other else ())
    blank = (None,) if other else ()
    rows = [(name, "quoted from the paper", a, b, *blank) for name, a, b in TABLE2_QUOTED]
    first = len(rows)
    for label, value, note in measured:
        rows.append((label, note, "not run" if value is None else float(value), None, *blank))
    for label, value, note in other:
        rows.append((label, note, None, None, "not run" if value is None else float(value)))
    return Table(header, rows, caption=caption, separators=(first,))


def h36m_table2(h36m: dict[str, RunMetrics], synthetic: RunMetrics | None,
                profile: str) -> Table:
    """Table 2 with posebook's measured rows: each Human3.6M run's protocol-1 number (by
    setting; marked when S9 and S11 were in training) and, apart, the book's synthetic run."""
    measured = []
    for setting, m in h36m.items():
        seen = " (S9, S11 in training: not held out)" if m.config.train_on_val else ""
        measured.append((f"posebook, {m.config.profile} profile, {setting} setting{seen}",
                         m.test.protocol1_mm, f"measured, Human3.6M protocol 1 (runs/{m.name})"))
    other = [(f"posebook on synthetic people ({profile}), NOT Human3.6M",
              synthetic.test.mpjpe_mm if synthetic else None,
              "measured, synthetic test set (chapter 05)" if synthetic
              else "chapter 05 run missing")]
    sources = [m for m in (*h36m.values(), synthetic) if m is not None]
    return table2(measured, caption="Human3.6M protocol 1, MPJPE (mm). Measured rows: "
                  + " ".join(f"{m.name}: {sentences.run_caption(m)}" for m in sources),
                  other=other)


def per_action(m: RunMetrics, setting: str) -> Table:
    """A Human3.6M run's protocol-1 MPJPE per action, and their average ("Average") last."""
    rows = [(k, float(v)) for k, v in {**m.test.per_family_mm,
                                        "Average": m.test.protocol1_mm}.items()]
    return Table(("action", "MPJPE (mm)"), rows, caption=f"protocol 1, per action ({setting}). "
                 + sentences.run_caption(m))


# --- your own image (chapter 08) -----------------------------------------------------------------
CHECK_COLUMNS = (("height_mm", "height (mm)", "{:.0f}"), ("root_depth_mm", "pelvis depth (mm)",
                 "{:.0f}"), ("bone_error_pct", "bone-length error (%)", "{:.0f}"),
                 ("lr_asymmetry_pct", "left/right asymmetry (%)", "{:.0f}"),
                 ("in_box_pct", "joints in box (%)", "{:.0f}"),
                 ("ankles_v", "ankle row / image height", "{:.2f}"))


def pose_checks(rows: dict[str, dict]) -> Table:
    """One row per image of ``{title: posebook.predict.pose_checks(...)}``."""
    return Table(("image", *(label for _, label, _ in CHECK_COLUMNS)),
                 [(title, *(fmt.format(checks[key]) for key, _, fmt in CHECK_COLUMNS))
                  for title, checks in rows.items()])


def real_frames(real: dict | None, m: RunMetrics) -> Table | None:
    """Per real frame (`real_frames.evaluate_run` of the run `m`): root-relative MPJPE and
    facing error (angle between predicted and true chest normals; over 90 degrees = turned
    around), captioned with the run's profile, backbone and initialisation. None without real
    frames."""
    if real is None:
        return None
    facing = real.get("per_frame_facing_deg", {})
    rows = [(name, mm, facing.get(name)) for name, mm in real["per_frame_mm"].items()]
    return Table(("frame", "MPJPE (mm)", "facing error (deg)"), rows,
                 caption="Real Human3.6M frames, true boxes and cameras; the model: "
                 + sentences.run_caption(m), digits=0)


def _float(value):
    return None if value is None else float(value)

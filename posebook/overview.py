"""The book at a glance (the introduction's table): each chapter's headline number as this
build measured it, beside the paper's quoted one, with the profile and data that made it.

Everything is read at build time from the runs that exist (`train.finished_book_run`, the
Table 1 study's runs, the Human3.6M run of `table2`; a number an older run did not record is
measured, `evaluate.test_split`); nothing is trained here, and a chapter
that has not run in this profile says "not run". The paper's numbers come from
`posebook.paper_numbers` and are labelled as quoted.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import ablation, evaluate, paper_numbers, report, table2, train
from .config import RunConfig

NOT_RUN = "not run"
HEADER = ("chapter", "what is measured", "this book (mm)", "the paper (mm, quoted)",
          "profile and data")


@dataclass(frozen=True)
class Row:
    """One chapter's headline: what it measures, this build's value (text, NOT_RUN when the
    run does not exist), the paper's quoted value and where it stands, and what made ours."""
    chapter: str
    measure: str
    book: str
    paper: str
    made_by: str

    def cells(self) -> tuple[str, ...]:
        return (self.chapter, self.measure, self.book, self.paper, self.made_by)


def made_by(m: report.RunMetrics) -> str:
    """A run's profile and data in a few words: "cpu profile; synthetic people, 500 test
    images; mobilenet_v3_small from random init"."""
    c = m.config
    init = "ImageNet" if m.backbone_weights.startswith("ImageNet") else "random init"
    return (f"{c.profile} profile; {report.sentences.training_data(m)}, "
            f"{report.sentences.test_size(m)} test images; {c.backbone} from {init}")


def training_row(config: RunConfig) -> Row:
    """Chapter 05: the book's main run, its root-relative test MPJPE."""
    run_dir = train.finished_book_run(config)
    m = report.read(run_dir) if run_dir is not None else None
    return Row("05 training", "MPJPE after aligning the pelvis, clean test",
               f"{m.test.mpjpe_mm:.1f}" if m else NOT_RUN,
               f"{paper_numbers.H36M_PROTOCOL1_MPJPE_MM} (Human3.6M protocol 1, Table 2)",
               made_by(m) if m else f"{config.profile} profile")


def ablation_row(config: RunConfig) -> Row:
    """Chapter 06: Table 1's clean-test MPJPE without occlusion augmentation and with the best
    p > 0 the study trained (mean over its seeds, ± the pooled seed-to-seed std)."""
    p0, p = 0.0, paper_numbers.OCCLUSION_P
    quoted = (f"{paper_numbers.TABLE1_MPJPE_MM[p0]} → {paper_numbers.TABLE1_MPJPE_MM[p]} at "
              f"p = {p:g} (challenge validation set, Table 1)")
    measure = "clean-test MPJPE without occlusion augmentation → with the best p"
    if 0.0 not in config.ablation_p or not all(ablation.finished(c)
                                               for c in ablation.plan(config)):
        return Row("06 ablations", measure, NOT_RUN, quoted, f"{config.profile} profile")
    study = ablation.load(config, with_counts=False)
    rows = ablation.summary(study)
    gain = ablation.best_gain(rows, ablation.seed_spread(study), "clean_mm")
    base = next(r["clean_mm"] for r in rows if r["p"] == 0)
    return Row("06 ablations", measure,
               f"{base:.1f} → {base + gain.delta_mm:.1f} at p = {gain.p:g} "
               f"(seed std {gain.noise_mm:.1f})", quoted, made_by(study.first))


def h36m_row(config: RunConfig) -> Row:
    """Chapter 07: the Human3.6M run of the profile's setting, its protocol-1 MPJPE."""
    m = report.find(table2.run_name(config.profile, config.setting))
    measured = m is not None and m.test.protocol1_mm is not None
    return Row("07 Human3.6M", f"protocol-1 MPJPE ({config.setting} setting)",
               f"{m.test.protocol1_mm:.1f}" if measured else f"{NOT_RUN} (needs Human3.6M)",
               f"{paper_numbers.H36M_PROTOCOL1_MPJPE_MM} (Table 2)",
               made_by(m) if measured else f"{config.profile} profile")


def depth_row(config: RunConfig) -> Row:
    """Chapter 08: how far off the book's main run puts the person (root depth, test set;
    `evaluate.test_split` measures it for a run recorded before posebook did)."""
    run_dir = train.finished_book_run(config)
    m = report.read(run_dir) if run_dir is not None else None
    test = evaluate.test_split(run_dir) if m else None
    book = (f"{test.root_depth_error_mm:.0f} ({test.root_depth_error_pct:.1f}% of the depth)"
            if test else NOT_RUN)
    return Row("08 your own image", "error of the pelvis depth, clean test", book,
               "not reported", made_by(m) if m else f"{config.profile} profile")


def table(config: RunConfig) -> report.Table:
    """The introduction's table: one `Row` per chapter with a headline number."""
    rows = [training_row(config), ablation_row(config), h36m_row(config), depth_row(config)]
    return report.Table(HEADER, [row.cells() for row in rows], caption=(
        f"What this build measured ({config.profile} profile), beside the paper's numbers, "
        f"which are quoted from {paper_numbers.SOURCE}, not measured here. \"{NOT_RUN}\": that "
        f"chapter has not run in this profile yet."))

"""Results figures: Table 1's curve and the error by number of occluders (chapter 06); the
tables themselves are `posebook.report.tables`."""
from __future__ import annotations

from .. import paper_numbers


def ablation_plot(summary_rows: list[dict], title: str = ""):
    """matplotlib Figure: MPJPE vs training occlusion probability. Left: ours on the clean and
    the occluded test people and on the training people (mean ± std over seeds as error bars;
    the shaded band between training and clean test is the generalisation gap); right: the
    paper's quoted numbers (their own axis: real data, a different scale)."""
    import textwrap

    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.8))
    ours, paper = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    p = [100 * r["p"] for r in summary_rows]
    for key, label, marker in (("clean_mm", "clean test people", "o"),
                               ("occluded_mm", "occluded test people", "s"),
                               ("train_mm", "training people (unaugmented)", "v")):
        ours.errorbar(p, [r[key] for r in summary_rows],
                      yerr=[r[key.replace("_mm", "_std_mm")] for r in summary_rows],
                      marker=marker, capsize=3, label=label,
                      linestyle=":" if key == "train_mm" else "-")
    ours.fill_between(p, [r["train_mm"] for r in summary_rows],
                      [r["clean_mm"] for r in summary_rows], alpha=0.12, color="tab:blue",
                      label="gap: clean test - training")
    ours.set_title("measured (this machine)", fontsize=9)
    ours.set_ylabel("MPJPE (mm)")
    ours.legend(fontsize=7)
    quoted = paper_numbers.TABLE1_MPJPE_MM
    paper.plot([100 * q for q in quoted], list(quoted.values()), "k--", marker="^")
    paper.set_title("paper, quoted (challenge validation)", fontsize=9)
    for ax, ticks in ((ours, p), (paper, [100 * q for q in quoted])):
        ax.set_xlabel("occlusion-augmentation probability p (%)")
        ax.set_xticks(ticks)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=8)
    fig.tight_layout()
    return fig


def count_plot(by_p: dict[float, dict[int, float]], title: str = ""):
    """matplotlib Figure: occluded-test MPJPE vs number of occluders, one line per training p."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for p, table in by_p.items():
        ax.plot(list(table), list(table.values()), marker="o", label=f"trained with p = {p:.0%}")
    ax.set_xlabel("occluders pasted in the test image")
    ax.set_ylabel("MPJPE (mm)")
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        import textwrap
        ax.set_title("\n".join(textwrap.wrap(title, 95)), fontsize=8)
    fig.tight_layout()
    return fig

"""Results figures: Table 1's curve and the error by number of occluders (chapter 06); the
tables themselves are `posebook.report.tables`."""
from __future__ import annotations


def ablation_plot(summary_rows: list[dict], title: str = ""):
    """matplotlib Figure: MPJPE vs training occlusion probability. Left: ours on the clean and
    the occluded test set (mean ± std over seeds as error bars); right: the paper's quoted
    numbers (their own axis: real data, a different scale)."""
    import textwrap

    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 3.8))
    ours, paper = fig.subplots(1, 2, sharex=True, gridspec_kw={"width_ratios": [3, 2]})
    p = [100 * r["p"] for r in summary_rows]
    for key, label, marker in (("clean_mm", "clean test", "o"),
                               ("occluded_mm", "occluded test", "s")):
        ours.errorbar(p, [r[key] for r in summary_rows],
                      yerr=[r[key.replace("_mm", "_std_mm")] for r in summary_rows],
                      marker=marker, capsize=3, label=label)
    ours.set_title("measured (this machine)", fontsize=9)
    ours.set_ylabel("MPJPE (mm)")
    ours.legend()
    paper.plot(p, [r["paper_mm"] for r in summary_rows], "k--", marker="^")
    paper.set_title("paper, quoted (challenge validation)", fontsize=9)
    for ax in (ours, paper):
        ax.set_xlabel("occlusion-augmentation probability p (%)")
        ax.set_xticks(p)
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

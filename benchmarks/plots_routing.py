"""Plots for bench_routing.py: selection accuracy vs training examples per adapter."""
from __future__ import annotations

from pathlib import Path

CURVE_STYLE = {"default (kmeans)": "o-", "paper": "s--", "semantic-router": "^-.", "logreg C=10": "d:"}
TITLES = {"clinc150 domains": "CLINC150, 10 domains", "bbh": "BBH, 27 tasks", "clinc150 intents": "CLINC150, 150 intents"}


def plot_examples_curve(curve: dict, path: Path) -> Path:
    """One panel per column: accuracy (y) vs examples per adapter (x, log scale; 'all' at the mean count)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curve), figsize=(4.6 * len(curve), 4.0), squeeze=False)
    for ax, (name, cv) in zip(axes[0], curve.items()):
        xs = [p["per_adapter"] if p["per_adapter"] != "all" else p["n_train"] / cv["adapters"] for p in cv["points"]]
        for method, style in CURVE_STYLE.items():
            ax.plot(xs, [100 * p[method] for p in cv["points"]], style, label=method)
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([str(p["per_adapter"]) if p["per_adapter"] != "all" else f"all\n(~{x:.0f})"
                            for p, x in zip(cv["points"], xs)])
        ax.minorticks_off()
        ax.set_title(TITLES.get(name, name))
        ax.set_xlabel("training examples per adapter")
        ax.set_ylabel("selection accuracy on dev (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Routing accuracy vs training examples per adapter (all-MiniLM-L6-v2, seeded subsamples)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

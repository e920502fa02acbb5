"""Figures in the shape of BABILong's: accuracy heatmaps (rows x lengths) and cost curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; these machines have no display
import matplotlib.pyplot as plt  # noqa: E402


def heatmap(rows: dict[str, dict[str, float]], path: str | Path, title: str = "") -> None:
    """rows: label -> {length: accuracy fraction}. Cells show percent; missing cells stay blank. A last row
    labelled "average" (BABILong's tables) is set apart by a line: it summarises the rows above."""
    from .evaluate import length_order

    lengths = sorted({l for accs in rows.values() for l in accs}, key=length_order)
    labels = list(rows)
    grid = [[rows[r].get(l, float("nan")) * 100 for l in lengths] for r in labels]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(lengths), 1.0 + 0.5 * len(labels)))
    ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(lengths)), lengths)
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value == value:  # not NaN
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=9)
    if len(labels) > 1 and labels[-1] == "average":
        ax.axhline(len(labels) - 1.5, color="black", linewidth=2)
    ax.set_xlabel("context length (GPT-2 tokens)")
    if title:
        ax.set_title(title)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # The saved image grows to hold whatever was drawn: a title or row labels wider than the grid are never cut.
    fig.savefig(path, dpi=120, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)

"""Plots (matplotlib, headless): people read a heatmap faster than a table."""

from __future__ import annotations

import os
from pathlib import Path

GREEN, RED = "#5cb85c", "#d9534f"


def pass_fail_heatmap(path: Path, rows: list[str], columns: list[str],
                      cells: dict[tuple[int, int], tuple[bool, str]], title: str,
                      xlabel: str, ylabel: str) -> Path:
    """A grid coloured green (pass) or red (fail), each cell's text written in it; cells
    missing from ``cells`` (row index, column index) stay blank."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    values = [[float("nan") if (i, j) not in cells else float(cells[(i, j)][0])
               for j in range(len(columns))] for i in range(len(rows))]
    fig, ax = plt.subplots(figsize=(1.4 * len(columns) + 2, 0.7 * len(rows) + 1.5))
    ax.imshow(values, cmap=ListedColormap([RED, GREEN]), vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for (i, j), (_, text) in cells.items():
        ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

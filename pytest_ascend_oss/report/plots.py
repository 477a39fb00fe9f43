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


def _pyplot():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    fig.clf()
    _pyplot().close(fig)
    return path


def lines(path: Path, panels: list[dict], title: str) -> Path:
    """Side-by-side line charts. Each panel: ``x``, ``series`` {label: ys}, ``xlabel``,
    ``ylabel`` and optionally ``bound`` (a dashed horizontal line: the gate) and ``logx``."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, ys in panel["series"].items():
            if "bound" in label:  # a bound that changes along x: dashed, like a fixed one
                ax.plot(panel["x"], ys, color=RED, linestyle="--", marker=".", label=label)
            else:
                ax.plot(panel["x"], ys, marker="o", label=label)
        if panel.get("bound") is not None:
            ax.axhline(panel["bound"], color=RED, linestyle="--", label=panel.get("bound_label",
                                                                                  "bound"))
        if panel.get("logx"):
            ax.set_xscale("log", base=2)
        ax.set_xticks(panel["x"], panel.get("xticklabels") or [str(x) for x in panel["x"]])
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def cdfs(path: Path, panels: list[dict], title: str) -> Path:
    """Empirical CDFs side by side. Each panel: ``samples`` {label: values}, ``xlabel``."""
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, values in panel["samples"].items():
            xs = np.sort(np.asarray(values, dtype=float))
            if xs.size:
                ax.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", label=label)
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel("share of samples <= x")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def bars(path: Path, labels: list[str], panels: list[dict], title: str) -> Path:
    """Bar charts over the same labels (e.g. precision per prompt). Each panel: ``values``,
    ``ylabel`` and optionally ``bound``."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 0.16 * len(labels) + 2),
                                                      2.6 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        ax.bar(range(len(labels)), panel["values"], color=panel.get("color", "#4a7ebb"))
        if panel.get("bound") is not None:
            ax.axhline(panel["bound"], color=RED, linestyle="--")
        ax.set_ylabel(panel["ylabel"])
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    return _save(fig, path)


def front(path: Path, series: dict[str, list[tuple[float, float, str]]],
          frontiers: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str,
          title: str) -> Path:
    """Scatter series of (x, y, annotation) as dotted lines, and each series' frontier (its
    Pareto front) as a solid line in the same colour."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in series.items():
        (line,) = ax.plot([x for x, _, _ in points], [y for _, y, _ in points], marker="o",
                          linestyle=":", label=label)
        for x, y, note in points:
            ax.annotate(note, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        frontier = frontiers.get(label) or []
        if frontier:
            ax.plot([x for x, _ in frontier], [y for _, y in frontier], color=line.get_color(),
                    linewidth=2, label=f"{label} Pareto front")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)

"""Figures shared by the notebooks."""

from __future__ import annotations

import textwrap
from pathlib import Path

STAGE_COLOURS = {
    "foundation": "#d9d9d9",
    "segmentation": "#8dd3c7",
    "locatability": "#bebada",
    "curation": "#fdb462",
    "lvlm-training": "#fb8072",
    "evaluation": "#80b1d3",
    "retrieval": "#b3de69",
}


def plot_course_map(available: set[str] | None = None, ax=None):
    """The pipeline of both papers as boxes, each labelled with the notebook that teaches it.

    ``available``: notebook file names that exist; the others are drawn hatched as "coming".
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from geolib.course import COURSE_MAP

    if ax is None:
        _, ax = plt.subplots(figsize=(13, 4.6))
    lessons = {lesson.number: lesson for lesson in COURSE_MAP}
    # (notebook number, x, y) on a grid: GeoReasoner on top, CVG-Text below, foundation under both.
    layout = [
        ("01", 0, 2),
        ("02", 1, 2),
        ("03", 2, 2),
        ("04", 3, 2),
        ("05", 4, 2),
        ("06", 5, 2),
        ("07", 2.5, 1),
        ("00", 2.5, 0),
    ]
    width, height = 0.86, 0.62
    centres = {}
    for number, x, y in layout:
        lesson = lessons[number]
        ready = available is None or lesson.filename in available
        box = FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=STAGE_COLOURS[lesson.stage],
            edgecolor="black",
            hatch=None if ready else "//",
            alpha=1.0 if ready else 0.55,
        )
        ax.add_patch(box)
        title = textwrap.fill(lesson.title, 17)
        ax.text(x, y + 0.17, f"{number}", ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x, y - 0.07, title, ha="center", va="center", fontsize=7.5)
        centres[number] = (x, y)
    arrow = dict(arrowstyle="-|>", color="black", lw=1.2)
    for a, b in zip(["01", "02", "03", "04", "05"], ["02", "03", "04", "05", "06"], strict=True):
        (xa, ya), (xb, yb) = centres[a], centres[b]
        ax.annotate("", xy=(xb - width / 2, yb), xytext=(xa + width / 2, ya), arrowprops=arrow)
    x0, y0 = centres["00"]
    for target in ("01", "07"):
        xt, yt = centres[target]
        ax.annotate(
            "",
            xy=(xt, yt - height / 2),
            xytext=(x0, y0 + height / 2),
            arrowprops=dict(arrow, connectionstyle="arc3,rad=0.0"),
        )
    ax.text(
        -0.55, 2, "GeoReasoner\n(street view →\ncountry, city, reasons)", ha="right", va="center", fontsize=9
    )
    ax.text(-0.55, 1, "CVG-Text\n(description →\nsatellite / OSM tile)", ha="right", va="center", fontsize=9)
    ax.text(-0.55, 0, "Foundation\n(profiles, ClueWorld,\ngeo toolkit)", ha="right", va="center", fontsize=9)
    ax.set_xlim(-2.0, 5.6)
    ax.set_ylim(-0.5, 2.5)
    ax.axis("off")
    ax.set_title("Course map: which notebook teaches which stage (hatched = coming soon)", fontsize=11)
    return ax


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure atomically (PNG/SVG/PDF by suffix)."""
    from geolib.iox import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path

"""Figures shared by the notebooks."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

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


def ade20k_palette() -> np.ndarray:
    """A fixed colour per ADE20K-150 class (150 x 3 uint8), with familiar colours for street classes."""
    import numpy as np

    from geolib import ade20k as A

    rng = np.random.default_rng(150)
    palette = rng.integers(40, 230, size=(A.NUM_CLASSES, 3)).astype(np.uint8)
    fixed = {
        A.SKY: (135, 190, 235),
        A.ROAD: (90, 90, 90),
        A.SIDEWALK: (200, 180, 200),
        A.BUILDING: (180, 120, 90),
        A.TREE: (40, 150, 40),
        A.PALM: (120, 190, 60),
        A.GRASS: (150, 220, 100),
        A.CAR: (30, 30, 200),
        A.SIGNBOARD: (255, 220, 0),
        A.POLE: (255, 120, 0),
        A.COLUMN: (255, 0, 160),
        A.FLAG: (230, 20, 20),
        A.SEA: (20, 80, 160),
        A.WALL: (160, 100, 70),
        A.PERSON: (220, 20, 120),
        A.TOWER: (120, 0, 200),
    }
    for class_id, colour in fixed.items():
        palette[class_id] = colour
    return palette


def colorize_mask(mask) -> np.ndarray:
    """An (H, W) ADE20K class-id mask as an RGB picture."""
    return ade20k_palette()[mask]


def show_sample(sample, axes=None, *, title: bool = True):
    """Street view, its class mask, the satellite tile and the OSM tile of one ClueWorld sample."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    panels = [
        (sample.image, "street view"),
        (colorize_mask(sample.mask), "ADE20K mask"),
        (sample.satellite, "satellite tile"),
        (sample.osm, "OSM tile"),
    ]
    for ax, (picture, name) in zip(axes, panels, strict=True):
        ax.imshow(picture)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        axes[0].figure.suptitle(
            f"{sample.id}: {sample.city}, {sample.country_name} ({sample.richness})", fontsize=11
        )
    return axes


def plot_mask_legend(mask, ax, top: int = 8):
    """A legend of the ``top`` most frequent classes in ``mask``."""
    import numpy as np
    from matplotlib.patches import Patch

    from geolib import ade20k as A

    counts = np.bincount(mask.ravel(), minlength=A.NUM_CLASSES)
    palette = ade20k_palette()
    handles = [
        Patch(color=palette[c] / 255, label=f"{A.short_name(c)} {counts[c] / mask.size:.0%}")
        for c in np.argsort(counts)[::-1][:top]
        if counts[c]
    ]
    ax.legend(handles=handles, loc="center left", fontsize=8, frameon=False)
    ax.axis("off")


def plot_locations(latitudes, longitudes, labels=None, ax=None, title: str = "Sample locations"):
    """Points on a longitude/latitude plate carrée, coloured by label."""
    import matplotlib.pyplot as plt
    import numpy as np

    from geolib.geo.maps import plot_world

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 5.5))
    plot_world(ax)
    latitudes, longitudes = np.asarray(latitudes), np.asarray(longitudes)
    if labels is None:
        ax.scatter(longitudes, latitudes, s=8)
    else:
        labels = np.asarray(labels)
        for label in sorted(set(labels)):
            chosen = labels == label
            ax.scatter(longitudes[chosen], latitudes[chosen], s=10, label=label, alpha=0.8)
        ax.legend(fontsize=8, ncol=2, loc="lower left")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return ax


def plot_confusion(
    confusion: dict[str, dict[str, int]],
    ax=None,
    *,
    normalize: bool = True,
    title: str = "Country confusion (rows: truth, columns: guess)",
):
    """Heat map of ``evaluate(...)["confusion"]``; the last columns hold names that are not countries
    (``(unknown)``, only when there are any) and unanswered samples (``(none)``)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from geolib.geo.evaluate import UNANSWERED, UNKNOWN

    truths = sorted(confusion)
    guesses = {g for row in confusion.values() for g in row}
    labels = sorted(set(truths) | (guesses - {UNANSWERED, UNKNOWN}))  # rows and columns: real countries
    columns = [*labels, *([UNKNOWN] if UNKNOWN in guesses else []), UNANSWERED]
    matrix = np.array([[confusion.get(t, {}).get(g, 0) for g in columns] for t in labels], dtype=float)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    if ax is None:
        size = max(5, 0.28 * len(columns))
        _, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("guess")
    ax.set_ylabel("truth")
    ax.set_title(title, fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.04, label="share of the row" if normalize else "count")
    return ax


def plot_weights_comparison(derived, published=None, ax=None, *, label: int = 10):
    """Derived against published locatability weights, one dot per ADE20K class; the ``label`` classes
    ranked highest by either set are named, Spearman's rho is in the title."""
    import matplotlib.pyplot as plt
    import numpy as np

    from geolib import ade20k as A
    from geolib.locatability.formula import published_weights, weights_array
    from geolib.locatability.weights import compare_weights

    derived = weights_array(derived, source="derived weights")
    published = (
        published_weights() if published is None else weights_array(published, source="published weights")
    )
    rho = compare_weights(derived, published)["spearman"]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 6))
    ax.scatter(published, derived, s=14, alpha=0.6)
    top_derived, top_published = np.argsort(-derived, kind="stable"), np.argsort(-published, kind="stable")
    named = set(top_derived[:label]) | set(top_published[:label])
    for class_id in sorted(named):
        ax.annotate(
            A.short_name(class_id),
            (published[class_id], derived[class_id]),
            fontsize=7,
            xytext=(3, 2),
            textcoords="offset points",
        )
    ax.set_xlabel("published weight (GeoReasoner)")
    ax.set_ylabel("derived weight (clue text, Sentence-BERT)")
    ax.set_title(f"Locatability weights of 150 classes: Spearman rho = {rho:.2f}", fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def plot_top_weights(weights, top: int = 15, ax=None, *, title: str = "Highest locatability weights"):
    """Bar chart of the ``top`` classes with the largest weights, the largest at the top."""
    import matplotlib.pyplot as plt
    import numpy as np

    from geolib import ade20k as A
    from geolib.locatability.formula import weights_array

    weights = weights_array(weights)
    best = np.argsort(-weights, kind="stable")[:top]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 0.3 * len(best) + 1))
    palette = ade20k_palette()
    ax.barh(range(len(best)), weights[best], color=palette[best] / 255, edgecolor="black", linewidth=0.3)
    ax.set_yticks(range(len(best)), [A.short_name(c) for c in best], fontsize=8)
    ax.invert_yaxis()  # the largest weight on top
    ax.set_xlabel("weight")
    ax.set_title(title, fontsize=10)
    return ax


def plot_validity(table, axes=None):
    """Two panels from :func:`geolib.locatability.validity.validity_table`: the mean number of visible
    clues and the country classifier's accuracy per score bin, one line per scoring method."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    spearman = table.attrs.get("spearman_clues", {})
    for method, rows in table.groupby("method", sort=False):
        label = f"{method} (Spearman with clues {spearman[method]:.2f})" if method in spearman else method
        axes[0].plot(rows["bin"], rows["mean_clues"], marker="o", label=label)
        axes[1].plot(rows["bin"], rows["country_accuracy"], marker="o", label=method)
    if "accuracy" in table.attrs:
        axes[1].axhline(table.attrs["accuracy"], color="grey", linestyle="--", label="all images")
    bins = sorted(table["bin"].unique())
    for ax, ylabel in zip(axes, ("visible clues (mean)", "country classifier accuracy"), strict=True):
        ax.set_xticks(bins)
        ax.set_xlabel("locatability bin (1 = least locatable)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_ylim(0, 1)
    axes[0].set_title("More locatable views show more clues", fontsize=10)
    axes[1].set_title("... and are easier to place", fontsize=10)
    return axes


def plot_scores_scatter(formula, network, ax=None):
    """The network's score against the formula's on the same images, with the identity line, the
    Spearman correlation and the mean absolute error in the title."""
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy.stats import spearmanr

    from geolib.errors import DataError

    formula, network = np.asarray(formula, dtype=float), np.asarray(network, dtype=float)
    if formula.shape != network.shape or formula.ndim != 1 or not len(formula):
        raise DataError(
            f"expected two equally long lists of scores, got shapes {formula.shape} and {network.shape}",
            source="plot_scores_scatter",
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(formula, network, s=10, alpha=0.6, edgecolor="none")
    low = min(formula.min(), network.min())
    high = max(formula.max(), network.max())
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="network = formula")
    rho = spearmanr(formula, network).statistic
    mae = np.abs(formula - network).mean()
    ax.set_xlabel("formula (segmentation + published weights)")
    ax.set_ylabel("network (from pixels)")
    ax.set_title(f"Locatability: Spearman {rho:.3f}, MAE {mae:.4f}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return ax


def plot_segmentation_confusion(confusion: dict, ax=None, *, title: str = "Segmentation confusion"):
    """Heat map of a segmenter's pixel confusion as stored in its ``metrics.json``
    (``class_names`` and ``rows_true_columns_predicted``), each row normalised to the true class's pixels."""
    import matplotlib.pyplot as plt
    import numpy as np

    names = [name.split(",")[0] for name in confusion["class_names"]]
    counts = np.asarray(confusion["rows_true_columns_predicted"], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    if ax is None:
        size = max(5, 0.32 * len(names))
        _, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    plt.colorbar(image, ax=ax, fraction=0.04, label="share of the true class's pixels")
    return ax


def plot_threshold_sweep(summary, survival, axes=None, *, threshold: float = 0.4):
    """Curation's threshold sweep (:func:`geolib.curation.threshold_sweep`): images kept against the
    threshold, and each country's surviving share as a heat map; the dashed line marks ``threshold``."""
    import matplotlib.pyplot as plt
    import numpy as np

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(13, 0.22 * len(survival) + 2.5), width_ratios=[1, 1.4])
    left, right = axes
    left.plot(summary["threshold"], summary["kept"], marker="o")
    left.axvline(threshold, color="k", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    left.set_xlabel("locatability threshold")
    left.set_ylabel("images kept")
    left.set_title("How many images survive")
    left.legend()
    left.grid(alpha=0.3)
    image = right.imshow(survival.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    columns = [f"{t:.2f}" for t in survival.columns]
    right.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    right.set_yticks(range(len(survival)), survival.index, fontsize=7)
    nearest = int(np.argmin(np.abs(np.asarray(survival.columns, dtype=float) - threshold)))
    right.axvline(nearest, color="w", linestyle="--", linewidth=1)
    right.set_xlabel("threshold")
    right.set_title("Share of each country's images kept")
    plt.colorbar(image, ax=right, fraction=0.04)
    return axes


def plot_country_counts(
    before, after, ax=None, *, labels=("before", "after"), title: str = "Images per country"
):
    """Side-by-side bars of images per country (two sequences of country codes), largest first."""
    from collections import Counter

    import matplotlib.pyplot as plt
    import numpy as np

    first, second = Counter(before), Counter(after)
    countries = sorted(first | second, key=lambda c: (-first.get(c, 0), c))
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.35 * len(countries)), 3.5))
    x = np.arange(len(countries))
    ax.bar(x - 0.2, [first.get(c, 0) for c in countries], width=0.4, label=labels[0])
    ax.bar(x + 0.2, [second.get(c, 0) for c in countries], width=0.4, label=labels[1])
    ax.set_xticks(x, countries, rotation=90, fontsize=8)
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    return ax


SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#d62728"}


def plot_split_separation(
    latitudes,
    longitudes,
    splits,
    ax=None,
    *,
    center=None,
    radius_km: float = 4.0,
    min_distance_km: float = 1.0,
    title: str | None = None,
):
    """A close-up (``radius_km`` around ``center``, default: a test point) of a geo-separated split: each
    val / test point with a ring of ``min_distance_km``, inside which no training point may lie."""
    import matplotlib.pyplot as plt
    import numpy as np

    from geolib.geo.distance import EARTH_RADIUS_KM

    lat, lon = np.asarray(latitudes, float), np.asarray(longitudes, float)
    splits = np.asarray(splits, dtype=object)
    if center is None:
        held = np.flatnonzero(splits != "train")
        center = (lat[held[0]], lon[held[0]]) if held.size else (lat[0], lon[0])
    # local kilometres east / north of the centre: rings are circles at this scale
    x = np.radians(lon - center[1]) * np.cos(np.radians(center[0])) * EARTH_RADIUS_KM
    y = np.radians(lat - center[0]) * EARTH_RADIUS_KM
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    near = (np.abs(x) <= radius_km) & (np.abs(y) <= radius_km)
    for split, colour in SPLIT_COLOURS.items():
        chosen = near & (splits == split)
        ax.scatter(x[chosen], y[chosen], s=14, color=colour, label=split, zorder=3)
        if split != "train":
            for px, py in zip(x[chosen], y[chosen], strict=True):
                ax.add_patch(plt.Circle((px, py), min_distance_km, color=colour, fill=False, alpha=0.35))
    ax.set_xlim(-radius_km, radius_km)
    ax.set_ylim(-radius_km, radius_km)
    ax.set_aspect("equal")
    ax.set_xlabel("km east")
    ax.set_ylabel("km north")
    ax.legend(loc="upper right")
    ax.set_title(title or f"Splits near ({center[0]:.3f}, {center[1]:.3f}); rings: {min_distance_km:g} km")
    return ax

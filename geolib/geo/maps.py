"""Maps of predictions: static (world map with truth-to-guess lines, error histogram) and interactive."""

from __future__ import annotations

import numpy as np

from geolib.geo.distance import THRESHOLDS_KM, haversine_km


def plot_world(ax=None, *, facecolor: str = "#eeeeee", edgecolor: str = "#aaaaaa"):
    """Natural Earth countries as a light base map (plate carrée)."""
    import matplotlib.pyplot as plt

    from geolib.geo.countries import country_polygons

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 6))
    country_polygons().plot(ax=ax, facecolor=facecolor, edgecolor=edgecolor, linewidth=0.3)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 85)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    return ax


def plot_predictions_map(true_lat, true_lon, pred_lat, pred_lon, ax=None, *, title: str = "Truth -> guess"):
    """Lines from each true location (dot) to its guess (cross), coloured by error on a log scale."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm

    ax = plot_world(ax)
    true_lat, true_lon, pred_lat, pred_lon = (
        np.asarray(v, dtype=float) for v in (true_lat, true_lon, pred_lat, pred_lon)
    )
    km = np.maximum(np.asarray(haversine_km(true_lat, true_lon, pred_lat, pred_lon)), 0.1)
    norm = LogNorm(vmin=1, vmax=20000)
    segments = np.stack([np.stack([true_lon, true_lat], 1), np.stack([pred_lon, pred_lat], 1)], 1)
    lines = LineCollection(segments, cmap="viridis_r", norm=norm, linewidths=0.8, alpha=0.7)
    lines.set_array(km)
    ax.add_collection(lines)
    ax.scatter(true_lon, true_lat, s=10, c="black", label="truth", zorder=3)
    ax.scatter(pred_lon, pred_lat, s=18, c="tab:red", marker="x", label="guess", zorder=3)
    plt.colorbar(lines, ax=ax, fraction=0.025, pad=0.01, label="error (km)")
    ax.legend(loc="lower left")
    ax.set_title(title)
    return ax


def plot_error_histogram(km, ax=None, *, title: str = "Distance error"):
    """Histogram of errors on log-spaced bins with the 1 / 25 / 200 / 750 / 2500 km thresholds marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    km = np.asarray(km, dtype=float)
    km = np.maximum(km[np.isfinite(km)], 0.01)
    ax.hist(km, bins=np.logspace(-2, np.log10(20038), 40), color="tab:blue", alpha=0.8)
    for name, threshold in THRESHOLDS_KM.items():
        ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
        ax.text(threshold, ax.get_ylim()[1] * 0.95, f" {name}", rotation=90, va="top", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("error (km, log scale)")
    ax.set_ylabel("predictions")
    ax.set_title(title)
    return ax


def explore_predictions(
    true_lat, true_lon, pred_lat, pred_lon, labels=None, *, tiles: str | None = "OpenStreetMap"
):
    """An interactive folium map (``GeoDataFrame.explore``): truth-to-guess lines coloured by error.

    Offline, the background tiles stay blank; the country outlines and the lines still show.
    """
    import geopandas as gpd
    from shapely.geometry import LineString

    from geolib.geo.countries import country_polygons

    km = np.asarray(haversine_km(true_lat, true_lon, pred_lat, pred_lon))
    frame = gpd.GeoDataFrame(
        {"error_km": np.round(km, 1), "label": list(labels) if labels is not None else [""] * len(km)},
        geometry=[
            LineString([(a, b), (c, d)])
            for a, b, c, d in zip(true_lon, true_lat, pred_lon, pred_lat, strict=True)
        ],
        crs=4326,
    )
    outlines = country_polygons()[["name", "iso2", "geometry"]].copy()
    outlines["geometry"] = outlines.geometry.simplify(0.2)  # keeps the embedded map small
    base = outlines.explore(
        tiles=tiles,
        style_kwds={"fillOpacity": 0.05, "weight": 0.5, "color": "grey"},
        tooltip=["name", "iso2"],
    )
    return frame.explore(
        m=base, column="error_km", cmap="viridis_r", tooltip=["label", "error_km"], style_kwds={"weight": 2}
    )

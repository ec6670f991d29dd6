"""Figures of geolib.viz that no stage test covers."""

import matplotlib

matplotlib.use("Agg")

from geolib.viz import plot_segmentation_confusion  # noqa: E402


def test_segmentation_confusion_figure_normalises_rows():
    confusion = {"class_names": ["road, route", "sky"], "rows_true_columns_predicted": [[3, 1], [0, 0]]}
    ax = plot_segmentation_confusion(confusion)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["road", "sky"]
    assert ax.images[0].get_array().tolist() == [[0.75, 0.25], [0.0, 0.0]]  # an empty row stays 0


def test_curation_figures_draw_what_they_say():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    from geolib.curation import threshold_sweep
    from geolib.viz import plot_country_counts, plot_split_separation, plot_threshold_sweep

    summary, survival = threshold_sweep([0.1, 0.45, 0.5, 0.7], ["FR", "FR", "DE", "JP"], [0.1, 0.4, 0.6])
    left, right = plot_threshold_sweep(summary, survival, threshold=0.4)
    assert list(left.lines[0].get_ydata()) == [4, 3, 1]
    assert right.images[0].get_array().shape == (3, 3)
    ax = plot_country_counts(["FR", "FR", "DE"], ["FR", "DE", "DE", "JP"])
    heights = [p.get_height() for p in ax.patches]
    assert heights == [2, 1, 0, 1, 2, 1]  # FR, DE, JP before, then after
    lat = [48.0, 48.0, 48.02, 60.0]
    lon = [2.0, 2.01, 2.0, 10.0]
    ax = plot_split_separation(lat, lon, ["train", "test", "val", "test"], center=(48.0, 2.0))
    assert sum(isinstance(p, Circle) for p in ax.patches) == 2  # the far test point is out of view
    plt.close("all")

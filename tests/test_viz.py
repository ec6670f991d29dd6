"""Figures of geolib.viz that no stage test covers."""

import matplotlib

matplotlib.use("Agg")

from geolib.viz import plot_segmentation_confusion  # noqa: E402


def test_segmentation_confusion_figure_normalises_rows():
    confusion = {"class_names": ["road, route", "sky"], "rows_true_columns_predicted": [[3, 1], [0, 0]]}
    ax = plot_segmentation_confusion(confusion)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["road", "sky"]
    assert ax.images[0].get_array().tolist() == [[0.75, 0.25], [0.0, 0.0]]  # an empty row stays 0

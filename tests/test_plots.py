"""The heatmap PNG: a long title and long row labels are drawn whole, not cut at the figure's edge."""

import matplotlib.image
import numpy as np

from memreasoner.plots import heatmap


def _ink(png) -> np.ndarray:
    """True where a pixel is not the white background."""
    rgb = matplotlib.image.imread(png)[..., :3]
    return (rgb < 0.95).any(axis=-1)


def test_long_title_and_labels_fit_inside_the_png(tmp_path):
    png = tmp_path / "x.png"
    rows = {"memreasoner --augment 3000 --hop-revisit false (seed 2)": {"0k": 0.74, "1k": 0.5},
            "qa1": {"0k": 1.0}}
    heatmap(rows, png, title="memreasoner-qa2-augment-3000-barred-revisits: exact-match accuracy at every length")
    ink = _ink(png)
    # Something was cut if ink reaches the image's border: the margin must stay blank on all four sides.
    assert not ink[:2].any() and not ink[-2:].any() and not ink[:, :2].any() and not ink[:, -2:].any()
    # The title is there: ink in the band above the grid, spanning most of the image's width.
    top = np.flatnonzero(ink.any(axis=1))[0]
    title_columns = np.flatnonzero(ink[top:top + 10].any(axis=0))
    assert title_columns[-1] - title_columns[0] > 0.5 * ink.shape[1]


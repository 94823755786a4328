"""Figures for the book. Chapters draw only through these functions.

- `core`: offline plotly output (plotly.js inlined once per page) and 3D skeletons.
- `geometry`: cameras, crops, frusta (chapter 04).
- `data`: synthetic people (chapter 01); `occlusion`: occluders and augmentation (chapter 01).
- `model`: architecture, heatmaps, soft-argmax (chapters 02, 03).
- `training`: learning-rate schedules, curves, predictions (chapters 05, 06).
- `results`: Table 1's figures (chapter 06); `predict`: your own image (08) and the page
  ``posebook predict`` writes. Tables and sentences are `posebook.report`.
"""
from . import core, data, geometry, model, occlusion, predict, results, training  # noqa: F401
from .core import show_plotly, skeleton_3d  # noqa: F401

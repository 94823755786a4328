"""posebook: the runnable companion to Sárándi et al. (2018), "Synthetic Occlusion Augmentation
with Volumetric Heatmaps for the 2018 ECCV PoseTrack Challenge on 3D Human Pose Estimation".

Modules by layer, lowest first (the design's module list). A module imports only from its own
layer or below, never in a circle; tests/test_layers.py reads this table and checks every
import in the package against it, and that it names every module of the tree:

    1 foundations  skeleton paths profiles schedule progress distortion weights runtime
                   paper_numbers
    2 geometry     camera crop
    3 augment      augment
    4 data         data detect
    5 model        model
    6 metrics      metrics loss
    7 runs         runs checkpoint captions
    8 tasks        train evaluate predict ablation real_frames
    9 reading      viz book choices cli __main__

`augment` (draw a sample's Plan; its CPU and GPU renderers), `data` (frame sources, caches,
samples), `model` and `viz` are packages; `detect` (person boxes for a frame: HOG, torchvision's
detector, given boxes) needs only `weights`, and `prepare-h36m` caches its boxes, so it sits
with the data sources; chapters import `posebook`, never each other.
"""
__version__ = "0.1.0"

import os as _os

# On a small shared CPU, OpenMP threads that spin-wait for each other can make a training step
# 20-30x slower whenever another process (a data worker, a second kernel) is busy; passive
# waiting avoids that collapse (benchmarks/RESULTS.md, "Threads"). It only takes effect if set
# before torch is first imported, and a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

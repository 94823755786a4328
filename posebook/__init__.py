"""posebook: the runnable companion to Sárándi et al. (2018), "Synthetic Occlusion Augmentation
with Volumetric Heatmaps for the 2018 ECCV PoseTrack Challenge on 3D Human Pose Estimation".

Modules (dependencies point down this list): skeleton, camera, crop, data, augment, model,
metrics, train, evaluate, detect, viz, profiles, cli.
"""
__version__ = "0.1.0"

import os as _os

# On a small shared CPU, OpenMP threads that spin-wait for each other can make a training step
# 20-30x slower whenever another process (a data worker, a second kernel) is busy; passive
# waiting avoids that collapse (benchmarks/RESULTS.md, "Threads"). It only takes effect if set
# before torch is first imported, and a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

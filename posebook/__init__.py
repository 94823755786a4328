"""posebook: the runnable companion to Sárándi et al. (2018), "Synthetic Occlusion Augmentation
with Volumetric Heatmaps for the 2018 ECCV PoseTrack Challenge on 3D Human Pose Estimation".

Modules (dependencies point down this list): skeleton, camera, crop, data, augment, model,
metrics, train, evaluate, detect, viz, profiles, cli.
"""
__version__ = "0.1.0"

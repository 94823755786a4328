"""The numbers posebook quotes from the paper, in one place, each with where it is stated.

Source: Sárándi, Linder, Arras, Leibe, "Synthetic Occlusion Augmentation with Volumetric
Heatmaps for the 2018 ECCV PoseTrack Challenge on 3D Human Pose Estimation", arXiv:1809.04987
(2018). These are QUOTED, not measured by posebook; the book labels them as the paper's.
"""
from __future__ import annotations

SOURCE = "Sárándi et al. 2018 (arXiv:1809.04987)"

# Sec. 3.2: Pascal VOC 2012 trainval objects left after the filter (not person, not difficult,
# not truncated, mask area >= 500 px).
VOC_OBJECTS = 2638

# Sec. 3.2: occluders pasted per frame, as the paper's text states ("1-8"), and the per-frame
# probability of its final model.
OCCLUDERS_PER_FRAME = (1, 8)
OCCLUSION_P = 0.85

# Table 1: MPJPE (mm) on the 2018 ECCV PoseTrack challenge validation set per occlusion
# probability p (0 = no occlusion augmentation).
TABLE1_MPJPE_MM = {0.0: 62.6, 0.15: 52.9, 0.5: 50.4, 0.85: 49.5}

# Challenge test set, root-relative MPJPE (mm): the paper's entry.
CHALLENGE_TEST_MPJPE_MM = 45.2

# Table 2: full Human3.6M, protocol 1, MPJPE (mm); columns: trained on Human3.6M only / with
# extra 2D pose data. The paper's text lost the column of single-number rows; they are assigned
# by each method's training data and the paper's statement that its full model beats all prior
# work except Sun et al. (integral regression), which uses extra 2D data.
TABLE2_MPJPE_MM: tuple[tuple[str, float | None, float | None], ...] = (
    ("Tekin et al. (CVPR'16)", 125.0, None),
    ("Zhou et al. (CVPR'16)", 113.0, None),
    ("Zhou, Xingyi et al. (ECCV'16)", 107.3, None),
    ("Sun et al. (ICCV'17)", 92.4, 59.1),
    ("Martinez et al. (ICCV'17)", None, 62.9),
    ("Zhou et al. (ICCV'17)", None, 55.9),
    ("Pavlakos et al. (CVPR'18)", 71.9, 56.2),
    ("Sun et al. (arXiv'17, integral regression)", 64.1, 49.6),
    ("paper, no occlusion augmentation", 65.7, None),
    ("paper, full", 55.4, None),
)

# Table 2, the paper's full model (occlusion augmentation) on Human3.6M protocol 1, mm.
H36M_PROTOCOL1_MPJPE_MM = next(a for name, a, _ in TABLE2_MPJPE_MM if name == "paper, full")

# Sec. 3 "Training Details" and "Full Human3.6M Benchmark": how the paper's numbers were made.
BACKBONE = "ResNet-50 v2"
INITIALISATION = "ImageNet-pretrained weights"
H36M_EPOCHS = 40
DETECTOR = "YOLOv3 (Redmon and Farhadi 2018)"   # the challenge entry's person boxes (Sec. 3)

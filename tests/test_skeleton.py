import numpy as np
import pytest

from posebook import skeleton


def test_joint_order_matches_design():
    assert skeleton.N_JOINTS == 17
    assert skeleton.JOINT_NAMES[skeleton.ROOT] == "pelvis"
    assert skeleton.JOINT_NAMES[3] == "r_ankle" and skeleton.JOINT_NAMES[13] == "l_wrist"


def test_tree_is_rooted_and_parents_come_first():
    assert skeleton.PARENTS[skeleton.ROOT] == -1
    for child, parent in enumerate(skeleton.PARENTS):
        assert parent < child


def test_mirror_is_an_involution_that_swaps_sides():
    mirror = np.array(skeleton.MIRROR)
    assert (mirror[mirror] == np.arange(17)).all()
    for i, name in enumerate(skeleton.JOINT_NAMES):
        other = skeleton.JOINT_NAMES[mirror[i]]
        if name.startswith(("l_", "r_")):
            assert other[2:] == name[2:] and other[0] != name[0]
        else:
            assert other == name


def test_h36m32_selection_is_the_published_one():
    assert skeleton.H36M32_TO_17 == (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def test_bone_lengths_and_shape_check():
    lengths = skeleton.bone_lengths_mm(skeleton.STANDING_POSE_MM)
    assert lengths.shape == (16,)
    assert lengths[skeleton.BONES.index((1, 2))] == pytest.approx(440)
    batch = np.stack([skeleton.STANDING_POSE_MM] * 3)
    assert skeleton.bone_lengths_mm(batch).shape == (3, 16)
    with pytest.raises(ValueError, match=r"\(16, 3\)"):
        skeleton.bone_lengths_mm(np.zeros((16, 3)))

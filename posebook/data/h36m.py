"""Human3.6M: the official release layout, protocol 1, and a frame source for `PoseDataset`
(`H36MFrames`; which subjects and boxes a run's splits use: `sources.Human36M`).

Layout read (the dataset's own release, one folder per subject)::

    <root>/S{n}/MyPoseFeatures/D3_Positions/<Action>.cdf      32 joints, world mm, 50 fps
    <root>/S{n}/Videos/<Action>.<camera>.mp4                  50 fps, 1000 x 1000/1002 px
    <root>/S{n}/MySegmentsMat/ground_truth_bb/<Action>.<camera>.mat   (optional) box masks
    <root>/metadata.xml                                       (optional) calibration

`posebook prepare-h36m --root ... --out ...` (`posebook.data.h36m_prepare`) turns that into JPEG
frames plus ``index.npz``; `H36MFrames(prepared_root, subjects)` serves them as `Frame` objects,
so training and evaluation use the same code path as the synthetic data.

Protocol 1 ("full Human3.6M", the paper's Table 2): train on S1 S5 S6 S7 S8 (every 5th frame),
test on S9 S11 (every 64th frame), all four cameras, MPJPE over the 17 joints after subtracting
the pelvis, no Procrustes alignment, averaged per action (15 canonical actions, numbered
subactions merged) and then over actions.

Known data issues:
* S11 "Directions" (the unnumbered file) from camera 54138969 is corrupt in many copies of the
  release; like most published loaders it is left out (`KNOWN_BAD`; ``--keep-known-bad``).
* Some S9 sequences (e.g. SittingDown, Waiting, Greeting) have 3D ground truth offset from the
  video; the offset is a global translation, so root-relative errors (protocol 1) are unaffected
  but absolute (camera-space) errors there are not meaningful.
* Video and pose files can differ by a few frames; the shorter count is used
  (`h36m_prepare.MAX_FRAME_DIFF` frames of difference at most, else an error).

Challenge setting (ECCV 2018 PoseTrack 3D challenge; ``RunConfig.setting="challenge"``): neither
boxes nor intrinsics are given. Boxes come from a person detector, cached per frame by
``prepare-h36m --detector`` (`H36MFrames(boxes="detector")`; or `box_fn(image) -> (4,)` per
frame), and `focal_px` replaces the calibrated intrinsics by a pinhole camera with one global
focal length (a hyperparameter) and the principal point at the centre ((W-1)/2, (H-1)/2) of the
frame's real size (`Camera.center_principal_point`), no distortion; the model's learned focal
correction absorbs the mismatch and the loss is root-relative (``loss=root_relative``). Only
extrinsics are kept, so root-relative ground truth stays exact. ``train_on_val`` trains the
final model on S9 and S11 as well.

Frame sizes: a video may be larger than its camera's calibrated size (the real S7 camera
55011271 video is 1000x1002 for a 1000x1000 calibration); the calibration's pixel coordinates
are kept, the extra rows are image content, and each frame's real size (``image_wh``) is used.
"""
from __future__ import annotations

import dataclasses
import re
import zipfile
from pathlib import Path
from typing import Callable, Sequence as SequenceType

import numpy as np

from .. import paths, skeleton
from . import h36m_cameras

TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
TRAIN_STRIDE = 5
TEST_STRIDE = 64
ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)
# File-name spellings that differ from the canonical action names.
ACTION_ALIASES: dict[str, str] = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
# (subject, action as in the file name, camera) left out by default (see the module docstring).
KNOWN_BAD: frozenset[tuple[str, str, str]] = frozenset({("S11", "Directions", "54138969")})
INDEX_NAME = "index.npz"


def canonical_action(name: str) -> str:
    """Canonical action of a file's action name: "Directions 1" -> "Directions",
    "TakingPhoto" -> "Photo", "WalkingDog 2" -> "WalkDog"; ValueError for unknown names."""
    base = re.sub(r"[ _]\d+$", "", str(name).strip())
    base = ACTION_ALIASES.get(base, base)
    if base not in ACTIONS:
        raise ValueError(f"unknown Human3.6M action {name!r}; expected one of {', '.join(ACTIONS)} "
                         f"(or {', '.join(ACTION_ALIASES)}), optionally followed by a number")
    return base


def stride_for(subject: str) -> int:
    """Protocol-1 frame step: every 64th frame for test subjects, every 5th otherwise."""
    return TEST_STRIDE if subject in TEST_SUBJECTS else TRAIN_STRIDE


@dataclasses.dataclass(frozen=True)
class Sequence:
    """One video of the release and the files that belong to it."""

    subject: str        # "S1"
    action_file: str    # action as spelled in the file name, e.g. "Directions 1"
    action: str         # canonical action, e.g. "Directions"
    camera_id: str      # "54138969"
    video_path: Path
    pose_path: Path
    bb_path: Path | None  # ground-truth box masks, None when absent

    @property
    def name(self) -> str:
        """Folder-safe name, e.g. "Directions_1.54138969"."""
        return f"{self.action_file.replace(' ', '_')}.{self.camera_id}"


def find_sequences(root: str | Path, subjects: SequenceType[str],
                   cameras: SequenceType[str] = h36m_cameras.CAMERA_IDS,
                   keep_known_bad: bool = False) -> list[Sequence]:
    """All videos of `subjects` under the release folder `root`, sorted.

    Raises FileNotFoundError naming the missing subject folder, Videos folder or pose file, and
    ValueError naming a video whose action or camera is not a Human3.6M one.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Human3.6M root folder not found: {root}")
    sequences = []
    for subject in dict.fromkeys(subjects):      # a subject named twice is indexed once
        h36m_cameras._check(subject, h36m_cameras.CAMERA_IDS[0])
        videos = root / subject / "Videos"
        if not (root / subject).is_dir():
            raise FileNotFoundError(f"subject folder missing: {root / subject} "
                                    f"(expected {subject}/Videos and {subject}/MyPoseFeatures)")
        if not videos.is_dir():
            raise FileNotFoundError(f"videos folder missing: {videos}")
        for video in sorted(videos.glob("*.mp4")):
            stem = video.name[:-len(".mp4")]
            action_file, dot, camera_id = stem.rpartition(".")
            if action_file.startswith("_ALL") or action_file.startswith("ALL"):
                continue  # whole-session videos some copies contain; not part of the protocol
            if not dot or camera_id not in h36m_cameras.CAMERA_IDS:
                raise ValueError(f"{video}: expected a name <Action>.<camera>.mp4 with camera one "
                                 f"of {', '.join(h36m_cameras.CAMERA_IDS)}")
            try:
                action = canonical_action(action_file)
            except ValueError as error:
                raise ValueError(f"{video}: {error}") from None
            if camera_id not in cameras:
                continue
            if not keep_known_bad and (subject, action_file, camera_id) in KNOWN_BAD:
                continue
            pose = root / subject / "MyPoseFeatures" / "D3_Positions" / f"{action_file}.cdf"
            if not pose.is_file():
                raise FileNotFoundError(f"pose file missing for video {video}: expected {pose}")
            bb = root / subject / "MySegmentsMat" / "ground_truth_bb" / f"{stem}.mat"
            sequences.append(Sequence(subject, action_file, action, camera_id, video, pose,
                                      bb if bb.is_file() else None))
    return sequences


def read_poses_world_mm(cdf_path: str | Path) -> np.ndarray:
    """All 32 joints of a ``D3_Positions`` pose file.

    Returns:
        (N, 32, 3) float64 world coordinates, mm.
    """
    import cdflib
    path = Path(cdf_path)
    if not path.is_file():
        raise FileNotFoundError(f"pose file not found: {path}")
    try:
        pose = np.asarray(cdflib.CDF(str(path)).varget("Pose"), dtype=np.float64)
    except Exception as error:  # cdflib raises several types for broken files
        raise ValueError(f"{path}: cannot read variable 'Pose' ({error})") from None
    if pose.ndim != 3 or pose.shape[0] != 1 or pose.shape[2] != 96:
        raise ValueError(f"{path}: expected 'Pose' of shape (1, N, 96), got {pose.shape}")
    return pose.reshape(-1, 32, 3)


def select_17(joints32: np.ndarray) -> np.ndarray:
    """(..., 32, 3) Human3.6M joints -> (..., 17, 3) in `skeleton` order."""
    joints32 = np.asarray(joints32)
    if joints32.shape[-2] != 32:
        raise ValueError(f"expected (..., 32, D) joints, got {joints32.shape}")
    return joints32[..., list(skeleton.H36M32_TO_17), :]


def box_from_joints(joints_px: np.ndarray, margin_frac: float = 0.15) -> np.ndarray:
    """Person box around projected joints, widened by `margin_frac` of its larger side per edge.

    Joints sit inside the body, so the margin adds room for the head, hands and feet.

    Args:
        joints_px: (..., J, 2) pixel coordinates (NaNs ignored).
    Returns:
        (..., 4) boxes (x, y, w, h), pixels.
    """
    joints_px = np.asarray(joints_px, dtype=np.float64)
    if joints_px.ndim < 2 or joints_px.shape[-1] != 2:
        raise ValueError(f"joints_px must have shape (..., J, 2), got {joints_px.shape}")
    low, high = np.nanmin(joints_px, axis=-2), np.nanmax(joints_px, axis=-2)
    margin = margin_frac * np.max(high - low, axis=-1, keepdims=True)
    low, high = low - margin, high + margin
    return np.concatenate([low, high - low], axis=-1)


def read_gt_boxes(mat_path: str | Path) -> np.ndarray:
    """Boxes from a ``ground_truth_bb`` mask file: the extent of each frame's nonzero pixels.

    Reads MATLAB v5 files with scipy and v7.3 (HDF5) files with h5py when it is installed.
    Returns:
        (N, 4) boxes (x, y, w, h), pixels; NaN rows for empty masks.
    """
    path = Path(mat_path)
    try:
        import scipy.io
        masks = list(np.ravel(scipy.io.loadmat(str(path))["Masks"]))
    except NotImplementedError:  # MATLAB v7.3 = HDF5
        try:
            import h5py
        except ImportError:
            raise ValueError(f"{path}: MATLAB v7.3 file; install h5py to read it") from None
        with h5py.File(path, "r") as f:
            masks = [np.asarray(f[ref]).T for ref in np.ravel(f["Masks"])]
    except KeyError:
        raise ValueError(f"{path}: expected a variable 'Masks' (one mask per frame)") from None
    boxes = np.full((len(masks), 4), np.nan)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(np.asarray(mask))
        if len(xs):
            boxes[i] = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    return boxes


def load_index(prepared_root: str | Path) -> dict[str, np.ndarray]:
    """The ``index.npz`` written by `posebook prepare-h36m` (arrays listed in `h36m_prepare`)."""
    path = Path(prepared_root) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no prepared Human3.6M index at {path}; run "
                                f"`posebook prepare-h36m --root <release> --out {prepared_root}`")
    try:
        with paths.open_npz(path) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:   # truncated, say
        raise ValueError(f"prepared Human3.6M index {path} is damaged ({type(error).__name__}: "
                         f"{str(error)[:120]}); rerun `posebook prepare-h36m --root <release> "
                         f"--out {prepared_root}` (it reuses the frames)") from None


class H36MFrames:
    """Prepared Human3.6M frames as a frame source (`__len__`, `frame(i) -> Frame`).

    Args:
        prepared_root: output folder of `posebook prepare-h36m`.
        subjects: subjects to serve (e.g. `TRAIN_SUBJECTS`).
        actions: canonical actions to keep (None = all); cameras likewise.
        step: keep every `step`-th indexed frame of each sequence (on top of the prepared
            subsampling).
        boxes: "gt" (the index's ground-truth boxes) or "detector" (the detector boxes that
            ``prepare-h36m --detector`` cached; challenge setting).
        box_fn: instead of the index, `box_fn(image) -> (4,)` (a detector run per frame).
        focal_px: None = calibrated cameras; else a pinhole camera with this focal length and
            the principal point at the centre ((W-1)/2, (H-1)/2) of the frame's real size
            (challenge setting: unknown intrinsics).
    """

    def __init__(self, prepared_root: str | Path, subjects: SequenceType[str],
                 actions: SequenceType[str] | None = None, cameras: SequenceType[str] | None = None,
                 step: int = 1, box_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 focal_px: float | None = None, boxes: str = "gt"):
        self.root = Path(prepared_root)
        index = load_index(self.root)
        if "image_wh" not in index:
            raise ValueError(f"{self.root / INDEX_NAME} was written by an older posebook (no "
                             f"image_wh); rerun `posebook prepare-h36m` (it reuses the frames)")
        if boxes not in ("gt", "detector"):
            raise ValueError(f"boxes must be 'gt' or 'detector', got {boxes!r}")
        if boxes == "detector" and "box_det_xywh_px" not in index:
            raise ValueError(f"{self.root / INDEX_NAME} holds no detector boxes (the challenge "
                             f"setting needs them): rerun `posebook prepare-h36m --detector auto`")
        self.box_key = "box_xywh_px" if boxes == "gt" else "box_det_xywh_px"
        keep = np.isin(index["subject"], list(subjects))
        if actions is not None:
            keep &= np.isin(index["action"], [canonical_action(a) for a in actions])
        if cameras is not None:
            keep &= np.isin(index["camera"], list(cameras))
        rows = np.nonzero(keep)[0][::max(1, int(step))]
        if len(rows) == 0:
            raise ValueError(f"{self.root / INDEX_NAME} has no frames for subjects {list(subjects)}"
                             f", actions {actions}, cameras {cameras}")
        self.index = {k: (v[rows] if v.ndim and len(v) == len(keep) else v)
                      for k, v in index.items()}
        self.w0 = index["w0"]
        self.box_fn, self.focal_px = box_fn, focal_px
        self.family_names = ACTIONS  # family_id indexes this (PoseDataset / evaluate)
        self._cameras: dict[tuple[str, str], object] = {}

    def __len__(self) -> int:
        return len(self.index["frame"])

    def camera(self, i: int):
        """The `Camera` of frame `i` (calibrated, or the challenge pinhole; see the class doc)."""
        w, h = (int(v) for v in self.index["image_wh"][i])
        key = (str(self.index["subject"][i]), str(self.index["camera"][i]), w, h)
        if key not in self._cameras:
            cam = h36m_cameras.camera(*key[:2], w0=self.w0)
            if self.focal_px is not None:
                from ..camera import Camera
                pinhole = np.diag([self.focal_px, self.focal_px, 1.0])
                cam = Camera(pinhole, cam.R, cam.t).center_principal_point((w, h))
            self._cameras[key] = cam
        return self._cameras[key]

    def frame(self, i: int):
        """Frame `i`: image (H, W, 3) uint8 RGB, camera, joints_world_mm (17, 3), box, action."""
        import cv2
        from .synthetic import Frame
        if not 0 <= i < len(self):
            raise IndexError(f"frame index {i} out of range for {len(self)} frames")
        path = self.root / str(self.index["image"][i])
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"prepared frame missing or unreadable: {path} "
                                    f"(rerun `posebook prepare-h36m`; it resumes)")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        box = (np.asarray(self.box_fn(image), dtype=np.float64) if self.box_fn is not None
               else self.index[self.box_key][i].astype(np.float64))
        action = str(self.index["action"][i])
        return Frame(image=image, camera=self.camera(i),
                     joints_world_mm=self.index["joints_world_mm"][i].astype(np.float64),
                     box_xywh_px=box, family=action, family_id=ACTIONS.index(action),
                     self_visible=np.ones(skeleton.N_JOINTS, dtype=bool),  # not annotated
                     mask=None)  # Human3.6M has no per-frame silhouette here


def status(root: str | Path | None) -> str:
    """"prepared" (holds index.npz), "release" (holds S1/Videos etc.: run prepare-h36m first),
    or "missing" (None, empty or not a folder)."""
    if not root or not Path(root).is_dir():
        return "missing"
    if (Path(root) / INDEX_NAME).is_file():
        return "prepared"
    if any((Path(root) / s / "Videos").is_dir() for s in TRAIN_SUBJECTS + TEST_SUBJECTS):
        return "release"
    return "missing"


# Assumptions behind `cost_estimate` (labelled as estimates wherever shown).
APPROX_TRAIN_VIDEO_FRAMES = 1_500_000  # S1 S5 S6 S7 S8 x 4 cameras at 50 fps (approximate)
ASSUMED_IMAGES_PER_S = 400.0      # ResNet-50 v2, 256 px, bf16 training on one A100/H100-class GPU
ASSUMED_JPEG_KB = 120.0           # one 1000x1000 frame at JPEG quality 95


def cost_estimate(n_train_frames: int | None = None, epochs: int = 40,
                  images_per_s: float = ASSUMED_IMAGES_PER_S,
                  jpeg_kb: float = ASSUMED_JPEG_KB) -> dict[str, float]:
    """Rough cost of the paper's full-Human3.6M run (40 epochs) on one GPU: an ESTIMATE.

    n_train_frames: from a prepared index when available; else `APPROX_TRAIN_VIDEO_FRAMES` /
    `TRAIN_STRIDE` (the literature's "about 300k" protocol-1 training images).
    Returns dict(n_train_frames, train_hours, disk_gb).
    """
    if n_train_frames is None:
        n_train_frames = APPROX_TRAIN_VIDEO_FRAMES // TRAIN_STRIDE
    return dict(n_train_frames=float(n_train_frames),
                train_hours=epochs * n_train_frames / images_per_s / 3600.0,
                disk_gb=n_train_frames * jpeg_kb / 1e6)

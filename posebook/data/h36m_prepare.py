"""`posebook prepare-h36m`: extract the protocol-1 frames of Human3.6M to JPEG and index them.

For each video (`h36m.find_sequences`) it reads the pose file, checks the frame counts, decodes
the video once and writes every `stride`-th frame (5 for training subjects, 64 for S9/S11) to
``<out>/<subject>/<Action_n>.<camera>/<frame:06d>.jpg`` (0-based frame numbers), then the
sequence's ``index.npz`` and a ``done.json`` marker. A rerun skips finished sequences (a damaged
marker or index counts as unfinished) and frames already on disk; every file is written atomically, so a killed run leaves no partial files.
Finally all finished sequences are merged into ``<out>/index.npz`` with the arrays:

    subject (N,) str · action (N,) canonical str · action_file (N,) str · camera (N,) str ·
    frame (N,) int64 · image (N,) str path relative to <out> · box_xywh_px (N, 4) float32 ·
    box_source (N,) "gt_mask" | "joints" · joints_world_mm (N, 17, 3) float64 ·
    image_wh (N, 2) int64 the frame's real size (a video may be larger than its camera's
    calibrated size: the calibration's pixel coordinates stay, the extra rows are content) ·
    w0 (300,) the calibration vector used (package constants or metadata.xml) ·
    with ``--detector``: box_det_xywh_px (N, 4) float32 the detector's best box (the whole
    frame when it found no one), box_det_score (N,) float32 (NaN: no one found), detector (N,).

Frames whose 17 joints are not all finite are left out (a warning names them).
"""
from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from .. import paths
from . import h36m, h36m_cameras

HOG_MAX_IMAGE_PX = 500  # HOG fallback sees frames at half size: people stay > 128 px, 4x faster
MAX_FRAME_DIFF = 10  # tolerated difference between video and pose frame counts (frames)
MARKER_VERSION = 2   # 2: image_wh, detector boxes, non-finite poses left out


def _jpeg_complete(path: Path) -> bool:
    """A JPEG file exists and ends with the end-of-image marker (cheap integrity check)."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\xff\xd8":
                return False
            f.seek(-2, 2)
            return f.read(2) == b"\xff\xd9"
    except OSError:
        return False


def _write_jpeg(path: Path, image_bgr: np.ndarray, quality: int) -> None:
    import cv2
    ok, data = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode JPEG for {path}")
    with paths.atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())


def _boxes(seq: h36m.Sequence, joints32_world_mm: np.ndarray, frames: np.ndarray,
           w0: np.ndarray) -> tuple[np.ndarray, str]:
    """(F, 4) boxes for `frames`: ground-truth mask boxes when readable, else projected joints."""
    if seq.bb_path is not None:
        try:
            gt = h36m.read_gt_boxes(seq.bb_path)
            if len(gt) > frames.max() and np.isfinite(gt[frames]).all():
                return gt[frames], "gt_mask"
            warnings.warn(f"{seq.bb_path}: {len(gt)} masks, some empty or too few for frame "
                          f"{frames.max()}; using boxes from projected joints")
        except ValueError as error:
            warnings.warn(f"{error}; using boxes from projected joints")
    cam = h36m_cameras.camera(seq.subject, seq.camera_id, w0=w0)
    return h36m.box_from_joints(cam.world_to_image(joints32_world_mm[frames])), "joints"


def _check_size(seq: h36m.Sequence, size_wh: tuple[int, int]) -> None:
    """Frames at least as large as the camera's calibrated size are fine: the calibration's
    pixel coordinates stay, the extra rows or columns are image content (some real videos,
    e.g. S7 camera 55011271, are 1000x1002 for a 1000x1000 camera). Smaller is an error."""
    nominal = h36m_cameras.IMAGE_SIZE_WH[seq.camera_id]
    if size_wh[0] < nominal[0] or size_wh[1] < nominal[1]:
        raise ValueError(f"{seq.video_path}: frames are {size_wh[0]}x{size_wh[1]} px, smaller "
                         f"than the {nominal[0]}x{nominal[1]} px camera {seq.camera_id} is "
                         f"calibrated for")
    if size_wh != nominal:
        warnings.warn(f"{seq.video_path}: frames are {size_wh[0]}x{size_wh[1]} px, camera "
                      f"{seq.camera_id} is calibrated for {nominal[0]}x{nominal[1]}: pixel "
                      f"coordinates stay the calibration's, the extra "
                      f"{size_wh[0] - nominal[0]} column(s) and {size_wh[1] - nominal[1]} row(s) "
                      f"are image content")


def _detect(detector, image_rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(4,) best person box and its score; no person: the whole frame, score NaN."""
    found = detector(image_rgb)
    if len(found):
        return found.boxes_xywh_px[0], float(found.scores[0])
    height, width = image_rgb.shape[:2]
    return np.array([0.0, 0.0, width, height]), float("nan")


def prepare_sequence(seq: h36m.Sequence, out: Path, stride: int, w0: np.ndarray,
                     quality: int = 95, on_frame: Callable[[Path], None] | None = None,
                     detector=None) -> int:
    """Extract one video's frames (resumably) and write its index; returns frames indexed.
    `detector` (a `posebook.detect` detector): also cache its best box of every frame. A
    finished sequence is skipped when its settings match; without a detector, one finished with
    a detector matches too (its cached boxes stay)."""
    import cv2
    folder = out / seq.subject / seq.name
    marker = folder / "done.json"
    settings = dict(version=MARKER_VERSION, stride=stride, video=seq.video_path.name,
                    detector=getattr(detector, "name", None))
    done = _finished(folder)
    if done is not None and all(done.get(k) == v for k, v in settings.items()
                                if k != "detector" or detector is not None):
        return int(done["n_indexed"])
    joints32 = h36m.read_poses_world_mm(seq.pose_path)
    capture = cv2.VideoCapture(str(seq.video_path))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {seq.video_path}")
    n_video = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    _check_size(seq, size)
    n_pose = len(joints32)
    if n_video < n_pose - MAX_FRAME_DIFF:
        raise ValueError(f"{seq.video_path} has {n_video} frames but its pose file "
                         f"{seq.pose_path} has {n_pose}; expected at most {MAX_FRAME_DIFF} fewer")
    n = min(n_video, n_pose)
    wanted = np.arange(0, n, stride)
    finite = np.isfinite(h36m.select_17(joints32)).all(axis=(1, 2))
    no_pose = [int(f) for f in wanted if not finite[f]]
    if no_pose:
        more = " ..." if len(no_pose) > 10 else ""
        warnings.warn(f"{seq.pose_path}: frame(s) {no_pose[:10]}{more}"
                      f" ({len(no_pose)} in all) have non-finite joints; left out of the index")
    written, bad, det_boxes, det_scores = [], [], [], []
    for i in range(n):
        if not capture.grab():
            if n - i > MAX_FRAME_DIFF:
                raise ValueError(f"{seq.video_path}: decoding stopped at frame {i}, expected {n} "
                                 f"frames (pose file {seq.pose_path})")
            bad.extend(int(f) for f in wanted[wanted >= i] if finite[f])
            break
        if i % stride or not finite[i]:
            continue
        path = folder / f"{i:06d}.jpg"
        image = None
        if not _jpeg_complete(path):
            ok, image = capture.retrieve()
            if not ok or image is None:
                bad.append(i)
                continue
            if image.shape[1::-1] != size:
                raise ValueError(f"{seq.video_path}: frame {i} is {image.shape[1]}x"
                                 f"{image.shape[0]} px, the video says {size[0]}x{size[1]}")
            _write_jpeg(path, image, quality)
            if on_frame is not None:
                on_frame(path)
        if detector is not None:
            image = cv2.imread(str(path)) if image is None else image
            box, score = _detect(detector, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            det_boxes.append(box)
            det_scores.append(score)
        written.append(i)
    capture.release()
    if bad:
        warnings.warn(f"{seq.video_path}: {len(bad)} frame(s) could not be decoded and are left "
                      f"out of the index: {bad[:10]}{' ...' if len(bad) > 10 else ''}")
    frames = np.asarray(written, dtype=np.int64)
    boxes, source = _boxes(seq, joints32, frames, w0) if len(frames) else (np.zeros((0, 4)), "none")
    detected = {}
    if detector is not None:
        missed = int(np.isnan(det_scores).sum()) if det_scores else 0
        if missed:
            warnings.warn(f"{seq.video_path}: the {detector.name} found no person in {missed} of "
                          f"{len(frames)} frames; their box is the whole frame")
        detected = dict(box_det_xywh_px=np.asarray(det_boxes, np.float32).reshape(-1, 4),
                        box_det_score=np.asarray(det_scores, np.float32),
                        detector=np.array(detector.name))
    with paths.atomic_path(folder / "index.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, frame=frames, box_xywh_px=boxes.astype(np.float32),
                     joints_world_mm=h36m.select_17(joints32[frames]),
                     box_source=np.array(source), image_wh=np.array(size, np.int64), **detected)
    paths.write_text_atomic(marker, json.dumps(dict(
        settings, n_indexed=len(frames), n_video=n_video, n_pose=n_pose, n_bad=len(bad),
        n_no_pose=len(no_pose), size_wh=list(size)), indent=1))
    return len(frames)


def _finished(folder: Path) -> dict | None:
    """A sequence folder's ``done.json`` when it and the ``index.npz`` beside it are whole, else
    None (never finished, or damaged: the sequence is prepared again, its frames reused)."""
    marker, index = folder / "done.json", folder / "index.npz"
    if not (marker.is_file() and index.is_file()):
        return None
    try:
        done = json.loads(marker.read_text())
        if not isinstance(done, dict):
            raise TypeError(f"done.json holds a {type(done).__name__}, not an object")
        with paths.open_npz(index) as part:
            whole = len(part["frame"]) == int(done["n_indexed"])
    except (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as error:
        warnings.warn(f"{folder}: damaged done.json or index.npz ({type(error).__name__}: "
                      f"{str(error)[:80]}); preparing it again")
        return None
    return done if whole else None


def merge_index(out: Path, sequences: list[h36m.Sequence], w0: np.ndarray) -> Path:
    """Concatenate the finished sequences' indices into ``<out>/index.npz``."""
    keys = ["subject", "action", "action_file", "camera", "frame", "image", "box_xywh_px",
            "box_source", "joints_world_mm", "image_wh", "box_det_xywh_px", "box_det_score",
            "detector"]
    parts: dict[str, list] = {k: [] for k in keys}
    for seq in sequences:
        folder = out / seq.subject / seq.name
        with paths.open_npz(folder / "index.npz") as part:
            frames = part["frame"]
            n = len(frames)
            parts["frame"].append(frames)
            parts["box_xywh_px"].append(part["box_xywh_px"].reshape(n, 4))
            parts["joints_world_mm"].append(part["joints_world_mm"].reshape(n, 17, 3))
            parts["box_source"].append(np.full(n, str(part["box_source"])))
            parts["image_wh"].append(np.tile(part["image_wh"], (n, 1)))
            if "detector" in part.files:
                parts["box_det_xywh_px"].append(part["box_det_xywh_px"].reshape(n, 4))
                parts["box_det_score"].append(part["box_det_score"].reshape(n))
                parts["detector"].append(np.full(n, str(part["detector"])))
        for key, value in (("subject", seq.subject), ("action", seq.action),
                           ("action_file", seq.action_file), ("camera", seq.camera_id)):
            parts[key].append(np.full(n, value))
        parts["image"].append(np.array([f"{seq.subject}/{seq.name}/{f:06d}.jpg" for f in frames],
                                       dtype=str).reshape(n))
    if len(parts["detector"]) != len(sequences):   # detector boxes only when every video has them
        for key in ("box_det_xywh_px", "box_det_score", "detector"):
            parts.pop(key)
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    path = out / h36m.INDEX_NAME
    with paths.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, w0=w0, **arrays)
    return path


def calibration(root: Path, metadata: str | None) -> np.ndarray:
    """The calibration vector to use: `metadata` (or ``<root>/metadata.xml``) if present, checked
    against the package constants (differences are reported), else the constants."""
    path = Path(metadata) if metadata else root / "metadata.xml"
    if not path.is_file():
        if metadata:
            raise FileNotFoundError(f"metadata file not found: {path}")
        return h36m_cameras.W0
    problems = h36m_cameras.compare_with_metadata(path)
    if problems:
        warnings.warn(f"{path} differs from posebook's published constants in {len(problems)} "
                      f"values (using the file's): {problems[:3]}")
    return h36m_cameras.load_metadata_xml(path)


def prepare(root: str | Path, out: str | Path, subjects=h36m.TRAIN_SUBJECTS + h36m.TEST_SUBJECTS,
            cameras=h36m_cameras.CAMERA_IDS, train_stride: int = h36m.TRAIN_STRIDE,
            test_stride: int = h36m.TEST_STRIDE, metadata: str | None = None, quality: int = 95,
            keep_known_bad: bool = False, progress: bool = True,
            on_frame: Callable[[Path], None] | None = None, detector=None) -> Path:
    """Extract and index `subjects` (see the module docstring); returns the index path.
    `detector`: a `posebook.detect` detector whose best box per frame is cached (the challenge
    setting's boxes), or None."""
    from tqdm.auto import tqdm
    root, out = Path(root), Path(out)
    for name, stride in (("train", train_stride), ("test", test_stride)):
        if not (isinstance(stride, (int, np.integer)) and stride >= 1):
            raise ValueError(f"--{name}-stride must be a number of frames >= 1, got {stride!r}")
    w0 = calibration(root, metadata)
    sequences = h36m.find_sequences(root, subjects, cameras, keep_known_bad=keep_known_bad)
    if not sequences:
        raise FileNotFoundError(f"no videos found under {root} for subjects {list(subjects)}")
    bar = tqdm(sequences, desc="prepare-h36m", unit="video", disable=not progress)
    total = 0
    for seq in bar:
        bar.set_postfix_str(f"{seq.subject} {seq.name}")
        stride = test_stride if seq.subject in h36m.TEST_SUBJECTS else train_stride
        total += prepare_sequence(seq, out, stride, w0, quality, on_frame, detector)
    path = merge_index(out, sequences, w0)
    if progress:
        print(f"indexed {total} frames of {len(sequences)} videos -> {path}")
    return path


def add_arguments(parser) -> None:
    parser.add_argument("--root", required=True, help="Human3.6M release folder (holds S1, S5, ...)")
    parser.add_argument("--out", required=True, help="output folder for JPEG frames + index.npz")
    subjects = list(h36m.TRAIN_SUBJECTS + h36m.TEST_SUBJECTS)
    parser.add_argument("--subjects", nargs="+", default=subjects, metavar="S",
                        help=f"subjects to extract (default: {' '.join(subjects)})")
    parser.add_argument("--cameras", nargs="+", default=list(h36m_cameras.CAMERA_IDS),
                        metavar="ID", help="camera ids to extract (default: all four)")
    parser.add_argument("--train-stride", type=int, default=h36m.TRAIN_STRIDE, metavar="N",
                        help=f"keep every N-th frame of training subjects (default "
                             f"{h36m.TRAIN_STRIDE})")
    parser.add_argument("--test-stride", type=int, default=h36m.TEST_STRIDE, metavar="N",
                        help=f"keep every N-th frame of test subjects (default "
                             f"{h36m.TEST_STRIDE})")
    parser.add_argument("--metadata", default=None,
                        help="metadata.xml to cross-check/use (default <root>/metadata.xml if any)")
    parser.add_argument("--jpeg-quality", type=int, default=95, metavar="Q",
                        help="JPEG quality of the extracted frames, 1 to 100 (default 95)")
    parser.add_argument("--keep-known-bad", action="store_true",
                        help="also extract S11 Directions camera 54138969 (corrupt in many copies)")
    parser.add_argument("--detector", default="none",
                        choices=("none", "auto", "torchvision", "hog"),
                        help="also cache a person detector's box per frame (the challenge "
                             "setting's boxes): auto = torchvision's COCO detector when its "
                             "weights can be had (downloaded when online), else OpenCV HOG")
    parser.add_argument("--detector-weights", default=None, metavar="FILE",
                        help="weights file for the torchvision detector")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    detector = None
    if args.detector != "none":
        import torch
        from .. import detect
        detector = detect.make_detector(args.detector, args.detector_weights,
                                        device="cuda" if torch.cuda.is_available() else "cpu",
                                        hog_max_image_px=HOG_MAX_IMAGE_PX)
    prepare(args.root, args.out, subjects=args.subjects, cameras=args.cameras,
            train_stride=args.train_stride, test_stride=args.test_stride, metadata=args.metadata,
            quality=args.jpeg_quality, keep_known_bad=args.keep_known_bad,
            progress=not args.no_progress, detector=detector)
    return 0

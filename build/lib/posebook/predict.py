"""3D pose for a person in your own image: ``posebook predict IMAGE``.

Pipeline: read the image -> a camera for it (intrinsics assumed from a field of view when not
known) -> a person box (detector, or ``--box``) -> perspective crop around the box (`crop`) ->
model with flip test-time augmentation -> 3D joints in the image's camera frame (mm). The command
(`posebook.viz.predict.run`) writes them as a JSON file and a standalone HTML page (image, 2D
overlay, interactive 3D skeleton; opens offline); this module parses its arguments.

Unknown intrinsics: a photo's focal length is rarely known, so by default we assume a field of
view of ``DEFAULT_FOV_DEG`` (55 degrees across the longer image side, i.e. horizontal for a
landscape photo; about a 35 mm-equivalent lens) with the principal point at the image centre. The assumption scales the absolute
depth of the person (a wrong focal length makes them nearer or farther), and slightly changes
the crop's perspective; the root-relative pose is affected much less.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from . import detect, paths, runs, skeleton

DEFAULT_FOV_DEG = 55.0
MAX_FOV_DEG = 140.0   # wider, a box near the border can span more than a perspective crop shows
MIN_BOX_PX = (8, 32)  # a given box's shorter and longer side at least: smaller says nothing
WRITTEN_BY = "posebook predict"   # marks the files the command may replace without --force
# How to get a model: fast (a plumbing check) and properly (README, "Timings": 412 s on 2 cores).
TRAIN_HINT = ("train one first: 'posebook train --profile smoke --name try' (under a minute, but "
              "its poses mean nothing) or 'posebook train --profile cpu --name NAME' (about 7 "
              "minutes on 2 CPU cores)")


@dataclasses.dataclass
class Prediction:
    """One predicted person.

    Attributes:
        image: (H, W, 3) uint8 RGB input. camera: the image's `camera.Camera` (R = I, t = 0).
        intrinsics_note: how K was obtained (assumed FOV, or given focal length).
        box_xywh_px: (4,) the person box used; box_source: "given box" or the detector.
        detections: every box the detector returned (best first), or None with a given box.
        crop_image: (S, S, 3) uint8 model input. crop_camera: the crop's `Camera`.
        joints_cam_mm: (17, 3) joints in the image's camera frame (x right, y down, z forward).
        joints_px: (17, 2) the joints projected into the image.
        checkpoint: the run folder or checkpoint file of the model (`paths.shown`: bytes of
            its name that are not UTF-8 written \\xNN); profile: its profile name.
    """

    image: np.ndarray
    camera: object
    intrinsics_note: str
    fov_deg: float
    box_xywh_px: np.ndarray
    box_source: str
    detections: object
    crop_image: np.ndarray
    crop_camera: object
    joints_cam_mm: np.ndarray
    joints_px: np.ndarray
    checkpoint: str
    profile: str

    def to_dict(self) -> dict:
        """JSON-ready summary (no image arrays)."""
        height, width = self.image.shape[:2]
        return {
            "joint_names": list(skeleton.JOINT_NAMES),
            "joints_cam_mm": np.round(self.joints_cam_mm, 2).tolist(),
            "joints_px": np.round(self.joints_px, 2).tolist(),
            "camera": {"K": np.asarray(self.camera.K).tolist(), "image_size_wh": [width, height],
                       "frame": "x right, y down, z forward; origin at the camera, mm"},
            "intrinsics": self.intrinsics_note,
            "fov_deg": self.fov_deg,
            "box_xywh_px": np.round(self.box_xywh_px, 2).tolist(),
            "box_source": self.box_source,
            "checkpoint": self.checkpoint,
            "profile": self.profile,
            "written_by": WRITTEN_BY,
        }


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file -> (H, W, 3) uint8 RGB; ValueError when it is not a readable image."""
    import cv2
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    if not path.is_file():         # reading a FIFO would block, /dev/zero fill the memory
        what = "a folder" if path.is_dir() else "not a regular file (a pipe or a device?)"
        raise ValueError(f"image {str(path)!r} is {what}; give an image file")
    data = np.fromfile(path, dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as error:     # OpenCV refuses a header claiming > 2^30 pixels
        limit = "CV_IO_MAX_IMAGE_PIXELS" in str(error)
        raise ValueError(f"cannot read {str(path)!r} as an image: " + (
            "its header claims more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS, 2^30)"
            if limit else str(error).strip().splitlines()[-1][:160])) from None
    if image is None:
        raise ValueError(f"cannot read {str(path)!r} as an image (expected PNG, JPEG, BMP, TIFF "
                         f"or another format OpenCV decodes)")
    return np.ascontiguousarray(image[:, :, ::-1])


def camera_for_image(image_size_wh: tuple[int, int], fov_deg: float | None = None,
                     focal_px: float | None = None):
    """A pinhole camera for an image of unknown intrinsics -> (Camera, fov_deg, note).

    Square pixels, principal point at the image centre, R = I, t = 0 (the camera frame is the
    world frame). The field of view is measured across the LONGER image side (horizontal for a
    landscape photo; `camera.intrinsics_from_fov`). `focal_px` wins over `fov_deg`; with
    neither, `DEFAULT_FOV_DEG` is assumed.
    """
    from .camera import Camera, intrinsics_from_fov
    width, height = image_size_wh
    side = "horizontal" if width >= height else "vertical"
    if focal_px is not None:
        if not np.isfinite(focal_px) or focal_px <= 0:
            raise ValueError(f"--focal must be a positive number of pixels, got {focal_px}")
        fov = float(np.degrees(2 * np.arctan(max(width, height) / 2 / focal_px)))
        if not 1 <= fov <= MAX_FOV_DEG:      # the bounds of --fov
            raise ValueError(f"--focal {focal_px:g} px gives a field of view of {fov:.3g} deg "
                             f"across this {width}x{height} image; it must be in "
                             f"[1, {MAX_FOV_DEG:g}] deg (as --fov)")
        note = f"given focal length {focal_px:g} px ({side} FOV {fov:.1f} deg)"
    else:
        fov = DEFAULT_FOV_DEG if fov_deg is None else float(fov_deg)
        if not 1 <= fov <= MAX_FOV_DEG:
            raise ValueError(f"--fov must be a field of view in degrees in [1, {MAX_FOV_DEG:g}], "
                             f"got {fov_deg}")
        what = "assumed" if fov_deg is None else "given"
        note = f"{what} {side} FOV {fov:g} deg (across the longer side)"
    K = np.array(intrinsics_from_fov(fov, (width, height)), dtype=np.float64)
    if focal_px is not None:
        K[0, 0] = K[1, 1] = focal_px
    note += f", focal {K[0, 0]:.1f} px, principal point at the image centre"
    return Camera(K), fov, note


def model_source(checkpoint: str | Path | None) -> Path:
    """`--checkpoint`: a checkpoint FILE (used as given), a run folder or run name
    (`runs.resolve`; its last checkpoint), or None: the newest run (`runs.newest`)."""
    if checkpoint is None:
        newest = runs.newest()
        if newest is None:
            raise FileNotFoundError(f"no trained model: no run with a last checkpoint under "
                                    f"{str(paths.runs_dir())!r}; {TRAIN_HINT} (or pass "
                                    f"--checkpoint runs/NAME)")
        return newest
    path = Path(checkpoint)
    if path.is_file():
        return path
    try:
        run_dir = runs.resolve(checkpoint)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"--checkpoint {str(checkpoint)!r} is not a checkpoint file or "
                                f"a run folder ({error}); {TRAIN_HINT}") from None
    folder = runs.RunFolder(run_dir)
    if not folder.has_checkpoint():
        raise FileNotFoundError(f"--checkpoint {str(checkpoint)!r} is a run folder without a "
                                f"last checkpoint (no {folder.checkpoint_path()}); {TRAIN_HINT}")
    return run_dir


def unfinished_note(source: Path) -> str | None:
    """Says when `source` (a run folder or one of its checkpoint files) is an unfinished run."""
    run_dir = runs.checkpoint_run(source) if source.is_file() else source
    if not runs.is_run(run_dir):
        return None
    run = runs.load(run_dir)
    note = run.progress_note()
    return None if note is None else f"the model comes from an unfinished run: {note}"


def load_model(source: Path):
    """(PoseNet in eval mode, RunConfig) from a run folder or checkpoint file; ValueError if it
    does not load."""
    try:
        model, config = runs.load_model(source)
    except (FileNotFoundError, ValueError):
        raise
    except Exception as error:  # noqa: BLE001 - any load failure means an incompatible run
        raise ValueError(f"checkpoint in {str(source)!r} does not load into a model of its "
                         f"config ({type(error).__name__}: {str(error).splitlines()[0]})") from error
    return model.eval(), config


def pose_in_box(model, config, image: np.ndarray, camera, box_xywh_px: np.ndarray,
                flip: bool = True):
    """Run the model on the perspective crop around one box.

    Returns:
        (joints_cam_mm (17, 3) in `camera`'s frame, crop_image (S, S, 3), crop_camera).
    """
    import torch
    from . import crop
    from .model import flip_tta
    crop_image, crop_cam = crop.perspective_crop(image, camera, box_xywh_px,
                                                 out_side=config.input_px)
    params = getattr(model, "parameters", None)       # the inputs go to the model's device
    device = next(params()).device if params else torch.device("cpu")
    images = torch.from_numpy(np.ascontiguousarray(crop_image)).permute(2, 0, 1)[None]
    intrinsics = torch.as_tensor(np.asarray(crop_cam.K), dtype=torch.float32)[None]
    images, intrinsics = images.to(device), intrinsics.to(device)
    with torch.inference_mode():
        out = flip_tta(model, images, intrinsics) if flip else model(images, intrinsics)
    joints_crop_mm = out["joints_cam_mm"][0].double().cpu().numpy()
    # The crop camera shares the optical centre and differs only in rotation: go via "world".
    joints_cam_mm = camera.world_to_camera(crop_cam.camera_to_world(joints_crop_mm))
    if joints_cam_mm.shape != (skeleton.N_JOINTS, 3) or not np.all(np.isfinite(joints_cam_mm)):
        raise ValueError(f"the model returned no finite 3D pose (shape {joints_cam_mm.shape})")
    return joints_cam_mm, crop_image, crop_cam


def predict(image: np.ndarray, run_dir: str | Path | None = None, box_xywh_px=None,
            detector=None, fov_deg: float | None = None, focal_px: float | None = None,
            flip: bool = True, model=None, config=None) -> Prediction:
    """Detect (or take `box_xywh_px`), crop, and predict the 3D pose of the best person.

    Args:
        image: (H, W, 3) uint8 RGB. run_dir: a trained run or checkpoint file (`model_source`;
        default: the newest run); `model` and `config` skip loading it. detector: see `detect`.
    """
    if np.ndim(image) != 3 or np.shape(image)[2] != 3 or np.asarray(image).dtype != np.uint8:
        raise ValueError(f"expected an image (H, W, 3) uint8 RGB, got shape {np.shape(image)}")
    height, width = image.shape[:2]
    camera, fov, note = camera_for_image((width, height), fov_deg, focal_px)
    detections = None
    if box_xywh_px is not None:
        box = detect.check_box(box_xywh_px, (width, height))
        if min(box[2:]) < MIN_BOX_PX[0] or max(box[2:]) < MIN_BOX_PX[1]:
            raise ValueError(f"box {box.tolist()} (x,y,w,h) is too small to show a pose: its "
                             f"sides must be at least {MIN_BOX_PX[0]} px and the longer one "
                             f"{MIN_BOX_PX[1]} px")
        source = "given box"
    else:
        detections = detect.people(image, detector)
        if len(detections) == 0:
            raise ValueError(f"no person found by the {detections.detector} (it needs an upright, "
                             f"whole person at least ~128 px tall); give the box yourself with "
                             f"--box x,y,w,h (pixels)")
        box, source = detections.best(), f"{detections.detector}, score {detections.scores[0]:.2f}"
    if model is not None and config is None:
        raise ValueError("predict(model=...) needs the model's config too (config=RunConfig)")
    if model is None:
        run_dir = model_source(run_dir)
        model, config = load_model(run_dir)
    joints_cam_mm, crop_image, crop_cam = pose_in_box(model, config, image, camera, box, flip)
    return Prediction(
        image=image, camera=camera, intrinsics_note=note, fov_deg=fov, box_xywh_px=box,
        box_source=source, detections=detections, crop_image=crop_image, crop_camera=crop_cam,
        joints_cam_mm=joints_cam_mm, joints_px=camera.camera_to_image(joints_cam_mm),
        checkpoint=paths.shown(run_dir) if run_dir is not None else "(model given)",
        profile=config.profile)


def pose_checks(prediction: Prediction) -> dict:
    """Sanity numbers for a prediction without ground truth (what a person would eyeball).

    Returns dict: height_mm (head top to the ankles' midpoint, along the body), root_depth_mm,
    bone_error_pct (mean |bone / reference bone - 1| against `skeleton.STANDING_POSE_MM`),
    lr_asymmetry_pct (mean |left - right| over mirrored limb bones / mean bone), in_box_pct (joints
    projecting inside the box), ankles_v (mean ankle row / image height; > 1 = below the image).
    """
    joints = prediction.joints_cam_mm
    bones = skeleton.bone_lengths_mm(joints)
    reference = skeleton.bone_lengths_mm(skeleton.STANDING_POSE_MM)
    children = [c for _, c in skeleton.BONES]
    pairs = [(children.index(c), children.index(skeleton.MIRROR[c])) for c in skeleton.LEFT]
    left, right = bones[[a for a, _ in pairs]], bones[[b for _, b in pairs]]
    j = {name: i for i, name in enumerate(skeleton.JOINT_NAMES)}
    chain = [joints[j[name]] for name in ("head_top", "neck", "thorax", "spine", "pelvis")]
    # legs: pelvis -> ankles measured along the (mean of both) legs, not straight
    leg_mm = (bones[children.index(j["l_knee"])] + bones[children.index(j["l_ankle"])]
              + bones[children.index(j["r_knee"])] + bones[children.index(j["r_ankle"])]) / 2
    trunk_mm = sum(np.linalg.norm(a - b) for a, b in zip(chain[:-1], chain[1:]))
    x, y, w, h = prediction.box_xywh_px
    u, v = prediction.joints_px[:, 0], prediction.joints_px[:, 1]
    inside = (u >= x) & (u <= x + w) & (v >= y) & (v <= y + h)
    ankle_rows = prediction.joints_px[[j["l_ankle"], j["r_ankle"]], 1]
    return {
        "height_mm": float(trunk_mm + leg_mm),
        "root_depth_mm": float(joints[skeleton.ROOT, 2]),
        "bone_error_pct": float(100 * np.mean(np.abs(bones / reference - 1))),
        "lr_asymmetry_pct": float(100 * np.mean(np.abs(left - right)) / np.mean(bones)),
        "in_box_pct": float(100 * inside.mean()),
        "ankles_v": float(ankle_rows.mean() / prediction.image.shape[0]),
    }


def output_paths(out_html: str | Path, force: bool = False) -> tuple[Path, Path]:
    """(page, JSON beside it), checked: an .html name, a folder that can hold them and that this
    user may write into, and no file there that posebook predict did not write (a photo's own
    .json, say) unless `force`."""
    out_html = Path(out_html)
    if out_html.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out must name an .html file, got {str(out_html)!r}")
    out_json = out_html.with_suffix(".json")
    for parent in out_html.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {str(out_html)!r}: {str(parent)!r} is a file, not a folder")
    folder = next(parent for parent in out_html.parents if parent.exists())
    if not os.access(folder, os.W_OK | os.X_OK):     # before the work, naming the folder (C16)
        raise ValueError(f"--out {str(out_html)!r}: cannot write into {str(folder)!r} "
                         f"(no permission, or a read-only disk); choose another --out")
    for path in (out_html, out_json):
        if path.exists() and not path.is_file():      # --force replaces files only
            raise ValueError(f"--out {str(out_html)!r}: {str(path)!r} is a folder or another "
                             f"non-file; choose another --out")
        if path.exists() and not force and not _written_by_predict(path):
            raise ValueError(f"{str(path)!r} exists and was not written by posebook predict; "
                             f"choose another --out or pass --force to replace it")
    return out_html, out_json


def _written_by_predict(path: Path) -> bool:
    """`path` is a page or JSON that posebook predict wrote (and so may be replaced)."""
    if not path.is_file():
        return False
    if path.suffix.lower() == ".json":
        try:
            return json.loads(path.read_text()).get("written_by") == WRITTEN_BY
        except (ValueError, AttributeError, UnicodeDecodeError):
            return False
    return f"<title>{WRITTEN_BY}</title>" in path.read_bytes()[:400].decode("utf-8", "replace")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    snapshot = runs.RunFolder(Path("runs/NAME")).checkpoint_path(runs.snapshot_name(0))
    parser.add_argument("image", help="an image file (PNG, JPEG, ...)")
    parser.add_argument("--checkpoint", default=None, metavar="RUN",
                        help=f"a run folder (runs/NAME), a run name, or a checkpoint file "
                             f"({snapshot}); default: the newest run")
    parser.add_argument("--box", default=None, metavar="x,y,w,h",
                        help="the person's box in pixels (skips the detector)")
    intrinsics = parser.add_mutually_exclusive_group()
    intrinsics.add_argument("--fov", type=float, default=None, metavar="DEG",
                            help=f"field of view across the longer image side, 1 to "
                                 f"{MAX_FOV_DEG:g} (default: assume {DEFAULT_FOV_DEG:g})")
    intrinsics.add_argument("--focal", type=float, default=None, metavar="PX",
                            help="focal length in pixels, if you know it")
    parser.add_argument("--out", default=None, metavar="FILE.html",
                        help="output page (the JSON goes beside it); default: IMAGE_STEM.pose.html")
    parser.add_argument("--force", action="store_true",
                        help="replace existing output files that posebook did not write")
    parser.add_argument("--detector", default="hog", choices=("hog", "torchvision"),
                        help="person detector when no --box is given: hog (OpenCV, default) "
                             "or torchvision (a COCO detector, more accurate, needs weights)")
    parser.add_argument("--detector-weights", default=None, metavar="FILE",
                        help="weights file for --detector torchvision (default: "
                             "torchvision's, downloaded when online)")
    parser.add_argument("--detector-arch", default="fasterrcnn_resnet50_fpn", metavar="NAME",
                        help="torchvision detection model for --detector torchvision "
                             "(default: fasterrcnn_resnet50_fpn)")
    parser.add_argument("--min-score", type=float, default=None,
                        help="detector score threshold (HOG: SVM margin, default 0.5)")
    parser.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation")

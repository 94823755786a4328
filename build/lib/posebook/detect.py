"""Person boxes for an uncropped image.

A *detector* is any callable ``image (H, W, 3) uint8 RGB -> Detections`` with a ``name``. Three
kinds ship, behind that one interface (`make_detector`):

- `TorchvisionDetector`: a torchvision COCO detection model (default ``fasterrcnn_resnet50_fpn``),
  person class only. Its weights come from a local file, or from torchvision's published file
  through torch hub's cache: downloaded there when the machine is online (`posebook.weights`).
  The paper used YOLOv3; this is the same kind of detector (a CNN trained on COCO people).
- `HogDetector`: OpenCV's HOG + linear SVM people detector (Dalal & Triggs 2005, trained on
  INRIA pedestrians), the offline fallback: it ships with ``opencv-python-headless`` (< 5; the
  5.x wheels do not have it, and it then fails with a clear message). It finds *upright, whole*
  people at least ~128 px tall; small images are upscaled first. It misses sitting, cropped
  (upper-body) and strongly foreshortened people, and it fires on some person-like clutter.
- `GivenBoxes`: boxes the user typed (``posebook predict --box x,y,w,h``).

``make_detector("auto")`` is the torchvision detector when its weights can be had (cache or
download), else HOG with a warning saying so.

Convention: boxes are ``(x, y, w, h)`` in pixels of the input image, x right, y down, (x, y) the
top-left corner. Detections are sorted best first after non-maximum suppression.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from . import weights

# HOG windows (64 x 128 px) were trained with a margin around the person: the person spans about
# the middle half of the width and ~80% of the height. We shrink boxes to that extent, so that a
# HOG box means the same as a tight person box (what the crop expects).
HOG_WINDOW_PX = (64, 128)
HOG_PERSON_FRACTION_WH = (0.5, 0.8)
COCO_PERSON_LABEL = 1


@dataclasses.dataclass(frozen=True)
class Detections:
    """Person boxes, best first.

    Attributes:
        boxes_xywh_px: (N, 4) float64 boxes (x, y, w, h), pixels of the input image.
        scores: (N,) float64, higher is better (HOG: SVM margin; torchvision: probability).
        detector: short description of what produced them.
    """

    boxes_xywh_px: np.ndarray
    scores: np.ndarray
    detector: str

    def __len__(self) -> int:
        return len(self.scores)

    def best(self) -> np.ndarray:
        """(4,) the highest-scoring box; ValueError when there is none."""
        if len(self) == 0:
            raise ValueError(f"{self.detector} found no person")
        return self.boxes_xywh_px[0].copy()


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an image (H, W, 3) uint8 RGB, got shape {image.shape} "
                         f"dtype {image.dtype}")
    return image


def _check_boxes(boxes_xywh_px, scores=None) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.asarray(boxes_xywh_px, dtype=np.float64)
    if boxes.size == 0:
        boxes = np.zeros((0, 4))
    if boxes.ndim == 1 and boxes.shape == (4,):
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {np.shape(boxes_xywh_px)}")
    scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, np.float64).ravel()
    if scores.shape != (len(boxes),):
        raise ValueError(f"expected ({len(boxes)},) scores, got shape {scores.shape}")
    return boxes, scores


def iou_xywh(box_xywh_px: np.ndarray, boxes_xywh_px: np.ndarray) -> np.ndarray:
    """Intersection over union of one (4,) box with each of (N, 4) boxes -> (N,)."""
    a = np.asarray(box_xywh_px, dtype=np.float64)
    b = np.asarray(boxes_xywh_px, dtype=np.float64).reshape(-1, 4)
    if a.shape != (4,):
        raise ValueError(f"expected a (4,) box, got shape {a.shape}")
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[0] + a[2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[1] + a[3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = a[2] * a[3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def best_iou(box_xywh_px: np.ndarray, detections: Detections) -> float:
    """Intersection over union of a (4,) box with the detector's best box (0 when none)."""
    return float(iou_xywh(box_xywh_px, detections.boxes_xywh_px[:1]).max(initial=0.0))


@dataclasses.dataclass(frozen=True)
class HitRate:
    """How often a detector's best box matched the person: `hits` of `n` frames had an
    intersection over union above `min_iou` with the true box."""
    n: int
    hits: int
    min_iou: float


def synthetic_hit_rate(n_frames: int = 20, frame_px: int = 512, min_iou: float = 0.4,
                       detector=None) -> HitRate:
    """`HitRate` of `detector` (default HOG, `people`) on synthetic frames drawn from seeds
    0 .. n_frames - 1, against their true boxes."""
    from .data import synthetic

    frames = [synthetic.make_frame(np.random.default_rng(seed), frame_px=frame_px)
              for seed in range(n_frames)]
    ious = [best_iou(f.box_xywh_px, people(f.image, detector)) for f in frames]
    return HitRate(n=len(frames), hits=sum(iou > min_iou for iou in ious), min_iou=min_iou)


def nms(boxes_xywh_px: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.4) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes_xywh_px: (N, 4) boxes. scores: (N,).
    Returns:
        (K,) int indices of the kept boxes, best score first.
    """
    boxes, scores = _check_boxes(boxes_xywh_px, scores)
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        best = order.pop(0)
        keep.append(best)
        if order:
            overlap = iou_xywh(boxes[best], boxes[order])
            order = [i for i, o in zip(order, overlap) if o <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def _finish(boxes, scores, detector: str, min_score: float, iou_threshold: float) -> Detections:
    boxes, scores = _check_boxes(boxes, scores)
    good = scores >= min_score
    boxes, scores = boxes[good], scores[good]
    keep = nms(boxes, scores, iou_threshold)
    return Detections(boxes[keep], scores[keep], detector)


def hog_available() -> bool:
    try:
        import cv2
    except ImportError:
        return False
    return hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")


class HogDetector:
    """OpenCV's HOG people detector (see the module docstring for what it can and cannot see).

    Args:
        min_score: minimum SVM margin of a kept box (OpenCV's own threshold is 0).
        min_image_px: images whose shorter side is below this are upscaled to it first, so a
            person filling half of the image height is >= 128 px tall for the 64x128 window.
        max_image_px: larger images are downscaled so their longer side is this (speed).
        scale: pyramid step between detection scales. win_stride_px: window step.
        iou_threshold: non-maximum suppression overlap.
    """

    def __init__(self, min_score: float = 0.5, min_image_px: int = 512, max_image_px: int = 1280,
                 scale: float = 1.05, win_stride_px: int = 8, iou_threshold: float = 0.4):
        if not hog_available():
            raise RuntimeError(
                "OpenCV's HOG people detector is not available (cv2."
                "HOGDescriptor_getDefaultPeopleDetector is missing; opencv-python-headless 5.x "
                "does not ship it). Install 'opencv-python-headless<5', or give the person's box "
                "yourself (posebook predict --box x,y,w,h), or use the torchvision detector "
                "(--detector torchvision; its weights download when online).")
        import cv2
        self.name = "OpenCV HOG people detector"
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.min_score, self.scale = min_score, scale
        self.min_image_px, self.max_image_px = min_image_px, max_image_px
        self.win_stride_px, self.iou_threshold = win_stride_px, iou_threshold

    def __call__(self, image: np.ndarray) -> Detections:
        import cv2
        image = _check_image(image)
        height, width = image.shape[:2]
        factor = max(1.0, self.min_image_px / min(height, width))
        factor = min(factor, self.max_image_px / max(height, width))
        work = image if factor == 1.0 else cv2.resize(
            image, (round(width * factor), round(height * factor)),
            interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
        stride = (self.win_stride_px, self.win_stride_px)
        rects, weights = self.hog.detectMultiScale(
            np.ascontiguousarray(work), winStride=stride, padding=(16, 16), scale=self.scale)
        boxes = np.asarray(rects, dtype=np.float64).reshape(-1, 4) / factor
        fw, fh = HOG_PERSON_FRACTION_WH
        tight = np.stack([boxes[:, 0] + boxes[:, 2] * (1 - fw) / 2,
                          boxes[:, 1] + boxes[:, 3] * (1 - fh) / 2,
                          boxes[:, 2] * fw, boxes[:, 3] * fh], axis=-1)
        return _finish(tight, np.ravel(weights), "OpenCV HOG people detector" + (
                           f" (image scaled x{factor:.2f})" if factor != 1 else ""),
                       self.min_score, self.iou_threshold)


class TorchvisionDetector:
    """A torchvision COCO detection model, person class only.

    Args:
        weights_path: a state dict saved with ``torch.save(model.state_dict(), path)``; None =
            torchvision's published COCO weights of `arch` from torch hub's cache, downloaded
            into it when online and `download` (else `weights.WeightsUnavailable` naming the
            file).
        arch: a torchvision detection builder, e.g. ``fasterrcnn_resnet50_fpn``,
            ``fasterrcnn_mobilenet_v3_large_fpn``, ``retinanet_resnet50_fpn``,
            ``ssdlite320_mobilenet_v3_large``; trained on COCO (person = label 1).
        min_score: minimum class probability of a kept box.
    """

    def __init__(self, weights_path: str | Path | None = None,
                 arch: str = "fasterrcnn_resnet50_fpn", min_score: float = 0.5,
                 iou_threshold: float = 0.4, device: str = "cpu", download: bool = True):
        import torch
        import torchvision
        archs = sorted(torchvision.models.list_models(torchvision.models.detection))
        if arch not in archs:
            raise ValueError(f"unknown torchvision detection arch {arch!r}; valid: {archs}")
        if weights_path is None:
            url = torchvision.models.get_model_weights(arch).DEFAULT.url
            path = weights.torch_hub_file(url, download)
        else:
            path = Path(weights_path)
            if not path.is_file():
                raise FileNotFoundError(f"detector weights file {str(path)!r} does not exist "
                                        f"(leave it out to use torchvision's published weights)")
        state = weights.read_state_dict(path)    # ValueError: not a weights file, or unsafe
        model = torchvision.models.get_model(arch, weights=None, weights_backbone=None)
        try:
            model.load_state_dict(state)
        except Exception as error:  # noqa: BLE001 - re-raised with the file and arch named
            raise ValueError(f"detector weights {str(path)!r} do not fit torchvision {arch!r}: "
                             f"{str(error).splitlines()[0]}") from error
        # Drop low scores inside the model already (its postprocessing is slow on many boxes).
        for owner in (model, getattr(model, "roi_heads", None)):
            if owner is not None and hasattr(owner, "score_thresh"):
                owner.score_thresh = max(float(owner.score_thresh), min_score)
        self.model = model.eval().to(device)
        self.arch, self.device, self.name = arch, device, f"torchvision {arch}"
        self.min_score, self.iou_threshold = min_score, iou_threshold

    def __call__(self, image: np.ndarray) -> Detections:
        import torch
        image = _check_image(image)
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
        with torch.inference_mode():
            out = self.model([tensor.to(self.device)])[0]
        person = out["labels"].cpu().numpy() == COCO_PERSON_LABEL
        xyxy = out["boxes"].cpu().numpy().astype(np.float64)[person]
        boxes = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=-1)
        return _finish(boxes, out["scores"].cpu().numpy()[person], f"torchvision {self.arch}",
                       self.min_score, self.iou_threshold)


class GivenBoxes:
    """The user's own boxes (score 1 unless given), returned for any image they lie in."""

    def __init__(self, boxes_xywh_px, scores=None):
        self.boxes, self.scores = _check_boxes(boxes_xywh_px, scores)

    def __call__(self, image: np.ndarray) -> Detections:
        height, width = _check_image(image).shape[:2]
        for box in self.boxes:
            check_box(box, (width, height))
        order = np.argsort(-self.scores, kind="stable")
        return Detections(self.boxes[order], self.scores[order], "given box")


DETECTORS = ("auto", "torchvision", "hog")


def make_detector(name: str = "hog", weights_path: str | Path | None = None,
                  arch: str = "fasterrcnn_resnet50_fpn", min_score: float | None = None,
                  device: str = "cpu", hog_max_image_px: int | None = None):
    """A detector by name: ``"torchvision"``, ``"hog"``, or ``"auto"`` (torchvision when its
    weights can be had from `weights_path`, the cache or a download; else HOG, with a warning).
    `hog_max_image_px`: HOG's `max_image_px` (smaller is faster; people must stay >= 128 px).
    """
    kwargs = {} if min_score is None else {"min_score": min_score}
    hog = dict(kwargs, **({} if hog_max_image_px is None else {"max_image_px": hog_max_image_px}))
    if name == "hog":
        return HogDetector(**hog)
    if name == "torchvision":
        return TorchvisionDetector(weights_path, arch=arch, device=device, **kwargs)
    if name == "auto":
        try:
            return TorchvisionDetector(weights_path, arch=arch, device=device, **kwargs)
        except weights.WeightsUnavailable as error:
            warnings.warn(f"person detector: {error}; using OpenCV's HOG detector instead "
                          f"(weaker: upright, whole people only)")
            return HogDetector(**hog)
    raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")


def people(image: np.ndarray, detector=None) -> Detections:
    """Person boxes in `image` (H, W, 3) uint8 RGB, best first; `detector` defaults to HOG."""
    return (detector or HogDetector())(_check_image(image))


def parse_box(text: str) -> np.ndarray:
    """``"x,y,w,h"`` (pixels) -> (4,) float64; ValueError naming the expected form."""
    parts = [p for p in str(text).replace(" ", "").split(",") if p]
    try:
        box = np.asarray([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        box = np.zeros(0)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise ValueError(f"--box expects four numbers x,y,w,h in pixels, got {text!r}")
    return box


def check_box(box_xywh_px: np.ndarray, image_size_wh: tuple[int, int],
              min_overlap: float = 0.5) -> np.ndarray:
    """Check that a (4,) box has positive size and mostly lies inside the image.

    At least `min_overlap` of the box area must be inside the image (a person may be cut by the
    border, but a box beside the image is a mistake). Returns the box as float64.
    """
    box = np.asarray(box_xywh_px, dtype=np.float64)
    if box.shape != (4,):
        raise ValueError(f"expected a box (x, y, w, h), got shape {box.shape}")
    width, height = image_size_wh
    if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box {box.tolist()} must have finite values and positive w, h")
    inside_w = min(box[0] + box[2], width) - max(box[0], 0.0)
    inside_h = min(box[1] + box[3], height) - max(box[1], 0.0)
    inside = max(inside_w, 0.0) * max(inside_h, 0.0) / (box[2] * box[3])
    if inside < min_overlap:
        raise ValueError(f"box {box.tolist()} (x,y,w,h) is {100 * (1 - inside):.0f}% outside "
                         f"the {width}x{height} image; at least {100 * min_overlap:.0f}% of it "
                         f"must lie inside")
    return box

"""Occluders from Pascal VOC 2012: object cutouts (RGBA) with a soft border.

The filter follows the paper (Sárándi et al. 2018, Sec. 3): from the *segmented* VOC images keep
every object that is not a ``person``, not ``difficult`` and not ``truncated``, and whose instance
mask has at least 500 pixels at the original resolution. On VOC2012 trainval this leaves 2638
objects (the number the paper reports).

Layout read (the official ``VOCdevkit/VOC2012`` folder)::

    Annotations/<id>.xml         one <object> per instance, in order
    JPEGImages/<id>.jpg
    SegmentationObject/<id>.png  palette PNG: pixel value k = the k-th <object> of the XML
                                 (1-based), 0 = background, 255 = void border (never counts)

An image counts as segmented when its ``SegmentationObject`` PNG exists (and its XML does not say
``<segmented>0</segmented>``). Missing or empty ``difficult``/``truncated`` flags count as 0.
VOC boxes are 1-based and inclusive; the mask is taken inside the box.

Cutouts are stored ``downscale`` x the original size (0.5 by default, as in the authors' code, so
that a VOC object is sized for a 256 px person crop; `posebook.augment.occlude` rescales from
there). The bank is cached as one ``.npz`` under `posebook.paths.cache_dir()`, keyed by the VOC
path, the size and modification time of every annotation, mask and image (the image its XML's
``<filename>`` names), and the filter parameters: a changed mask file rebuilds it.

An XML's ``<filename>`` must be a plain file name inside ``JPEGImages/``: a path (``../x.jpg``,
an absolute one) would read an image from outside the VOC root, so that annotation is skipped
with the other unreadable ones.
"""
from __future__ import annotations

import hashlib
import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from posebook import paper_numbers, paths

PAPER_N_OBJECTS = paper_numbers.VOC_OBJECTS   # VOC2012 trainval after the filter (the paper's count)
CACHE_VERSION = 1
SOFT_BORDER_PX = 3.0     # alpha ramps from ~0.6 at the mask edge to 1 this many px inside


def soft_alpha(mask: np.ndarray, border_px: float = SOFT_BORDER_PX) -> np.ndarray:
    """Alpha channel for a binary mask, lowered along the border (an "eroded" soft edge).

    Args:
        mask: (h, w) bool object mask.
        border_px: width of the ramp, pixels.
    Returns:
        (h, w) uint8 alpha: 0 outside the mask; inside, 153 (0.6) on the outermost pixels
        rising linearly to 255 at `border_px` px from the edge. Every mask pixel keeps alpha > 0.5,
        so "covered" (alpha > 0.5) equals the mask.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be (h, w), got shape {mask.shape}")
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]  # 1 on the edge pixels
    ramp = 0.6 + 0.4 * np.clip((dist - 1.0) / max(border_px, 1e-6), 0.0, 1.0)
    return np.where(mask, np.round(255 * ramp), 0).astype(np.uint8)


def _flag(obj: ET.Element, name: str) -> bool:
    text = obj.findtext(name)
    text = (text or "").strip()
    return bool(text) and float(text) != 0


def _box_slices(obj: ET.Element, height: int, width: int) -> tuple[slice, slice] | None:
    box = obj.find("bndbox")
    if box is None:
        return None
    x0, y0, x1, y1 = (float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
    # 1-based inclusive pixel indices -> 0-based half-open slices, clipped to the image
    c0, r0 = max(int(round(x0)) - 1, 0), max(int(round(y0)) - 1, 0)
    c1, r1 = min(int(round(x1)), width), min(int(round(y1)), height)
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _image_path(root: Path, ann: ET.Element, stem: str) -> Path:
    """``JPEGImages/<filename>`` of an annotation (default ``<stem>.jpg``); ValueError when the
    XML's filename is not a plain name in that folder (a path leading elsewhere)."""
    filename = (ann.findtext("filename") or f"{stem}.jpg").strip()
    if filename in ("", ".", "..") or Path(filename).name != filename or "\\" in filename:
        raise ValueError(f"<filename> {filename!r} is not a file name inside "
                         f"{root / 'JPEGImages'} (paths are not allowed)")
    return root / "JPEGImages" / filename


def _named_image(xml_path: Path, root: Path) -> Path | None:
    """The image the annotation names (None when its XML does not parse or names a path)."""
    try:
        return _image_path(root, ET.parse(xml_path).getroot(), xml_path.stem)
    except (OSError, ET.ParseError, ValueError):
        return None


def _cutouts_from_image(xml_path: Path, root: Path, min_area_px: int, downscale: float,
                        counts: dict) -> list[np.ndarray]:
    """Cutouts of one annotated image; raises on unreadable files (the caller counts skips)."""
    ann = ET.parse(xml_path).getroot()
    if (ann.findtext("segmented") or "").strip() == "0":
        return []
    seg_path = root / "SegmentationObject" / f"{xml_path.stem}.png"
    if not seg_path.is_file():
        return []
    counts["segmented"] += 1
    keep = []
    for order, obj in enumerate(ann.findall("object")):
        if (obj.findtext("name") or "").strip() == "person":
            continue
        if _flag(obj, "difficult") or _flag(obj, "truncated"):
            continue
        keep.append((order, obj))
    if not keep:
        return []
    image_path = _image_path(root, ann, xml_path.stem)
    with Image.open(seg_path) as seg:
        if seg.mode not in ("P", "L"):
            raise ValueError(f"{seg_path}: expected a palette PNG (mode 'P'), "
                             f"got mode {seg.mode!r}")
        instance_ids = np.array(seg)           # palette indices = instance ids
    with Image.open(image_path) as im:
        image = np.array(im.convert("RGB"))
    if image.shape[:2] != instance_ids.shape:
        raise ValueError(f"{seg_path}: mask shape {instance_ids.shape} != image shape "
                         f"{image.shape[:2]}")
    height, width = instance_ids.shape
    out = []
    for order, obj in keep:
        slices = _box_slices(obj, height, width)
        if slices is None:
            continue
        mask = instance_ids[slices] == order + 1
        if int(mask.sum()) < min_area_px:
            counts["too_small"] += 1
            continue
        rgba = np.dstack([image[slices], soft_alpha(mask)])
        if downscale != 1.0:
            h, w = mask.shape
            size = (max(1, round(w * downscale)), max(1, round(h * downscale)))
            rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(rgba))
    return out


def _check_layout(root: Path) -> list[Path]:
    for sub, what in (("Annotations", "<id>.xml files"),
                      ("SegmentationObject", "palette PNG instance masks <id>.png"),
                      ("JPEGImages", "<id>.jpg images")):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"Pascal VOC root {root} has no folder {sub}/ (expected "
                                    f"{what}; point voc_root at VOCdevkit/VOC2012)")
    return sorted((root / "Annotations").glob("*.xml"))


def _cache_path(root: Path, xml_paths: list[Path], min_area_px: int, downscale: float) -> Path:
    """The cache file of these inputs: the key holds every annotation's name, and the size and
    modification time of it, its mask and the image its XML names (read only where the mask
    exists: the others are never used), so changing any of them rebuilds."""
    def stamp(path: Path | None) -> str:
        try:
            info = path.stat()
        except (FileNotFoundError, AttributeError):
            return "-"
        return f"{info.st_size}:{info.st_mtime_ns}"
    masks = root / "SegmentationObject"
    lines = []
    for p in xml_paths:
        mask = stamp(masks / f"{p.stem}.png")
        image = _named_image(p, root) if mask != "-" else None
        lines.append(f"{p.name} {stamp(p)} {mask} {image and image.name} {stamp(image)}")
    listing = hashlib.sha1("\n".join(lines).encode()).hexdigest()
    key = json.dumps([CACHE_VERSION, str(root), listing, min_area_px, downscale, SOFT_BORDER_PX])
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return paths.cache_dir() / "voc_occluders" / f"{digest}.npz"


def _save(path: Path, bank: list[np.ndarray]) -> None:
    shapes = np.array([o.shape[:2] for o in bank], dtype=np.int64).reshape(-1, 2)
    flat = np.concatenate([o.reshape(-1) for o in bank])
    with paths.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, shapes=shapes, pixels=flat,
                 checksum=np.frombuffer(hashlib.sha1(flat.tobytes()).digest(), np.uint8))


def _load(path: Path) -> list[np.ndarray] | None:
    """The cached bank, or None when the file is absent or corrupt (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        with paths.open_npz(path) as data:
            shapes, flat, checksum = data["shapes"], data["pixels"], data["checksum"]
        if flat.dtype != np.uint8 or hashlib.sha1(flat.tobytes()).digest() != checksum.tobytes():
            raise ValueError("checksum mismatch")
        sizes = shapes[:, 0] * shapes[:, 1] * 4
        if int(sizes.sum()) != flat.size or len(shapes) == 0:
            raise ValueError("sizes do not add up")
        ends = np.cumsum(sizes)
        return [flat[e - s:e].reshape(h, w, 4) for (h, w), s, e in zip(shapes, sizes, ends)]
    except Exception as exc:  # noqa: BLE001 - any damage means: rebuild
        warnings.warn(f"occluder cache {path} is unreadable ({exc}); rebuilding it", stacklevel=3)
        return None


def load_occluders(voc_root: str | Path, min_area_px: int = 500, cache: bool = True,
                   downscale: float = 0.5, verbose: bool = True) -> list[np.ndarray]:
    """Load the Pascal VOC occluder bank (see the module docstring for the filter).

    Args:
        voc_root: the ``VOC2012`` folder (holding Annotations/, JPEGImages/, SegmentationObject/).
        min_area_px: drop objects whose mask has fewer pixels (original resolution).
        cache: read/write the ``.npz`` cache under `posebook.paths.cache_dir()`.
        downscale: size factor of the stored cutouts (0.5: sized for a 256 px crop).
        verbose: print how many objects were kept.
    Returns:
        list of (h, w, 4) uint8 RGBA cutouts; alpha 0 outside the object's mask.
    Raises:
        FileNotFoundError: a required folder is missing. ValueError: no usable object found.
    """
    root = Path(voc_root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"Pascal VOC root {root} does not exist "
                                "(expected VOCdevkit/VOC2012)")
    if not downscale > 0:
        raise ValueError(f"downscale must be > 0, got {downscale}")
    xml_paths = _check_layout(root)
    cache_file = _cache_path(root, xml_paths, min_area_px, downscale)
    bank = _load(cache_file) if cache else None
    if bank is not None:
        if verbose:
            print(f"Pascal VOC occluders: {len(bank)} objects (cached, {cache_file})")
        return bank
    counts = {"segmented": 0, "too_small": 0}
    bank, skipped = [], []
    for xml_path in xml_paths:
        try:
            bank.extend(_cutouts_from_image(xml_path, root, min_area_px, downscale, counts))
        except (OSError, ET.ParseError, ValueError, TypeError) as exc:
            skipped.append(f"{xml_path.name}: {exc}")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable VOC image(s)/annotation(s) under {root}; "
                      f"first: {skipped[0]}", stacklevel=2)
    if not bank:
        raise ValueError(
            f"no usable occluder in Pascal VOC root {root}: {len(xml_paths)} annotations, "
            f"{counts['segmented']} with a SegmentationObject mask; expected non-person objects "
            f"that are not difficult/truncated with >= {min_area_px} mask pixels")
    if verbose:
        print(f"Pascal VOC occluders: kept {len(bank)} objects from {counts['segmented']} "
              f"segmented images ({counts['too_small']} dropped under {min_area_px} px; "
              f"the paper reports {PAPER_N_OBJECTS} for VOC2012 trainval)")
    if cache:
        _save(cache_file, bank)
    return bank

"""Pascal VOC occluder loader: filter, instance ids, threshold, cache, bad input, real sample."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from posebook import paths
from posebook.data import voc


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))


def _palette_png(path, ids):
    png = Image.fromarray(ids.astype(np.uint8), mode="P")
    palette = np.random.default_rng(0).integers(0, 256, 768).astype(np.uint8)
    png.putpalette(palette.tolist())
    png.save(path)


def write_voc(root, images):
    """Write a VOC-format tree. images: list of dicts with keys
    id, objects: [dict(name, box=(x0, y0, x1, y1) 1-based inclusive, area_rect=(h, w) or None,
    difficult, truncated (str or None = element absent))], segmented (bool), png (bool)."""
    for sub in ("Annotations", "JPEGImages", "SegmentationObject"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for spec in images:
        H, W = spec.get("size", (120, 160))
        ids = np.zeros((H, W), np.uint8)
        rgb = np.full((H, W, 3), 40, np.uint8)
        objs = []
        for k, obj in enumerate(spec["objects"]):
            x0, y0, x1, y1 = obj["box"]
            ids[y0 - 1:y1, x0 - 1:x1] = 255          # void everywhere in the box ...
            if obj.get("area_rect"):
                h, w = obj["area_rect"]
                ids[y0:y0 + h, x0:x0 + w] = k + 1     # ... except the instance itself
                if obj.get("minus_one"):
                    ids[y0, x0] = 255
            rgb[y0 - 1:y1, x0 - 1:x1] = obj.get("colour", (200, 30, 30))
            flags = "".join(f"<{f}>{obj[f]}</{f}>" for f in ("difficult", "truncated")
                            if obj.get(f) is not None)
            objs.append(f"<object><name>{obj['name']}</name>{flags}<bndbox><xmin>{x0}</xmin>"
                        f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")
        seg = int(spec.get("segmented", True))
        (root / "Annotations" / f"{spec['id']}.xml").write_text(
            f"<annotation><filename>{spec['id']}.jpg</filename><segmented>{seg}</segmented>"
            f"<size><width>{W}</width><height>{H}</height></size>{''.join(objs)}</annotation>")
        Image.fromarray(rgb).save(root / "JPEGImages" / f"{spec['id']}.jpg", quality=98)
        if spec.get("png", seg):
            _palette_png(root / "SegmentationObject" / f"{spec['id']}.png", ids)
    return root


def _areas(bank):
    return sorted(int((o[..., 3] > 0).sum()) for o in bank)


def test_filter_person_difficult_truncated_and_missing_flags(tmp_path, capsys):
    root = write_voc(tmp_path / "VOC", [{"id": "a", "objects": [
        dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30), difficult="0", truncated="0"),
        dict(name="person", box=(45, 3, 80, 40), area_rect=(30, 31), difficult="0", truncated="0"),
        dict(name="cat", box=(85, 3, 120, 40), area_rect=(30, 32), difficult="1", truncated="0"),
        dict(name="car", box=(3, 45, 40, 80), area_rect=(30, 33), difficult="0", truncated="1"),
        dict(name="bird", box=(45, 45, 80, 80), area_rect=(30, 34)),               # no flags
        dict(name="cow", box=(85, 45, 120, 80), area_rect=(30, 29), difficult="", truncated=""),
    ]}])
    bank = voc.load_occluders(root, downscale=1.0)
    assert _areas(bank) == sorted([900, 1020, 870])          # dog, bird, cow
    assert "kept 3 objects" in capsys.readouterr().out


def test_min_area_threshold_at_original_resolution(tmp_path):
    root = write_voc(tmp_path / "VOC", [{"id": "a", "objects": [
        dict(name="dog", box=(3, 3, 40, 40), area_rect=(20, 25)),                    # 500 px
        dict(name="cat", box=(45, 3, 80, 40), area_rect=(20, 25), minus_one=True),   # 499 px
    ]}])
    assert _areas(voc.load_occluders(root, downscale=1.0, cache=False)) == [500]
    lower = voc.load_occluders(root, downscale=1.0, cache=False, min_area_px=499)
    assert _areas(lower) == [499, 500]
    small = voc.load_occluders(root, cache=False)                # default: half resolution
    assert max(small[0].shape[:2]) == 19                          # box 38 x 38 px -> 19 x 19


def test_instance_ids_follow_xml_order_and_void_is_ignored(tmp_path):
    colours = [(220, 20, 20), (20, 220, 20), (20, 20, 220)]
    objects = [dict(name=n, box=(3 + 50 * k, 10, 45 + 50 * k, 60), area_rect=(30 + 5 * k, 25),
                    colour=colours[k]) for k, n in enumerate(("dog", "cat", "sofa"))]
    objects.insert(1, dict(name="person", box=(1, 70, 100, 110), area_rect=(30, 90)))
    root = write_voc(tmp_path / "VOC", [{"id": "a", "objects": objects}])
    bank = voc.load_occluders(root, downscale=1.0, cache=False)
    assert len(bank) == 3
    for occ, colour, (h, w) in zip(bank, colours, [(30, 25), (35, 25), (40, 25)]):
        assert occ.shape[:2] == (51, 43)                          # the inclusive 1-based box
        inside = occ[..., 3] > 0
        assert inside.sum() == h * w                              # void (255) never counts
        assert inside[1:1 + h, 1:1 + w].all()
        mean = occ[..., :3][inside].mean(0)
        assert np.abs(mean - colour).max() < 20                   # the right object's pixels


def test_images_without_masks_are_skipped(tmp_path):
    root = write_voc(tmp_path / "VOC", [
        {"id": "a", "objects": [dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30))]},
        {"id": "b", "segmented": False, "png": False,
         "objects": [dict(name="cat", box=(3, 3, 40, 40))]},
        {"id": "c", "segmented": True, "png": False,
         "objects": [dict(name="cat", box=(3, 3, 40, 40))]},
    ])
    assert _areas(voc.load_occluders(root, downscale=1.0, cache=False)) == [900]


def test_missing_segmentation_folder_is_an_error_naming_it(tmp_path):
    root = write_voc(tmp_path / "VOC", [{"id": "a", "objects": []}])
    for png in (root / "SegmentationObject").iterdir():
        png.unlink()
    (root / "SegmentationObject").rmdir()
    with pytest.raises(FileNotFoundError, match="SegmentationObject"):
        voc.load_occluders(root)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        voc.load_occluders(tmp_path / "nowhere")


def test_no_usable_object_is_an_error_not_an_empty_bank(tmp_path):
    root = write_voc(tmp_path / "VOC", [{"id": "a", "objects": [
        dict(name="person", box=(3, 3, 40, 40), area_rect=(30, 30))]}])
    with pytest.raises(ValueError, match=r"no usable occluder .*VOC"):
        voc.load_occluders(root)


def test_unreadable_files_are_skipped_with_a_counted_warning(tmp_path):
    good = dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30))
    root = write_voc(tmp_path / "VOC", [{"id": i, "objects": [good]} for i in "abc"])
    (root / "Annotations" / "b.xml").write_text("<annotation><object>")   # broken XML
    (root / "JPEGImages" / "c.jpg").write_bytes(b"not a jpeg")             # broken image
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        bank = voc.load_occluders(root, cache=False)
    assert len(bank) == 1


def test_cache_is_reused_and_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, capsys):
    root = write_voc(tmp_path / "VOC", [{"id": "a", "objects": [
        dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30)),
        dict(name="cat", box=(45, 3, 90, 40), area_rect=(30, 40))]}])
    first = voc.load_occluders(root)
    files = list((paths.cache_dir() / "voc_occluders").glob("*.npz"))
    assert len(files) == 1 and not list(files[0].parent.glob(".*tmp*"))
    monkeypatch.setattr(voc, "_cutouts_from_image", lambda *a: pytest.fail("cache not used"))
    again = voc.load_occluders(root)
    assert "cached" in capsys.readouterr().out
    assert all(np.array_equal(a, b) for a, b in zip(first, again)) and len(again) == 2
    monkeypatch.undo()
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 2])                           # truncated file
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = voc.load_occluders(root)
    assert all(np.array_equal(a, b) for a, b in zip(first, rebuilt))
    # a different filter is a different cache entry
    voc.load_occluders(root, min_area_px=1000)
    assert len(list(files[0].parent.glob("*.npz"))) == 2


def test_soft_alpha_stays_inside_mask_and_covers_it():
    mask = np.zeros((40, 50), bool)
    mask[5:35, 10:45] = True
    alpha = voc.soft_alpha(mask)
    assert (alpha[~mask] == 0).all()
    assert (alpha[mask] > 127).all()                                 # covered == mask
    assert alpha[mask].min() < 200 and alpha[20, 27] == 255          # soft edge, opaque centre


def test_real_voc_sample_keeps_only_the_dog():
    real = paths.realdata_dir()
    if real is None or not (real / "voc2012").is_dir():
        pytest.skip("real VOC sample not available (posebook.paths.realdata_dir() is None)")
    root = real / "voc2012"
    bank = voc.load_occluders(root, downscale=1.0)
    assert len(bank) == 1                     # chair truncated; 2011_003353 has no masks
    ids = np.array(Image.open(root / "SegmentationObject" / "2007_000063.png"))
    assert Image.open(root / "SegmentationObject" / "2007_000063.png").mode == "P"
    dog = ids == 1                            # the dog is the first <object>
    dog_in_box = dog[114:275, 122:379]        # bndbox 123,115 .. 379,275 (1-based inclusive)
    occ = bank[0]
    assert occ.shape == (161, 257, 4)
    assert int((occ[..., 3] > 0).sum()) == int(dog.sum()) == 27632
    assert (occ[..., 3][~dog_in_box] == 0).all()
    assert (occ[..., 3][dog_in_box] > 127).all()
    jpeg = np.array(Image.open(root / "JPEGImages" / "2007_000063.jpg"))
    assert np.array_equal(occ[..., :3], jpeg[114:275, 122:379])

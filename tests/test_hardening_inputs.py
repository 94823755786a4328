"""Bad input, round 2 (issue 31): one test per case of /work/shared/reliability/round2.md that
concerns what a user feeds posebook (files, parameters, folders), named after the case.

S2 a VOC <filename> outside the root · W1 a changed byte in a checkpoint · W2 papermill's
"false" · W3 a subject named twice · W4 --set profile · W5 another run's snapshot · W6 the VOC
cache key · W7 --focal out of range · C12 C13 C16 C18 C27 C35 C54 C57 C58 C59 C64 C66 C68 C73
C77 (tracebacks, leftovers and unclear messages). Shared helpers and fixtures come from test_hardening."""
from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from posebook import ablation, checkpoint, paths, predict, profiles, runs, train
from posebook.data import h36m, h36m_prepare, voc
from posebook.model import backbones
from h36m_tree import make_release
from test_hardening import (Payload, box_arg, copy_run, frame, photo, posebook,  # noqa: F401
                            runs_dir)
from test_voc import write_voc

MAGENTA = (255, 0, 255)
ROOT = Path(__file__).resolve().parents[1]


def mean_colour(bank) -> list[np.ndarray]:
    return [o[..., :3][o[..., 3] > 0].mean(axis=0) for o in bank]


# --- S2, W6: the VOC image read is the one in JPEGImages its XML names ---------------------------
def test_S2_voc_filename_outside_the_root_is_not_read(tmp_path):
    root = write_voc(tmp_path / "deep" / "VOC", [
        {"id": "a", "objects": [dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30))]},
        {"id": "b", "objects": [dict(name="cat", box=(3, 3, 40, 40), area_rect=(30, 30))]}])
    outside = tmp_path / "outside.jpg"
    Image.fromarray(np.full((120, 160, 3), MAGENTA, np.uint8)).save(outside, quality=98)
    xml = root / "Annotations" / "b.xml"
    original = xml.read_text()
    for name in ("../../outside.jpg", str(outside), "../../../outside.jpg"):
        xml.write_text(original.replace("<filename>b.jpg</filename>",
                                        f"<filename>{name}</filename>"))
        with pytest.warns(UserWarning, match="paths are not allowed"):
            bank = voc.load_occluders(root, cache=False, verbose=False)
        assert len(bank) == 1, name                  # a's dog only; b is skipped
        assert all(np.abs(c - MAGENTA).max() > 60 for c in mean_colour(bank)), name


def test_W6_voc_cache_key_names_the_image_the_xml_names(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEBOOK_CACHE", str(tmp_path / "cache"))
    root = write_voc(tmp_path / "VOC", [
        {"id": "a", "objects": [dict(name="dog", box=(3, 3, 40, 40), area_rect=(30, 30))]}])
    xml = root / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<filename>a.jpg</filename>",
                                           "<filename>other.jpg</filename>"))
    other = root / "JPEGImages" / "other.jpg"
    for colour in ((0, 200, 0), (0, 0, 200)):       # the named image changes, a.jpg does not
        Image.fromarray(np.full((120, 160, 3), colour, np.uint8)).save(other, quality=98)
        bank = voc.load_occluders(root, verbose=False)
        assert np.abs(mean_colour(bank)[0] - colour).max() < 20, colour
        time.sleep(0.01)


# --- W1: a checkpoint's checksum ---------------------------------------------------------------
def flip_bytes_in_largest_tensor(path: Path) -> None:
    """Change 4 bytes inside the data of the checkpoint's largest tensor (its zip CRC breaks,
    which torch.load never checks)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename),
                   key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:
                                                   info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    raw[start:start + 4] = bytes(b ^ 0x5A for b in raw[start:start + 4])
    path.write_bytes(bytes(raw))


def test_W1_a_changed_byte_in_a_weight_tensor_is_damage(smoke_run, runs_dir, capsys):
    run = copy_run(smoke_run, runs_dir / "flipped")
    last = run / "checkpoints" / "last.pt"
    state = checkpoint.load(last)
    flip_bytes_in_largest_tensor(last)
    torch.load(last, map_location="cpu", weights_only=True)   # torch itself notices nothing
    with pytest.raises(ValueError, match="is damaged: its contents do not match"):
        checkpoint.load(last)
    code, err = posebook(capsys, "eval", run, "--split", "test")
    assert code == 2 and str(last) in err and "is damaged" in err
    assert len(err.strip().splitlines()) == 1
    # a checkpoint from before the checksum still loads, and what load returns has no checksum
    old = run / "old.pt"
    torch.save(state, old)
    loaded = checkpoint.load(old)
    assert checkpoint.CHECKSUM_KEY not in loaded and checkpoint.CHECKSUM_KEY not in state
    assert checkpoint.contents_digest(loaded) == checkpoint.contents_digest(state)


# --- W2: papermill's parameters are strings ---------------------------------------------------
class _Stop(Exception):
    pass


@pytest.mark.parametrize("given,expected", [("false", False), ("no", False), (" False", False),
                                            ("0", False), (False, False), ("true", True),
                                            ("YES", True), (True, True)])
def test_W2_papermill_retrain_false_retrains_nothing(runs_dir, monkeypatch, given, expected):
    forced = []

    def fake_run_cached(config, name, force=False, progress=True):
        forced.append(force)
        return runs.folder(name)

    def stop(run_dir, with_counts=True):
        raise _Stop
    monkeypatch.setattr(train, "run_cached", fake_run_cached)
    monkeypatch.setattr(ablation, "read_result", stop)
    with pytest.raises(_Stop):
        ablation.run(profiles.get("smoke"), retrain=given, progress=False)
    assert forced and all(f is expected for f in forced)


def test_W2_a_retrain_that_is_no_boolean_is_an_error(runs_dir):
    for given in ("maybe", "", "2", 1):
        with pytest.raises(ValueError, match="retrain must be true or false"):
            ablation.run(profiles.get("smoke"), retrain=given, progress=False)


# --- W3, C54, C57, C58, C59: prepare-h36m and prepared folders --------------------------------
@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return make_release(tmp_path_factory.mktemp("h36m_release_inputs"))


def test_W3_prepare_h36m_subject_named_twice_is_indexed_once(release, tmp_path, capsys):
    out = tmp_path / "prep"
    code, _ = posebook(capsys, "prepare-h36m", "--root", release, "--out", out, "--subjects",
                       "S1", "S1", "S9", "S9", "--no-progress")
    assert code == 0
    index = h36m.load_index(out)
    rows = list(zip(index["subject"], index["action"], index["camera"], index["frame"]))
    assert len(rows) == len(set(rows))
    assert len(h36m.H36MFrames(out, ["S1"])) == 6 and len(h36m.H36MFrames(out, ["S9"])) == 2


@pytest.mark.parametrize("flag", ["--train-stride", "--test-stride"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_C54_prepare_h36m_stride_below_one(release, tmp_path, capsys, flag, value):
    code, err = posebook(capsys, "prepare-h36m", "--root", release, "--out", tmp_path / "p",
                         flag, value, "--no-progress")
    assert code == 2 and f"{flag} must be a number of frames >= 1" in err
    assert not (tmp_path / "p").exists()


def test_C57_C58_C59_damaged_prepared_folder(release, tmp_path, runs_dir, capsys):
    out = tmp_path / "prep"
    h36m_prepare.prepare(release, out, subjects=("S1",), progress=False)
    whole = h36m.load_index(out)
    sequence = next(p.parent for p in sorted(out.glob("S1/*/done.json")))
    marker, part = sequence / "done.json", sequence / "index.npz"
    good_marker = json.loads(marker.read_text())
    damages = [(marker, "[]"), (marker, json.dumps({k: v for k, v in good_marker.items()
                                                    if k != "n_indexed"})),
               (part, part.read_bytes()[:100]), (part, b"")]
    for file, content in damages:                                   # C57, C58
        (file.write_text if isinstance(content, str) else file.write_bytes)(content)
        with pytest.warns(UserWarning, match="damaged done.json or index.npz"):
            h36m_prepare.prepare(release, out, subjects=("S1",), progress=False)
        again = h36m.load_index(out)
        assert all(np.array_equal(again[k], whole[k]) for k in whole), file
    top = out / h36m.INDEX_NAME                                         # C59
    top.write_bytes(top.read_bytes()[:100])
    with pytest.raises(ValueError, match="is damaged"):
        h36m.load_index(out)
    code, err = posebook(capsys, "train", "--name", "h", "--profile", "smoke", "--no-progress",
                         "--set", "dataset=h36m", "--set", f"h36m_root={out}", "--set", "steps=2")
    assert code == 2 and "is damaged" in err and str(top) in err
    assert len(err.strip().splitlines()) == 1


# --- W4, W5: what a run says it is --------------------------------------------------------------
def test_W4_set_profile_cannot_relabel_a_run(runs_dir, capsys):
    code, err = posebook(capsys, "train", "--name", "x", "--profile", "smoke", "--no-progress",
                         "--set", "steps=2", "--set", "profile=paper")
    assert code == 2 and "--profile NAME" in err and not (runs_dir / "x").exists()
    with pytest.raises(ValueError, match="by name"):
        profiles.get("smoke", ["profile=smoke"])


def test_W5_a_snapshot_of_another_run_is_refused(smoke_run, runs_dir, capsys):
    run = copy_run(smoke_run, runs_dir / "mixed")
    snapshot = run / "checkpoints" / "snapshot_1.pt"
    state = checkpoint.load(snapshot)
    checkpoint.save(snapshot, {**state, "config": {**state["config"], "seed": 7}})
    code, err = posebook(capsys, "eval", run, "--split", "test", "--no-flip")
    assert code == 2 and f"{snapshot} is not a snapshot of this run" in err and "seed" in err
    assert len(err.strip().splitlines()) == 1


# --- W7, C12, C13, C18: predict's inputs and outputs ------------------------------------------
def test_W7_predict_focal_bounded_like_fov(smoke_run, photo, frame, tmp_path, capsys):
    for focal in ("5e6", "1e30", "1"):
        code, err = posebook(capsys, "predict", photo, "--box", box_arg(frame), "--checkpoint",
                             smoke_run, "--focal", focal, "--out", tmp_path / "r.html")
        assert code == 2 and "[1, 140] deg" in err, focal
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(ValueError, match="field of view of 0.00293 deg"):
        predict.camera_for_image((256, 256), focal_px=5e6)


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 3000)) + chunk(b"IEND", b""))


def test_C12_png_header_claiming_100000_squared_px(tmp_path, capsys):
    big = tmp_path / "big.png"
    big.write_bytes(png_claiming(100000, 100000))
    code, err = posebook(capsys, "predict", big, "--box", "0,0,50,100",
                         "--out", tmp_path / "r.html")
    assert code == 2 and "CV_IO_MAX_IMAGE_PIXELS" in err and str(big) in err
    assert len(err.strip().splitlines()) == 1


def test_C13_image_that_is_a_folder_fifo_or_device(tmp_path, capsys):
    folder = tmp_path / "photo.jpg"
    folder.mkdir()
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    cases = [(folder, "is a folder"), (fifo, "not a regular file")]
    if Path("/dev/zero").exists():
        cases.append((Path("/dev/zero"), "not a regular file"))
    for path, said in cases:
        code, err = posebook(capsys, "predict", path, "--box", "0,0,50,100",
                             "--out", tmp_path / "r.html")
        assert code == 2 and said in err and "does not exist" not in err, path
    code, err = posebook(capsys, "predict", tmp_path / "none.jpg", "--out", tmp_path / "r.html")
    assert code == 2 and "does not exist" in err


def test_C18_predict_force_when_the_json_is_a_folder(smoke_run, photo, frame, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "r.json").mkdir(parents=True)
    code, err = posebook(capsys, "predict", photo, "--box", box_arg(frame), "--checkpoint",
                         smoke_run, "--out", out / "r.html", "--force")
    assert code == 2 and "r.json" in err and "folder" in err
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]      # no page, no temp file
    with pytest.raises(IsADirectoryError):                          # the rename fails: no temp
        with paths.atomic_path(out / "r.json") as tmp:
            tmp.write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]


# --- C35: a pretrained= file that is no weights file --------------------------------------------
def test_C35_pretrained_file_that_is_no_weights(tmp_path, runs_dir, capsys):
    marker = tmp_path / "pwned.txt"
    pickled = tmp_path / "evil.pth"
    torch.save({"conv1.weight": Payload(marker)}, pickled)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(bytes(range(256)) * 8)
    text = tmp_path / "weights.pth"
    text.write_text("weights: see README\n")
    for path, said in ((pickled, "refusing to load weights file"),
                       (junk, "is damaged or not a weights file"),
                       (text, "is damaged or not a weights file")):
        with pytest.raises(ValueError, match=said) as error:
            backbones.build_backbone("resnet18", stride=32, pretrained=str(path))
        assert str(path) in str(error.value) and "weights_only" not in str(error.value)
    code, err = posebook(capsys, "train", "--name", "p", "--profile", "smoke", "--no-progress",
                         "--set", "steps=2", "--set", "backbone=resnet18", "--set",
                         "stride=32", "--set", f"pretrained={text}")
    assert code == 2 and str(text) in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


# --- C64, C66, C68: config values no run can use -----------------------------------------------
@pytest.mark.parametrize("override,named", [
    ("seed=99999999999999999999999", "seed must be in [0, 9223372036854775807]"),
    ("data_seed=9223372036854775808", "data_seed must be in [0, 9223372036854775807]"),
    ("num_threads=100000", "num_threads must be in [0, 1024]"),
    ("canonical_focal_px=1e-300", "canonical_focal_px must be 0"),
    ("box_depth_mm=1e308", "box_depth_mm must be in [1, 1000000.0]"),
    ("root_depth_max_mm=1e300", "root_depth_max_mm must be in [1, 1000000.0]"),
    ("focal_px=1e-300", "focal_px must be in [1, 1000000.0]")])
def test_C64_C66_C68_absurd_values_are_refused_naming_the_key(override, named):
    """A config check, before anything runs (`train.resolve` calls it; test_hardening's
    test_4_5 shows the command's one line): 100000 threads would crash the process."""
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace(".", r"\.")):
        profiles.get("smoke", [override]).validate()
    for edge in ("seed=9223372036854775807", "num_threads=1024", "box_depth_mm=1e6"):
        profiles.get("smoke", [edge]).validate()


# --- Round 2, the rest: C16, C18, C27 (predict's outputs), C73, C77 -----------------------------
def test_C16_out_in_a_read_only_folder_is_refused_before_the_work(smoke_run, photo, frame,
                                                                  tmp_path, capsys,
                                                                  monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:        # root writes anyway: take the folder's mode at its word
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: access(path, mode, **kw) and
                            not (Path(path) == folder and mode & os.W_OK))

    def the_work(*args, **kwargs):
        raise AssertionError("the model ran before --out was checked")
    monkeypatch.setattr(predict, "predict", the_work)
    try:
        code, err = posebook(capsys, "predict", photo, "--box", box_arg(frame), "--checkpoint",
                             smoke_run, "--out", folder / "o.html")
        assert code == 2 and f"cannot write into {str(folder)!r}" in err
        assert paths.TEMP_MARK not in err and len(err.strip().splitlines()) == 1
        with pytest.raises(PermissionError) as error:        # a temp file that cannot be made
            with paths.atomic_path(folder / "o.json") as tmp:  # is named by its target
                raise PermissionError(13, "Permission denied", str(tmp))
        assert error.value.filename == str(folder / "o.json")
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("becomes_a_folder", ["r.json", "r.html"])
def test_C18_the_page_and_its_json_are_written_both_or_neither(smoke_run, photo, frame,
                                                              tmp_path, capsys, monkeypatch,
                                                              becomes_a_folder):
    """One rename went through, the other failed (its target a folder by then): a half-written
    pair. Now the pair goes in whole or not at all: the old pair stays, no temp file left."""
    from posebook.viz import predict as page
    out = tmp_path / "out" / "r.html"
    argv = ["predict", photo, "--box", box_arg(frame), "--checkpoint", smoke_run, "--out", out]
    assert posebook(capsys, *argv)[0] == 0
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    report_html, blocked = page.report_html, out.parent / becomes_a_folder

    def becomes_folder(prediction):               # after the up-front check, before the write
        blocked.unlink()
        (blocked / "x").mkdir(parents=True)
        return report_html(prediction)
    monkeypatch.setattr(page, "report_html", becomes_folder)
    code, err = posebook(capsys, *argv, "--no-flip")
    assert code == 2 and str(blocked) in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.html", "r.json"]
    kept = "r.html" if becomes_a_folder == "r.json" else "r.json"
    assert out.parent.joinpath(kept).read_bytes() == before[kept]
    # a kill between moving the old file aside and putting the new one in: the next write
    # puts it back first (the pid is of a finished process)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    kept_path = out.parent / kept
    kept_path.rename(kept_path.with_name(f".{kept}{paths.OLD_MARK}{dead}"))
    assert paths.remove_stale_temps(kept_path) == []
    assert kept_path.read_bytes() == before[kept]


def test_C27_a_failed_write_leaves_no_folder_it_made(tmp_path):
    target = tmp_path / "sub" / "deeper" / "r.json"
    with pytest.raises(OSError, match="No space left on device"):
        with paths.atomic_paths(target, tmp_path / "sub" / "r.html") as (tmp, _):
            tmp.write_text("{}")
            raise OSError(errno.ENOSPC, "No space left on device")    # what write() raises
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("overrides", ["steps=10 batch_size=4", ["steps=10", "batch_size=4"],
                                       {"steps": 10, "batch_size": 4}])
def test_C73_chapter_07_overrides_as_papermill_gives_them(overrides):
    """papermill -p overrides "steps=10 batch_size=4" gives chapter 07 one string (it read
    's', 't', ...); -y gives a list or a mapping. The chapter's own cells, parameterised by
    papermill."""
    parameterize = pytest.importorskip("papermill.parameterize")
    from papermill.iorw import load_notebook_node
    notebook = load_notebook_node(str(ROOT / "chapters" / "07_h36m.ipynb"))
    notebook = parameterize.parameterize_notebook(
        notebook, {"profile": "smoke", "overrides": overrides})
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    start = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    for cell in cells[start:start + 3]:              # defaults, papermill's, profiles.get
        exec(cell.source, namespace)
    assert (namespace["config"].steps, namespace["config"].batch_size) == (10, 4)
    for bad, said in ((["smoke"], "unknown profile"), (5, "unknown profile")):
        with pytest.raises(ValueError, match=said):
            profiles.get(bad)
    with pytest.raises(ValueError, match="overrides must be key=value texts"):
        profiles.get("smoke", 10)


def test_C77_detector_weights_that_would_run_code(smoke_run, photo, tmp_path, capsys):
    """Refused as unsafe, nothing run, and the message no longer relays torch's advice to
    load it unsafely (weights_only=False) or to allowlist the global."""
    pytest.importorskip("torchvision")
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": Payload(marker)}, evil)
    code, err = posebook(capsys, "predict", photo, "--checkpoint", smoke_run, "--detector",
                         "torchvision", "--detector-weights", evil, "--out", tmp_path / "r.html")
    assert code == 2 and len(err.strip().splitlines()) == 1 and not marker.exists()
    assert "refusing to load weights file" in err and str(evil) in err
    assert "weights_only" not in err and "safe_globals" not in err


# --- a damaged .npz leaves no file open (numpy's np.load does, when it raises) -----------------
def test_a_damaged_npz_is_refused_with_its_file_closed(tmp_path):
    import gc
    import warnings
    whole = tmp_path / "whole.npz"
    np.savez(whole, frame=np.arange(4))
    (tmp_path / h36m.INDEX_NAME).write_bytes(whole.read_bytes()[:60])    # a truncated archive
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ValueError, match="is damaged"):
            h36m.load_index(tmp_path)
        gc.collect()                       # a file left open is closed here, with a warning
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    with paths.open_npz(whole) as data:
        assert list(data["frame"]) == [0, 1, 2, 3]

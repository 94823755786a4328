"""Data sources: every question posebook asks about a run's dataset, answered behind one protocol.

A `Source` says, for one `RunConfig`, which frames each split holds (`frames`), how big the
training set is (`train_size`), which subjects each split shows (`subjects`), whether it holds a
validation split of its own (`has_validation`), the names of its items' family ids
(`family_names`: posture families or actions), whether metrics report protocol 1 (`protocol1`:
the mean over actions of the per-action MPJPE, `metrics.protocol1`), the people in its images in
words (`people`) and where a split's rendered frames are cached (`frame_cache_path`).

`for_config(config)` picks the source; it is the one place that reads ``config.dataset``. Training,
evaluation and the captions ask the source, never the dataset's name, so a new source is a class
here that answers the same questions plus its name in `KINDS` (and in `config.DATASETS`, which
validates ``config.dataset``): nothing else changes.

    source = sources.for_config(config)
    frames = source.frames("test")            # len(frames), frames.frame(i) -> synthetic.Frame
    steps_per_epoch = source.train_size() // config.batch_size

Sources are cheap to make and read no files until asked for frames or the training-set size
(Human3.6M: its prepared ``index.npz``), so captions can ask about a run whose data is absent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol

import numpy as np

from . import frame_cache, subjects as subject_protocol, synthetic

# Split -> id of its random streams; "test_occluded" shows the "test" people (same id).
SPLITS = {"train": 0, "val": 1, "test": 2, "test_occluded": 2}


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    return split


def split_seed(seed: int, split: str) -> int:
    """Seed of a split's frame source: disjoint streams via `np.random.SeedSequence`."""
    check_split(split)
    return int(np.random.SeedSequence([int(seed), 7919, SPLITS[split]]).generate_state(1)[0])


class Frames(Protocol):
    """A frame source: ``len(frames)`` frames, ``frames.frame(i)`` -> `synthetic.Frame` (image,
    camera, joints_world_mm, box_xywh_px, family_id, ...), deterministic in i."""

    def __len__(self) -> int: ...

    def frame(self, i: int) -> synthetic.Frame: ...


class Source(Protocol):
    """What a dataset answers (see the module docstring). Attributes are plain values; the
    methods may read the data (only `frames` and `train_size` do)."""

    name: str                       # its ``config.dataset`` ("synthetic", "h36m")
    people: str                     # who is in its images, in words ("synthetic", "Human3.6M")
    real_people: bool               # its subjects are real people (a real frame's subject
                                    # named like one of them is the same person)
    family_names: tuple[str, ...]   # names of the items' family ids (families or actions)
    protocol1: bool                 # metrics add protocol1_mm: mean over family_names (actions)
                                    # of the per-action MPJPE (`metrics.protocol1`)
    has_validation: bool            # a "val" split of people held out from training AND test
    no_validation_reason: str       # why nothing is chosen on validation when it has none

    def frames(self, split: str) -> Frames:
        """The frames of `split` ("train" | "val" | "test" | "test_occluded")."""

    def train_size(self) -> int:
        """Samples in the training set (what an epoch passes over)."""

    def subjects(self, split: str) -> tuple[str, ...]:
        """Named subjects the split shows; () where people are drawn, not named."""

    def frame_cache_path(self, split: str) -> Path | None:
        """Where the split's wide crops are cached on disk (`frame_cache`); None: not cached
        (rendered or read per item)."""


@dataclass(frozen=True)
class Synthetic:
    """Synthetic people (`data.synthetic`): every split drawn from its own seed stream of
    ``config.data_seed``, sized by n_train / n_val / n_test, cached on disk when it fits."""

    config: object                  # RunConfig
    name = "synthetic"
    people = "synthetic"
    real_people = False
    family_names = tuple(synthetic.FAMILIES)
    protocol1 = False               # posture families are not actions: no protocol-1 number
    has_validation = True           # "val" people are drawn apart from train and test
    no_validation_reason = "no validation split (n_val=0)"

    def split_size(self, split: str) -> int:
        c = self.config
        return {"train": c.n_train, "val": c.n_val}.get(check_split(split), c.n_test)

    def frames(self, split: str) -> synthetic.SyntheticFrames:
        c = self._current()
        return synthetic.SyntheticFrames(split_seed(c.data_seed, split), self.split_size(split),
                                         c.frame_px)

    def train_size(self) -> int:
        return self.config.n_train

    def _current(self):
        """The config, if this posebook draws its people (`config.DATA_VERSION`): a run made
        from older synthetic people (version 1: mirror images) is never evaluated on new ones."""
        from ..config import DATA_VERSION
        if self.config.data_version != DATA_VERSION:
            raise ValueError(f"this run was made from synthetic people of data_version "
                             f"{self.config.data_version} (1 = mirror images, before 2026-12-06); "
                             f"this posebook draws only version {DATA_VERSION}: train it again")
        return self.config

    def subjects(self, split: str) -> tuple[str, ...]:
        check_split(split)
        return ()

    def frame_cache_path(self, split: str) -> Path:
        c = self.config
        key = dict(seed=c.data_seed, split=SPLITS[check_split(split)], n=self.split_size(split),
                   frame_px=c.frame_px, data_version=c.data_version)
        return frame_cache.cache_path(self.name, key, c.input_px)


@dataclass(frozen=True)
class SyntheticSubjects(Synthetic):
    """The Human3.6M-shaped synthetic protocol (`data.subjects`): five training subjects (S1,
    S5-S8) and two test subjects (S9, S11) with fixed bodies and looks, six named actions, one
    room seen by four fixed cameras. Sized and cached like `Synthetic` (n_train / n_val / n_test
    frames, the cache named after this source). Like Human3.6M, protocol 1 (the actions) and no
    validation people: "val" shows the test subjects in other takes, so nothing is chosen on
    it."""

    name = "synthetic_subjects"
    family_names = subject_protocol.ACTION_NAMES
    protocol1 = True
    has_validation = False
    no_validation_reason = ("synthetic subjects: no validation people apart from the test "
                            "subjects S9/S11; the profile's fixed choice is used")

    def frames(self, split: str) -> subject_protocol.SubjectFrames:
        c = self._current()
        return subject_protocol.SubjectFrames(c.data_seed, check_split(split),
                                              self.split_size(split), c.frame_px)

    def subjects(self, split: str) -> tuple[str, ...]:
        return subject_protocol.split_subjects(check_split(split))


@dataclass(frozen=True)
class Human36M:
    """Human3.6M prepared by `posebook prepare-h36m` (``config.h36m_root``), protocol 1: train on
    S1 S5 S6 S7 S8 (plus S9 S11 with ``train_on_val``), "val" / "test" / "test_occluded" on S9
    S11 (protocol 1 has no separate validation set; the challenge's validation subjects are the
    same). ``setting="challenge"``: cached detector boxes and the global ``focal_px``."""

    config: object                  # RunConfig
    name = "h36m"
    people = "Human3.6M"
    real_people = True
    protocol1 = True
    has_validation = False
    no_validation_reason = ("Human3.6M: no validation split apart from the test subjects "
                            "S9/S11; the profile's fixed choice is used")

    @property
    def family_names(self) -> tuple[str, ...]:
        from . import h36m
        return h36m.ACTIONS

    def subjects(self, split: str) -> tuple[str, ...]:
        from .h36m import TEST_SUBJECTS, TRAIN_SUBJECTS
        if check_split(split) != "train":
            return TEST_SUBJECTS
        return TRAIN_SUBJECTS + (TEST_SUBJECTS if self.config.train_on_val else ())

    def frames(self, split: str, **kwargs):
        """`h36m.H36MFrames` of the split's subjects; `kwargs` go to it (actions, cameras ...)."""
        from . import h36m
        c = self.config
        if not c.h36m_root:
            raise ValueError("config.h36m_root is empty: set it to the `posebook prepare-h36m` "
                             "output")
        if c.setting == "challenge":
            kwargs = dict(boxes="detector", focal_px=float(c.focal_px), **kwargs)
        return h36m.H36MFrames(c.h36m_root, self.subjects(split), **kwargs)

    def train_size(self) -> int:
        return len(self.frames("train"))

    def frame_cache_path(self, split: str) -> None:
        check_split(split)
        return None                 # ~300k real frames: read per item, never cached


KINDS: dict[str, type] = {"synthetic": Synthetic, "h36m": Human36M,
                          "synthetic_subjects": SyntheticSubjects}


def for_config(config) -> Source:
    """The source of a `RunConfig` (or a saved config dict, read by `RunConfig.from_dict`):
    the one place that reads ``config.dataset``."""
    if isinstance(config, Mapping):
        from ..config import RunConfig
        config = RunConfig.from_dict(dict(config))
    if config.dataset not in KINDS:
        raise ValueError(f"config.dataset must be one of {tuple(KINDS)}, got {config.dataset!r}")
    return KINDS[config.dataset](config)

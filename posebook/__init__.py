"""posebook: the runnable companion to Sárándi et al. (2018), "Synthetic Occlusion Augmentation
with Volumetric Heatmaps for the 2018 ECCV PoseTrack Challenge on 3D Human Pose Estimation".

Modules by layer, lowest first. This table is the one list of the package's modules and layers
(the design document points here). A module imports only from its own layer or below, never in
a circle; tests/test_layers.py reads this table and checks every import in the package against
it, and that it names every module of the tree:

    1 foundations  skeleton paths config profiles schedule progress distortion weights
                   runtime distributed paper_numbers
    2 geometry     camera crop
    3 augment      augment
    4 data         data detect
    5 model        model
    6 metrics      metrics loss
    7 runs         runs runlock history checkpoint report
    8 tasks        train evaluate predict ablation table2 real_frames
    9 reading      viz book launch choices overview cli __main__

`augment` (draw a sample's Plan; its CPU and GPU renderers), `data` (frame sources, caches,
samples), `model`, `report` and `viz` are packages; `detect` (person boxes for a frame: HOG,
torchvision's detector, given boxes) needs only `weights`, and `prepare-h36m` caches its boxes,
so it sits with the data sources. `report` reads finished runs and words them; it sits with the
run folder, below the tasks, because the tasks (evaluate's metrics.md, the Table 1 and Table 2
studies) read their runs' numbers through it. Chapters import `posebook`, never each other.

Where does X live?

- a config field, its checks, overrides and run-length rules: `config` (`RunConfig`); the
  named profiles and the default one: `profiles` (`profiles.get`); a config as it trains
  (overrides, checks, ablation length, epochs to steps, in that order): `train.resolve`
- device, threads, precision, loader workers, and which process writes (`Process`): `runtime`
- the processes of a torchrun job as one run (joining, barriers, DistributedDataParallel,
  batch norm over all ranks, evaluation split over the ranks and gathered): `distributed`
- camera conventions (axes, K, R, t, distortion): `camera`; the perspective crop: `crop`
- joint names, bones, left/right mirror, and the anatomy checks against real people
  (`handedness`, `chest_normal_unit`, `facing_error_deg`): `skeleton`
- synthetic people, the Human3.6M-shaped synthetic subjects (`data.subjects`), Human3.6M,
  Pascal VOC, occluder banks, the training dataset: `data` (one source per dataset name:
  `data.sources`; rendered frames on disk: `data.frame_cache`); a run's training items, validation split, batch order and loader:
  `data.training`
- one training sample's random choices (`Plan`) and their CPU/GPU renderers: `augment`
- the network (backbone, heads, soft-argmax, flip TTA): `model`; as a run trains it
  (batch-norm momentum, channels-last, compile): `model.for_training`, `model.compiled`
- MPJPE, PA-MPJPE, protocol 1: `metrics`; the training loss: `loss`
- a run folder (its file names, start/resume/overwrite, writes: `runs.RunFolder`; find,
  read, load a checkpoint's model): `runs`, `checkpoint`; its write lock: `runlock`; what a
  run records as it trains (curves, mean-pose sums, time): `history.History`
- training (`train.run_cached`, the book's main run `train.book_run`; the model, optimizer,
  step and loop: `train.Trainer`): `train`
- evaluation, flip TTA, the snapshot ensemble, metrics.json's writer: `evaluate`
- Table 1 (occlusion probability): `ablation`; Table 2 (Human3.6M): `table2`
- a run's numbers as typed values (`report.read`), the table type (`report.Table`), every
  table of results (`report.tables`) and every computed sentence (`report.sentences`): `report`
- figures: `viz`; your own image: `predict` (the work) and `viz.predict` (the page, the
  command); real frames with ground truth: `real_frames`
- numbers quoted from the paper: `paper_numbers`; values the paper does not give: `choices`;
  the paper beside a run's numbers: `report.paper`; the introduction's table: `overview`
- the command line: `cli` (each command's `add_arguments`/`run` live where the work is);
  building the book: `book`; the book's repository URL (one place: ``_config.yml``), the
  chapters' install cell and the launch buttons: `launch`
"""
__version__ = "0.1.0"

import os as _os

# On a small shared CPU, OpenMP threads that spin-wait for each other can make a training step
# 20-30x slower whenever another process (a data worker, a second kernel) is busy; passive
# waiting avoids that collapse (benchmarks/RESULTS.md, "Threads"). It only takes effect if set
# before torch is first imported, and a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

"""Table 1 of the paper: occlusion-augmentation probability p vs MPJPE, and beyond it.

The protocol: the profile's config with its ``ablation_set`` changes (`protocol`; for the
synthetic profiles, the Human3.6M-shaped `data.subjects` people: train on five, test on two
others, the regime where the paper's error is a generalisation gap). One model per p in
``config.ablation_p`` and per seed in ``config.ablation_seeds``, everything else identical; each
is trained or re-used through `train.run_cached` into ``runs/ablation_<profile>_p<100p>_s<seed>/``
and evaluated on the clean and the occluded test set and on its own training people
(`evaluate.evaluate_all`, written to metrics.json). The seed-to-seed noise is the pooled standard
deviation over the probabilities trained with several seeds (`seed_spread`).

Beyond the paper: the error of covered vs uncovered joints (from metrics.json) and the error vs
the number of occluders in the occluded test image (`per_count`, computed here from the run's
predictions and cached as ``runs/<name>/ablation.json``).

Run length: ``config.ablation_steps`` (0 = ``config.steps``, or the profile's ``epochs``, which
`train.resolve` converts to steps from the training set's size, as for the `paper` profile;
`config.ablation_length`). The LR cycle keeps the profile's length, capped at the run length: a
run shorter than one cycle is a single cycle, so its snapshot "ensemble" is its final weights
(averaging in weights from a third of a short run hurts).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import evaluate, metrics, paper_numbers, report, runs, runtime, train
from .config import RunConfig, apply_overrides, parse_bool

PAPER_TABLE1 = paper_numbers.TABLE1_MPJPE_MM   # quoted from the paper's Table 1, not measured
BREAKDOWN_FILE = "ablation.json"
BREAKDOWN_VERSION = 1
_CHOSEN_HERE = ("occlusion_p", "seed", "profile")   # never an ablation_set key


def protocol(base: RunConfig) -> RunConfig:
    """`base` with its ``ablation_set`` changes applied (KEY=VALUE texts, as ``--set``): the
    config every Table 1 run shares before its p and seed. ValueError naming the item when a
    change is not a config field or sets what the ablation chooses itself."""
    for item in base.ablation_set:
        key = item.partition("=")[0].strip()
        if key in _CHOSEN_HERE or key.startswith("ablation_"):
            raise ValueError(f"ablation_set item {item!r}: {key} is chosen by the ablation "
                             f"itself (ablation_p, ablation_seeds, the profile)")
    try:
        return apply_overrides(base, base.ablation_set)
    except ValueError as error:
        raise ValueError(f"ablation_set {base.ablation_set!r}: {error}") from None


def run_config(base: RunConfig, p: float, seed: int) -> RunConfig:
    """The protocol (`protocol`) with occlusion probability `p` and `seed`, resolved with the
    ablation's run length (`train.resolve`: validated, `config.ablation_length`, epochs in
    steps)."""
    return train.resolve(protocol(base).replace(occlusion_p=float(p), seed=int(seed)),
                         ablation=True)


def run_name(config: RunConfig) -> str:
    return f"ablation_{config.profile}_p{round(config.occlusion_p * 100):03d}_s{config.seed}"


def plan(base: RunConfig) -> list[RunConfig]:
    """Every run of the ablation: ``ablation_p`` x ``ablation_seeds``."""
    return [run_config(base, p, s) for p in base.ablation_p for s in base.ablation_seeds]


@dataclass
class Result:
    """One finished ablation run, numbers read from its metrics / its ablation.json."""
    p: float
    seed: int
    name: str
    path: Path
    train_mm: float | None          # its own training people, unaugmented (None: not measured)
    clean_mm: float                 # clean test MPJPE
    occluded_mm: float              # occluded test MPJPE (all joints)
    covered_mm: float | None        # occluded test, joints under an occluder
    uncovered_mm: float | None      # occluded test, joints not under an occluder
    n_covered: int
    n_uncovered: int
    per_count: dict[int, tuple[float, int]] = field(default_factory=dict)  # n_occ -> (mm, images)


@dataclass
class Ablation:
    base: RunConfig
    results: list[Result]
    first: report.RunMetrics        # the first run's metrics: data, occluders, backbone
    steps: int                      # steps per run

    @property
    def probabilities(self) -> tuple[float, ...]:
        return tuple(self.base.ablation_p)

    def at(self, p: float) -> list[Result]:
        """Every seed's result at probability `p`."""
        return [r for r in self.results if np.isclose(r.p, p)]


def per_count(run_dir: str | Path, device: str = "cpu") -> dict[int, tuple[float, int]]:
    """MPJPE on the occluded test set grouped by the number of occluders in the image.

    Uses the run's evaluation setting (flip TTA, the members chosen on validation). Returns {n: (mm, images)}.
    Cached in ``runs/<name>/ablation.json``, stamped with the time the run's metrics were
    written.
    """
    from .data.dataset import PoseDataset

    run = evaluate.load_run(run_dir)
    folder = runs.RunFolder(run.path)
    stamp = folder.metrics_mtime_ns()
    if stamp is None:
        raise FileNotFoundError(f"{run.path} has not been evaluated: the run did not finish")
    saved = folder.derived(BREAKDOWN_FILE) or {}
    if saved.get("version") == BREAKDOWN_VERSION and saved.get("metrics_mtime_ns") == stamp:
        return {int(k): (float(v[0]), int(v[1])) for k, v in saved["per_count"].items()}
    config, numbers = run.config, report.of(run)
    models = [runs.load_model(run.path, n, device)[0]     # chosen on validation by evaluate_all
              for n in numbers.members]
    dataset = PoseDataset(config, "test_occluded")
    result = evaluate.collect(models, dataset, config, device, flip_variants=(config.flip_test,))
    pred = evaluate.combine(result, range(len(models)), config.flip_test)[0]
    errors = metrics.joint_errors(pred, result["gt"])                      # (N, J)
    counts = result["n_occluders"]
    out = {int(n): (float(errors[counts == n].mean()), int((counts == n).sum()))
           for n in np.unique(counts)}
    folder.write_derived(BREAKDOWN_FILE, {
        "version": BREAKDOWN_VERSION, "metrics_mtime_ns": stamp,
        "per_count": {str(k): list(v) for k, v in out.items()}})
    return out


def read_result(run_dir: str | Path, with_counts: bool = True) -> Result:
    """A `Result` from a finished (evaluated) run folder."""
    run = evaluate.load_run(run_dir)
    numbers = report.of(run)            # FileNotFoundError when the run did not finish
    occ = numbers.split("test_occluded")
    return Result(
        p=run.config.occlusion_p, seed=run.config.seed, name=run.path.name, path=run.path,
        train_mm=numbers.train.mpjpe_mm if numbers.train else None,
        clean_mm=float(numbers.test.mpjpe_mm), occluded_mm=float(occ.mpjpe_mm),
        covered_mm=occ.occluded_mm, uncovered_mm=occ.visible_mm,
        n_covered=occ.n_occluded, n_uncovered=occ.n_visible,
        per_count=per_count(run.path) if with_counts else {})


def finished(config: RunConfig) -> bool:
    """runs/<run_name(config)> holds a finished run of `config` as it trains (`train.resolve`:
    a length in epochs in steps), the run `train.run_cached` re-uses."""
    return runs.finished(runs.folder(run_name(config)), train.resolve(config))


def default_jobs(base: RunConfig) -> int:
    """Runs to train side by side on a CPU-only machine with num_threads set: CPU cores //
    (num_threads + loader workers) of the runs' own config (`protocol`: the ablation_set may
    change both), i.e. one core per compute thread and per loader process; else 1. With
    num_workers = -1 the loader takes every core but one, so that is 1 run."""
    runs_config = protocol(base)
    if runtime.pick_device(runs_config).type != "cpu" or runs_config.num_threads < 1:
        return 1
    return max(1, runtime.usable_cores() // (runs_config.num_threads
                                             + runtime.loader_workers(runs_config)))


def warm_tasks(configs: list[RunConfig]) -> list[tuple[dict, str]]:
    """(config dict, split) of every frame cache the runs will read, once per data_seed (runs
    of one data_seed share their caches); a split with no frames (n_val = 0) has none."""
    data = {c.data_seed: c for c in configs}
    return [(c.to_dict(), split) for c in data.values() for split in ("train", "val", "test")
            if split != "val" or c.n_val > 0]


def _warm(args) -> None:
    """Worker: render one split's frame cache (distinct caches never collide)."""
    from .data.dataset import PoseDataset

    config, split = RunConfig.from_dict(args[0]), args[1]
    dataset = PoseDataset(config, split)
    if dataset.cache is not None:
        dataset.cache.get(0)


def _train_one(args) -> str:
    """Worker: train (or re-use) one run, then its per-count breakdown; returns the run folder."""
    config, name, force = RunConfig.from_dict(args[0]), args[1], args[2]
    runtime.set_threads(config)
    run_dir = train.run_cached(config, name, force=force, progress=False)
    per_count(run_dir)
    return str(run_dir)


def run(base: RunConfig, retrain: bool = False, progress: bool | str = "text",
        with_counts: bool = True, jobs: int = 1) -> Ablation:
    """Train (or re-use, when runs/<name> finished with the identical config) every run of
    `plan(base)` and read back their numbers. retrain=True trains every run again.

    jobs > 1 trains that many runs at once in worker processes (see `default_jobs`); the frame
    caches of every seed are rendered first, one split per worker, so no two workers build the
    same cache.
    """
    retrain = parse_bool(retrain, "retrain")   # papermill's -p retrain false: "false"
    configs = plan(base)
    folders = [runs.RunFolder(runs.folder(run_name(c))) for c in configs]
    before = [f.metrics_mtime_ns() for f in folders]
    todo = [c for c in configs if retrain or not finished(c)]
    if jobs > 1 and todo:
        import multiprocessing

        warm = warm_tasks(todo)
        tasks = [(c.to_dict(), run_name(c), retrain) for c in todo]
        with multiprocessing.get_context("spawn").Pool(min(jobs, len(tasks))) as pool:
            pool.map(_warm, warm, chunksize=1)
            pool.map(_train_one, tasks, chunksize=1)
        run_dirs = [train.run_cached(c, run_name(c), progress=False) for c in configs]
    else:
        run_dirs = [train.run_cached(c, run_name(c), force=retrain, progress=progress)
                    for c in configs]
    results = [read_result(d, with_counts) for d in run_dirs]
    if progress:
        for config, r, f, b in zip(configs, results, folders, before):
            how = "re-used" if f.metrics_mtime_ns() == b else "trained"
            print(f"{r.name} ({how}): p={config.occlusion_p}, seed={config.seed}, "
                  f"clean {r.clean_mm:.1f} mm, occluded {r.occluded_mm:.1f} mm", flush=True)
    first = report.read(results[0].path)
    return Ablation(base, results, first=first, steps=first.steps)


def load(base: RunConfig, with_counts: bool = True) -> Ablation:
    """The ablation of `base` from runs/ without training (FileNotFoundError if a run is missing)."""
    results = [read_result(runs.folder(run_name(c)), with_counts) for c in plan(base)]
    first = report.read(results[0].path)
    return Ablation(base, results, first=first, steps=first.steps)


# --- summaries ----------------------------------------------------------------------------------
def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def summary(ablation: Ablation) -> list[dict]:
    """Per p: train / clean / occluded / covered / uncovered mean and std over the seeds (mm),
    the gap (clean test - train, per seed, then mean and std) and the paper's number."""
    rows = []
    for p in ablation.probabilities:
        runs = ablation.at(p)
        row = {"p": p, "n_seeds": len(runs), "paper_mm": PAPER_TABLE1.get(p)}
        for key in ("train_mm", "clean_mm", "occluded_mm", "covered_mm", "uncovered_mm"):
            row[key], row[key.replace("_mm", "_std_mm")] = mean_std([getattr(r, key) for r in runs])
        row["gap_mm"], row["gap_std_mm"] = mean_std(
            [r.clean_mm - r.train_mm for r in runs if r.train_mm is not None])
        rows.append(row)
    return rows


def seed_spread(ablation: Ablation) -> dict:
    """Seed-to-seed standard deviation (mm), pooled over every p trained with two or more seeds:
    sqrt(sum((n_p - 1) s_p^2) / sum(n_p - 1)); NaN where no p has two seeds. `dof` is
    sum(n_p - 1), the pooled estimate's degrees of freedom."""
    groups = [ablation.at(p) for p in ablation.probabilities]
    groups = [g for g in groups if len(g) > 1]
    dof = sum(len(g) - 1 for g in groups)
    out = {"dof": dof, "seeds": sorted({r.seed for g in groups for r in g})}
    for key in ("clean_mm", "occluded_mm", "train_mm"):
        sums = [np.var([getattr(r, key) for r in g], ddof=1) * (len(g) - 1) for g in groups
                if all(getattr(r, key) is not None for r in g)]
        out[key.replace("_mm", "_std_mm")] = (float(np.sqrt(sum(sums) / dof))
                                              if dof and len(sums) == len(groups) else float("nan"))
    return out


def count_summary(ablation: Ablation) -> dict[float, dict[int, float]]:
    """{p: {n occluders: MPJPE mm}} on the occluded test set, image-weighted over the seeds."""
    out = {}
    for p in ablation.probabilities:
        total: dict[int, list[float]] = {}
        for r in ablation.at(p):
            for n, (mm, k) in r.per_count.items():
                acc = total.setdefault(n, [0.0, 0])
                acc[0] += mm * k
                acc[1] += k
        out[p] = {n: s / k for n, (s, k) in sorted(total.items()) if k}
    return out


@dataclass(frozen=True)
class Gain:
    """The best p > 0 against no augmentation on one test set (`key` of `summary` rows), with
    the pooled seed-to-seed std it is judged by (`seed_spread`)."""
    key: str                # "clean_mm" | "occluded_mm"
    p: float                # the p > 0 with the lowest mean MPJPE on that set
    delta_mm: float         # its mean minus p = 0's (negative = augmentation helped)
    noise_mm: float         # pooled seed-to-seed std of that set (NaN: one seed per p)

    @property
    def noise_multiple(self) -> float:
        """|delta| / noise (NaN without a measured noise)."""
        return abs(self.delta_mm) / self.noise_mm if self.noise_mm > 0 else float("nan")


def best_gain(rows: list[dict], spread: dict, key: str = "clean_mm") -> Gain:
    """`Gain` of the best p > 0 over p = 0 on `key`'s test set; ValueError when the ablation
    trained no p = 0 or no p > 0."""
    base = [r for r in rows if r["p"] == 0]
    others = [r for r in rows if r["p"] > 0]
    if not base or not others:
        raise ValueError(f"a gain needs p = 0 and some p > 0 among {[r['p'] for r in rows]}")
    best = min(others, key=lambda r: r[key])
    return Gain(key, best["p"], float(best[key] - base[0][key]),
                float(spread[key.replace("_mm", "_std_mm")]))

"""The summary table of a GPU suite run: one row per measurement of a results.jsonl.

    python benchmarks/summarize.py OUT_DIR/results.jsonl

Rows: device, then each measurement (bench, augmentation path, batch, precision, memory format,
compile), its images/s, and for `bench_train_e2e --ratio` lines the model-only rate, the
end-to-end / model-only ratio and the loader-only supply rate; syncs per 20 updates where they
were counted; peak GPU memory per batch size.
"""
from __future__ import annotations

import json
import sys


def fmt(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def rows(records: list[dict]) -> list[list[str]]:
    out = []
    for r in records:
        if r["bench"] not in ("train_step", "train_e2e", "inference"):
            continue
        syncs = r.get("syncs_in_timed_steps")
        per_20 = None if syncs is None else 20 * syncs / r["steps"]
        setting = (f"{r.get('precision', 'bf16' if r.get('amp_bf16') else 'fp32')}"
                   f"{' NHWC' if r.get('channels_last') else ''}"
                   f"{' compiled' if r.get('compile') else ' eager'}"
                   f"{' ' + r['compile_mode'] if r.get('compile_mode') else ''}")
        out.append([r["bench"] + (f" ({r['augment']} aug)" if "augment" in r else ""),
                    str(r["batch"]), setting, fmt(r.get("images_per_s")),
                    fmt(r.get("model_only_images_per_s")),
                    fmt(r.get("e2e_over_model_only"), 3), fmt(r.get("supply_images_per_s")),
                    fmt(per_20, 2), fmt(r.get("peak_mem_gib"), 1)])
    return out


def table(records: list[dict]) -> str:
    head = ["measurement", "batch", "setting", "img/s", "model-only img/s", "e2e/model",
            "supply img/s", "syncs/20 upd", "peak GiB"]
    body = rows(records)
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"
    devices = sorted({r["device"] for r in records})
    return "\n".join([f"device: {', '.join(devices)}; torch {records[0]['torch']}",
                      line(head), line(["-" * w for w in widths]), *map(line, body)])


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/summarize.py RESULTS.jsonl")
    with open(sys.argv[1]) as fh:
        records = [json.loads(line) for line in fh if line.startswith("{")]
    if not records:
        raise SystemExit(f"{sys.argv[1]}: no JSON lines")
    print(table(records))


if __name__ == "__main__":
    main()

"""Inference speed: images/s at a batch size and single-image latency (eval mode,
torch.inference_mode, the training's autocast (`posebook.runtime`) when amp=True, channels_last
when the profile has it, torch.compile (mode: the profile's compile_mode) with --compile or the
profile's compile=True; eager with --set compile=false). FLOPs per image from
torch.utils.flop_counter.

    python benchmarks/bench_inference.py --profile smoke --batch 32
    python benchmarks/bench_inference.py --profile gpu --batch 256 --compile
"""
from __future__ import annotations

import statistics

import torch

import common
from posebook import model as model_lib


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--latency-steps", type=int, default=20, help="timed batch-1 calls")
    args = p.parse_args()
    config, device = common.setup(args)
    config = config.replace(compile=bool(args.compile or config.compile))
    batch = args.batch or (256 if device.type == "cuda" else config.batch_size)
    torch.manual_seed(0)
    net = model_lib.build(config.replace(pretrained="none")).to(device).eval()
    flops = model_lib.flops_per_image(net)
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = torch.compile(net, mode=config.compile_mode) if config.compile else net
    S = config.input_px
    f = 1.5 * S
    K1 = torch.tensor([[f, 0, (S - 1) / 2], [0, f, (S - 1) / 2], [0, 0, 1]], device=device)

    def inputs(n):
        images = torch.randint(0, 256, (n, 3, S, S), dtype=torch.uint8, device=device)
        if config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, K1.expand(n, 3, 3).contiguous()

    def run(images, K):
        with torch.inference_mode(), common.autocast(config, device):
            return forward(images, K)["joints_cam_mm"]

    big, small = inputs(batch), inputs(1)
    times = common.timed(lambda: run(*big), args.steps, args.warmup, device)
    lat = common.timed(lambda: run(*small), args.latency_steps, args.warmup, device)
    median = statistics.median(times)
    peak, peak_source = common.peak_flops(device)
    achieved = flops * batch / median
    common.emit("inference", args, config, device, batch, **common.run_fields(config, device),
                steps=args.steps,
                batch_ms_median=round(1e3 * median, 3), images_per_s=round(batch / median, 2),
                images_per_s_best=round(batch / min(times), 2),
                latency_ms_median_batch1=round(1e3 * statistics.median(lat), 3),
                latency_ms_min_batch1=round(1e3 * min(lat), 3),
                latency_ms_p90_batch1=round(1e3 * sorted(lat)[int(0.9 * (len(lat) - 1))], 3),
                forward_gflops_per_image=round(flops / 1e9, 4),
                tflops_per_s=round(achieved / 1e12, 4),
                peak_tflops_per_s=None if peak is None else round(peak / 1e12, 3),
                peak_source=peak_source, mfu=None if peak is None else round(achieved / peak, 4))


if __name__ == "__main__":
    main()

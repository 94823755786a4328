"""Training-step speed, model only (synthetic tensors, no data loading): images/s, FLOPs per
image (torch.utils.flop_counter, forward) and MFU (3x forward FLOPs per trained image / peak).

The loop uses the training's settings: Adam (fused on CUDA), the precision of
`posebook.runtime.precision_for` (amp=True: bf16 autocast, or float16 + GradScaler where the GPU
has no bf16), channels_last when the profile has channels_last=True, torch.compile with
--compile or the profile's compile=True (mode: --compile-mode, else the profile's compile_mode;
reduce-overhead = CUDA graphs), and the training loss (posebook.loss.l1_loss).
peak_mem_gib is the peak GPU memory of the timed steps. --profile-trace prints torch.profiler's top-15 ops of one step.
images_per_s is the median of steps timed one by one (a device sync after each);
images_per_s_pipelined times the same number of steps back to back with one sync at the end, as
training runs them (the host queues the next step while the device works).

    python benchmarks/bench_train_step.py --profile smoke --steps 10
    python benchmarks/bench_train_step.py --profile gpu --batch 128 --compile
    python benchmarks/bench_train_step.py --profile cpu --profile-trace
"""
from __future__ import annotations

import statistics

import torch

import common
from posebook import model as model_lib, runtime
from posebook.loss import l1_loss


def make_step(config, device, batch: int):
    """(one training step on a fixed random batch, forward FLOPs per image, fused Adam?);
    torch.compile'd with mode=config.compile_mode when config.compile."""
    torch.manual_seed(0)
    net = model_lib.build(config.replace(pretrained="none")).to(device)
    flops = model_lib.flops_per_image(net)
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    forward = torch.compile(net, mode=config.compile_mode) if config.compile else net
    fused = device.type == "cuda"
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, fused=fused)
    precision = runtime.precision_for(config, device)
    scaler = runtime.grad_scaler(precision, device)
    S = config.input_px
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, S, S), dtype=torch.uint8, generator=g)
    f = 1.5 * S
    K = torch.tensor([[f, 0, (S - 1) / 2], [0, f, (S - 1) / 2], [0, 0, 1]]).expand(batch, 3, 3)
    joints = torch.randn(batch, 17, 3, generator=g) * 300 + torch.tensor([0, 0, 4000.0])
    images, K, joints = images.to(device), K.contiguous().to(device), joints.to(device)
    crop_to_frame = torch.eye(3, device=device).expand(batch, 3, 3)
    if config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def step():
        with runtime.autocast(precision, device):
            pred = forward(images, K)
        loss = l1_loss(pred, joints, crop_to_frame, config.loss, config.loss_frame)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    return step, flops, fused


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode (with --compile; default: the profile's compile_mode)")
    p.add_argument("--profile-trace", action="store_true",
                   help="print torch.profiler key_averages top-15 for one step")
    args = p.parse_args()
    config, device = common.setup(args)
    batch = args.batch or config.batch_size
    config = config.replace(compile=bool(args.compile or config.compile),
                            compile_mode=args.compile_mode or config.compile_mode)
    step, flops, fused = make_step(config, device, batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = common.timed(step, args.steps, args.warmup, device)
    median = statistics.median(times)
    pipelined = common.timed(lambda: [step() for _ in range(args.steps)], 1, 0, device)[0]
    peak, peak_source = common.peak_flops(device)
    images_per_s = batch / median
    achieved = 3 * flops * images_per_s
    common.emit("train_step", args, config, device, batch, **common.run_fields(config, device),
                fused_adam=fused,
                peak_mem_gib=common.peak_memory_gib(device),
                steps=args.steps, step_ms_median=round(1e3 * median, 3),
                step_ms_min=round(1e3 * min(times), 3), images_per_s=round(images_per_s, 2),
                images_per_s_best=round(batch / min(times), 2),
                images_per_s_pipelined=round(batch * args.steps / pipelined, 2),
                forward_gflops_per_image=round(flops / 1e9, 4),
                train_tflops_per_s=round(achieved / 1e12, 4),
                peak_tflops_per_s=None if peak is None else round(peak / 1e12, 3),
                peak_source=peak_source,
                mfu=None if peak is None else round(achieved / peak, 4))
    if args.profile_trace:
        activities = [torch.profiler.ProfilerActivity.CPU]
        sort = "self_cpu_time_total"
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
            sort = "self_cuda_time_total"
        with torch.profiler.profile(activities=activities) as prof:
            step()
            common.sync(device)
        print(prof.key_averages().table(sort_by=sort, row_limit=15), flush=True)


if __name__ == "__main__":
    main()

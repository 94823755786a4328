"""`ProgressLog`: how a training run reports itself -- a tqdm bar in a terminal, a short text line
every tenth of the run in notebooks (where a bar would flood the saved output)."""
from __future__ import annotations

import sys


class ProgressLog:
    """tqdm bar in a terminal, a text line every `every` steps in notebooks; loss, LR and images/s
    (since the last report) are shown when the trainer has fetched the losses (no extra wait)."""

    def __init__(self, total: int, start: int, mode: bool | str, batch_size: int = 1,
                 seconds: float = 0.0, show: bool = True):
        self.batch_size, self.last = batch_size, (start, seconds)
        in_notebook = "ipykernel" in sys.modules
        self.every, self.bar = max(1, total // 10), None
        self.text = bool(mode) and (in_notebook or mode == "text")
        self.show = show      # False: wants() as shown, nothing printed (a torchrun rank > 0)
        if mode and not self.text and show:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=start, desc="train", dynamic_ncols=True)

    def wants(self, step: int) -> bool:     # a text line is due: fetch the losses for it
        return self.text and step % self.every == 0

    def update(self, step: int, lr: float, seconds: float, loss: float | None) -> None:
        """After every step; `seconds`: training time so far, `loss`: None until fetched."""
        if self.bar is not None:
            self.bar.update(1)
        if loss is None:
            return
        rate = (step - self.last[0]) * self.batch_size / max(seconds - self.last[1], 1e-9)
        self.last = (step, seconds)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.1f}", lr=f"{lr:.1e}", img_s=f"{rate:.0f}")
        elif self.wants(step) and self.show:
            print(f"step {step}: loss {loss:.1f} mm, lr {lr:.1e}, {rate:.0f} img/s", flush=True)

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        elif self.text and self.show:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

"""What bench/pytorch_merge.py and bench/pytorch_attention.py share: one training step (Adam, gradient
clipping 5, as the captioner's trainer) timed after 3 warm-up steps, reported as one JSON line."""
import json
import time

import torch


def time_training(loss_of, model, opt, threads, steps, tokens_per_step):
    """Runs `steps` timed steps of `loss_of()` (a scalar loss tensor) and prints the JSON line."""

    def step():
        opt.zero_grad()
        loss_of().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({"engine": "pytorch", "threads": threads, "msPerStep": seconds / steps * 1000,
                      "tokensPerSecond": tokens_per_step * steps / seconds, "torch": torch.__version__}))

"""Throughput as images/s at a stated batch size, after warm-up, median of repeats (ToMe's protocol, C.2)."""

from __future__ import annotations

import statistics
import time

import torch


@torch.inference_mode()
def images_per_second(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 64, warmup: int = 2,
                      repeats: int = 5) -> float:
    """Median images/s of `model` on float batches of `batch_size` taken from `images` [N, 3, H, W]
    (repeated to fill a batch); `warmup` untimed forwards first; synchronises around each timed forward on CUDA."""
    batch = images[:batch_size]
    if batch.shape[0] < batch_size:
        batch = batch.repeat((batch_size + batch.shape[0] - 1) // batch.shape[0], 1, 1, 1)[:batch_size]
    sync = torch.cuda.synchronize if batch.is_cuda else (lambda: None)
    for _ in range(warmup):
        model(batch)
    rates = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        model(batch)
        sync()
        rates.append(batch_size / (time.perf_counter() - start))
    return statistics.median(rates)

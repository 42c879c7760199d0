"""SkipDecode (Del Corro et al., arXiv 2307.02628) and the early-exit baselines it is compared with.

- `skipdecode`: warm-up layers + the top n(t) - warmup layers, n(t) non-increasing along the generation and
  shared by the batch, so the KV cache stays valid and batching works; needs a model fine-tuned for the
  schedule (`finetune.py`; zoo models `skipdecode-micro` / `skipdecode-tiny`).
- `static-exit`: the bottom k layers and the LM head for every position (lossy; no fine-tuning).
- `hf-early-exit`: Hugging Face's self-speculative early exit (`assistant_early_exit`), lossless.
"""

from tokenworks.methods.decoding.skipdecode.config import HFEarlyExitConfig, SkipDecodeConfig, StaticExitConfig
from tokenworks.methods.decoding.skipdecode.decoder import (
    LayerPlanDecoder, skip_schedule, skipdecode_decoder, static_exit_decoder,
)
from tokenworks.methods.decoding.skipdecode.hf_early_exit import HFEarlyExitDecoder
from tokenworks.methods.decoding.skipdecode.schedule import (
    LayerPlan, SkipSchedule, StaticExit, check_kv_safe, full_plan, layer_prefix_ends, mean_layers,
)

__all__ = [
    "HFEarlyExitConfig", "HFEarlyExitDecoder", "LayerPlan", "LayerPlanDecoder", "SkipDecodeConfig", "SkipSchedule",
    "StaticExit", "StaticExitConfig", "check_kv_safe", "full_plan", "layer_prefix_ends", "mean_layers",
    "skip_schedule", "skipdecode_decoder", "static_exit_decoder",
]

"""Diffusion-LM decoding: one semi-autoregressive block decode loop with injected commit and cache policies
(LLaDA baseline, Fast-dLLM, LocalLeap, FreeCache), guided diffusion with an AR guide, and the in-house
masked-diffusion / AR transformer the zoo trains. See README.md."""

from tokenworks.methods.diffusion.decode import (
    DiffusionGeneration, DiffusionStats, ar_greedy, diffusion_decode, guided_decode,
)
from tokenworks.methods.diffusion.model import MaskedTransformer, ModelConfig
from tokenworks.methods.diffusion.policies import CachePolicy, CommitPolicy, baseline, fast_dllm, localleap
from tokenworks.methods.diffusion.tokenizer import CharTokenizer

__all__ = [
    "CachePolicy", "CharTokenizer", "CommitPolicy", "DiffusionGeneration", "DiffusionStats", "MaskedTransformer",
    "ModelConfig", "ar_greedy", "baseline", "diffusion_decode", "fast_dllm", "guided_decode", "localleap",
]

"""Token Recycling: a training-free tree drafter that recycles the target's own top-k candidates."""

from tokenworks.methods.decoding.token_recycling.config import TokenRecyclingConfig
from tokenworks.methods.decoding.token_recycling.decoder import TokenRecyclingDecoder

__all__ = ["TokenRecyclingConfig", "TokenRecyclingDecoder"]

"""Autoregressive decoders behind one contract (base.py): plain greedy, Hugging Face baselines, and
draft-and-verify methods built from the same pieces.

    base.py          Decoder / Drafter / DecodeStats / Generation (vLLM glossary)
    forward.py       prefill, decode_one_token, tree_forward: direct model calls with a DynamicCache
    tree.py          static draft trees: BFS structure, tree attention mask, positions, KV compaction
    greedy.py        our greedy (the reference and the speed baseline)
    hf_generate.py   hf-greedy, prompt-lookup, assisted (HF `generate`) as Decoders
    token_recycling/ Token Recycling (config, templates, pure algorithm, decoder)
    registry.py      DECODER_NAMES, make_decoder(name, model, tokenizer, **options)
    measure.py       compare_decoders(...) -> BenchReport: the decoding benchmark core
"""

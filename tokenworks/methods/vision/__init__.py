"""ViT token reduction: an in-house ViT/DeiT, token reducers as reversible patches, one MACs counter.

    vit.py           VisionTransformer / ViTConfig with timm DeiT parameter names; vit_from_state_dict
    reducers.py      TokenReducer, TokenState, apply(model, method, **options), remove(model)
    gtp.py           GTP-ViT: graph construction, MixedAttnMax selection, graph propagation, token scales
    tome.py          ToMe: bipartite soft matching, size-weighted merge, proportional attention
    evit.py          EViT top-k by CLS attention with fusion of the rest (fuse=False: plain top-k)
    random_prune.py  random pruning (control)
    macs.py          count_macs(model, images): the one MACs counter of every arm
    throughput.py    images_per_second(model, images, batch_size, warmup, repeats)
    images.py        generated workloads with exact labels: glyph scenes (main), digits (easy)
    budget.py        accuracy vs MACs of every reducer at matched token schedules
"""

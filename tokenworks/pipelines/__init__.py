"""One reproduction per paper. Registered here by slug, imported lazily so `tokenworks list` stays fast."""

from __future__ import annotations

import importlib
import os

from tokenworks.errors import UserError, close_matches

# slug -> "module:Class"; a slug appears here only when its reproduction is built and tested
REPRODUCTIONS: dict[str, str] = {
    "data-mixture": "tokenworks.pipelines.data_mixture:DataMixtureReproduction",
    "tokenization-theory": "tokenworks.pipelines.tokenization_theory:TokenizationTheoryReproduction",
    "token-recycling": "tokenworks.pipelines.token_recycling:TokenRecyclingReproduction",
    "skipdecode": "tokenworks.pipelines.skipdecode:SkipDecodeReproduction",
    "r2r": "tokenworks.pipelines.r2r:R2RReproduction",
    "s2d": "tokenworks.pipelines.s2d:S2DReproduction",
    "gtp-vit": "tokenworks.pipelines.gtp_vit:GTPViTReproduction",
    "localleap": "tokenworks.pipelines.localleap:LocalLeapReproduction",
    "freecache": "tokenworks.pipelines.freecache:FreeCacheReproduction",
}


# extra "slug=module:Class" entries, comma-separated: lets tests (and a user's own package) register a
# reproduction that subprocesses and Ray workers also see
EXTRA_ENV = "TOKENWORKS_EXTRA_REPRODUCTIONS"


def registered() -> dict[str, str]:
    """REPRODUCTIONS plus the entries of $TOKENWORKS_EXTRA_REPRODUCTIONS."""
    extra = {}
    for item in filter(None, (s.strip() for s in os.environ.get(EXTRA_ENV, "").split(","))):
        slug, _, target = item.partition("=")
        if ":" not in target:
            raise UserError(f"{EXTRA_ENV} entry {item!r} is not of the form slug=module:Class.")
        extra[slug.strip()] = target.strip()
    return {**REPRODUCTIONS, **extra}


def get_reproduction(slug: str):
    """The Reproduction instance for `slug`, or a UserError naming close matches."""
    registry = registered()
    if slug in registry:
        module, cls = registry[slug].split(":")
        return getattr(importlib.import_module(module), cls)()
    from tokenworks.catalog import PAPERS

    if slug in PAPERS:
        raise UserError(f"paper {slug!r} is in the catalog but not built yet (status: planned).")
    known = list(PAPERS)
    raise UserError(f"unknown paper slug {slug!r}." + close_matches(slug, known) + " See `tokenworks list`.")

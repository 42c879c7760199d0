"""The 41 papers of PAPERS.md, each tagged on the survey taxonomy, with a status that never pretends.

`PAPERS` keeps PAPERS.md's order and numbering. Every entry carries one value per taxonomy axis (`AXES`);
the axes and their values follow research/decoding.md §16.2, which merges the two surveys in the catalog
("A Survey on Parallel Text Generation", arXiv 2508.08712, and "A Survey on Diffusion Language Models",
arXiv 2508.10875). Axes are orthogonal so MLflow and `tokenworks list --by AXIS` can slice by any one.
"n/a" marks an axis that does not apply to a paper (e.g. `drafter` for anything that does not draft).
A few values extend §16.2 so the vision, image-generation and tokenization papers fit; each value's
meaning is in `AXIS_VALUES`.

Status (`PaperEntry.status`):
- "planned"     not registered in `tokenworks.pipelines` (REPRODUCTIONS or $TOKENWORKS_EXTRA_REPRODUCTIONS);
- "implemented" registered: its reproduction is built and tested;
- "reproduced"  registered, and the Reproduction class says `status = "reproduced"` (set by its author only
                after a measured run gave a "reproduced" verdict on its headline claim);
- "unavailable" registered, but its module or class cannot be found (a broken build, shown rather than hidden);
- "taxonomy"    the two surveys. A survey has no claim to measure, so it is never "reproduced": it is
                satisfied by this module's axes, `tokenworks list --by AXIS`, and the taxonomy table of the
                report (`taxonomy_markdown()`), and it is labelled as exactly that.

Reading a status must stay cheap (`tokenworks list` starts in well under a second), so the Reproduction's
`status` is read from its source without importing it (importing would pull in torch); only when the
source does not state it as a literal does the module get imported.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

AXES: tuple[str, ...] = (
    "paradigm",
    "saving_source",
    "exactness",
    "drafter",
    "training",
    "granularity",
    "control_objective",
)

NA = "n/a"

# axis -> value -> meaning. Values marked (ext) extend decoding.md §16.2 to the non-decoding papers.
AXIS_VALUES: dict[str, dict[str, str]] = {
    "paradigm": {
        "ar": "plain left-to-right autoregressive generation (the method changes something else)",
        "ar_draft_verify": "autoregressive with a drafter whose tokens the target verifies",
        "ar_mtp": "autoregressive with multi-token prediction",
        "any_order_ar": "any-order / any-subset autoregressive model",
        "semi_ar_block_diffusion": "diffusion inside blocks, blocks left to right",
        "masked_diffusion": "discrete masked diffusion (unmasking)",
        "continuous_diffusion": "diffusion over continuous token embeddings",
        "latent_diffusion": "diffusion in a compressed latent space (text, or images as in Stable Diffusion)",
        "one_shot_nat": "one-shot non-autoregressive generation",
        "edit_refine": "edit-based iterative refinement",
        "decomposition_fill": "decompose, then fill the parts in parallel",
        NA: "not a generation method (vision backbones, analyses)",
    },
    "saving_source": {
        "fewer_target_passes": "parallelism: fewer forward passes of the expensive model",
        "cheaper_passes": "layer skipping, routing, smaller modules per token",
        "cached_compute": "reuse of KV / feature computations",
        "shorter_sequence": "fewer tokens: compression, merging, larger vocabulary units",
        "none": "a quality / control method; it saves nothing",
        NA: "an analysis or study; no method to save with",
    },
    "exactness": {
        "lossless_greedy": "output identical to the target's greedy decoding",
        "lossless_distribution": "output distribution identical to the target's (or an exact conversion of it)",
        "bounded_lossy": "approximate, with a stated bound",
        "lossy": "approximates the reference model's output",
        NA: "a new model or training method: there is no reference output to be exact to",
    },
    "drafter": {
        "independent_small_model": "a separate small draft model",
        "self_subnetwork": "early exit / sorted sub-network of the target",
        "heads": "extra prediction heads (Medusa / EAGLE / MTP)",
        "retrieval": "n-gram retrieval from the prompt, a datastore or the model's own history",
        "diffusion_model": "a diffusion LM drafting for an AR verifier (or the reverse)",
        "same_model_parallel": "the same model drafting in parallel (Jacobi, ASSD)",
        NA: "not a draft-and-verify method",
    },
    "training": {
        "training_free": "works on a trained model as is",
        "train_auxiliary": "trains a drafter, router, probe, value net or embeddings; target frozen "
        "(§16.2's train_drafter/router)",
        "finetune_target": "fine-tunes the target model",
        "train_from_scratch": "trains a new model",
        NA: "no model involved",
    },
    "granularity": {
        "token": "decides per token (or per image patch token)",
        "block": "decides per block of tokens",
        "sequence": "decides per sequence / whole latent",
        "byte": "works at byte level",
        "word": "(ext) works at word level",
        NA: "no unit of decision",
    },
    "control_objective": {
        "speed": "less compute or latency per generated token",
        "quality": "better outputs or fit",
        "safety": "avoid undesired outputs",
        "tokenizer_agnostic": "free the model from its tokenizer",
        "analysis": "(ext) explains or measures; no control",
        NA: "does not apply",
    },
}

KINDS: tuple[str, ...] = ("faithful", "mechanism", "proxy", "taxonomy")
STATUSES: tuple[str, ...] = ("planned", "implemented", "reproduced", "unavailable", "taxonomy")

# fields besides the axes that `tokenworks list --by` can group on
GROUP_FIELDS: tuple[str, ...] = ("family", "status", "kind", "wave")


@dataclass(frozen=True)
class PaperEntry:
    number: int                      # row number in PAPERS.md
    slug: str                        # command-line name, registry key, MLflow experiment name
    title: str                       # full title, as in seeds/paper-abstracts.txt
    short: str                       # PAPERS.md's short name
    arxiv: str | None                # arXiv id where the research notes give one
    family: str                      # PAPERS.md's family, e.g. "decoding, serving"
    kind: str                        # miniature kind: faithful / mechanism / proxy / taxonomy
    shows: str                       # what the miniature shows (PAPERS.md), "" where it says nothing more
    wave: str                        # "wave 1" or "later"
    tags: dict[str, str] = field(hash=False)  # axis -> value, one per axis of AXES
    status_note: str = ""

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.family.split(","))

    @property
    def status(self) -> str:
        if self.kind == "taxonomy":
            return "taxonomy"
        from tokenworks import pipelines

        # registered() adds $TOKENWORKS_EXTRA_REPRODUCTIONS (a user's own package) to REPRODUCTIONS
        registry = pipelines.registered() if hasattr(pipelines, "registered") else pipelines.REPRODUCTIONS
        target = registry.get(self.slug)
        return "planned" if target is None else registered_status(target)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "slug": self.slug,
            "title": self.title,
            "short": self.short,
            "arxiv": self.arxiv,
            "family": self.family,
            "kind": self.kind,
            "shows": self.shows,
            "wave": self.wave,
            "status": self.status,
            "status_note": self.status_note,
            "tags": dict(self.tags),
        }


def registered_status(target: str) -> str:
    """'implemented', 'reproduced' or 'unavailable' for a registry target 'module:Class'."""
    module_name, _, cls_name = target.partition(":")
    live = sys.modules.get(module_name)
    if live is not None:  # already imported: read the real attribute
        cls = getattr(live, cls_name, None)
        return _status_value(getattr(cls, "status", None)) if cls is not None else "unavailable"
    return _status_from_source(module_name, cls_name)


@lru_cache(maxsize=None)
def _status_from_source(module_name: str, cls_name: str) -> str:
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return "unavailable"
    literal = _literal_class_attr(spec.origin, cls_name, "status") if spec.origin else None
    if literal is not None:
        return _status_value(literal)
    try:  # not stated as a literal in the class body (inherited, computed): import to read it
        cls = getattr(importlib.import_module(module_name), cls_name)
    except Exception:  # a broken registered module is shown as such, never crashes `list`
        return "unavailable"
    return _status_value(getattr(cls, "status", None))


def _literal_class_attr(path: str, cls_name: str, attr: str) -> str | None:
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            for stmt in node.body:
                target = getattr(stmt, "target", None) or (stmt.targets[0] if isinstance(stmt, ast.Assign) else None)
                value = getattr(stmt, "value", None)
                if isinstance(target, ast.Name) and target.id == attr and isinstance(value, ast.Constant):
                    return str(value.value)
            return "implemented" if _bases_are_plain(node) else None
    return None


def _bases_are_plain(node: ast.ClassDef) -> bool:
    """True when the class inherits straight from Reproduction, whose default status is 'implemented'."""
    names = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
    return names == ["Reproduction"]


def _status_value(value: Any) -> str:
    return "reproduced" if value == "reproduced" else "implemented"


def _tags(paradigm, saving_source, exactness, drafter, training, granularity, control_objective) -> dict[str, str]:
    return dict(zip(AXES, (paradigm, saving_source, exactness, drafter, training, granularity, control_objective)))


_SURVEY_NOTE = (
    "a survey, not a method: satisfied by the registry's taxonomy (tokenworks.catalog.AXES, the tags on every "
    "paper, `tokenworks list --by AXIS`) and the taxonomy table in the report; it has no claim to reproduce"
)
_ALL_NA = _tags(NA, NA, NA, NA, NA, NA, NA)

_ENTRIES = [
    PaperEntry(1, "gtp-vit", "GTP-ViT: Efficient Vision Transformers via Graph-based Token Propagation",
               "GTP-ViT: Graph-based Token Propagation", "2311.03035", "vision", "faithful",
               "tiny ViT trained here, MACs vs accuracy without fine-tuning, vs ToMe at equal MACs", "wave 1",
               _tags(NA, "shorter_sequence", "lossy", NA, "training_free", "token", "speed")),
    PaperEntry(2, "localleap", "Accelerating Diffusion LLM Inference via Local Determinism Propagation",
               "LocalLeap: Local Determinism Propagation (dLLM)", "2510.07081", "diffusion-lm", "faithful",
               "NFE per token at equal accuracy on exact-answer tasks, vs Fast-dLLM threshold", "wave 1",
               _tags("masked_diffusion", "fewer_target_passes", "lossy", NA, "training_free", "token", "speed")),
    PaperEntry(3, "qtseg", "QTSeg: A Query Token-Based Dual-Mix Attention Framework with Multi-Level Feature "
               "Distribution for Medical Image Segmentation",
               "QTSeg: query-token dual-mix attention segmentation", "2412.17241", "vision", "proxy",
               "synthetic lesion segmentation, Dice vs FLOPs", "later",
               _tags(NA, "none", NA, NA, "train_from_scratch", "token", "quality")),
    PaperEntry(4, "dit-routing", "DiT: Efficient Vision Transformers with Dynamic Token Routing",
               "DiT: dynamic token routing ViT", None, "vision", "mechanism",
               "routing supernet trained here", "later",
               _tags(NA, "cheaper_passes", NA, NA, "train_from_scratch", "token", "speed")),
    PaperEntry(5, "code-probing", "Are Code Pre-trained Models Powerful to Learn Code Syntax and Semantics?",
               "Probing code models for syntax and semantics", "2212.10017", "analysis", "faithful",
               "at small scale: AST/CFG/DDG probes on a code LM trained on stdlib", "later",
               _tags(NA, NA, NA, NA, "train_auxiliary", "token", "analysis")),
    PaperEntry(6, "follow-the-flow", "Follow the Flow: On Information Flow Across Textual Tokens in Text-to-Image "
               "Models", "Follow the Flow: text-token information flow in T2I", "2504.01137", "text-to-image",
               "mechanism", "on a small diffusion pipeline trained here", "later",
               _tags("latent_diffusion", "none", NA, NA, "training_free", "token", "quality")),
    PaperEntry(7, "s2d", "S2D: Sorted Speculative Decoding For More Efficient Deployment of Nested Large Language "
               "Models", "S2D: Sorted Speculative Decoding", "2407.01955", "decoding, serving", "faithful",
               "one sorted multi-exit draft serving several targets, mean acceptance length per target", "wave 1",
               _tags("ar_draft_verify", "fewer_target_passes", "lossless_greedy", "self_subnetwork",
                     "train_auxiliary", "token", "speed")),
    PaperEntry(8, "r2r", "R2R: Efficiently Navigating Divergent Reasoning Paths with Small-Large Model Token Routing",
               "R2R: small–large token routing", "2505.21600", "decoding, serving", "faithful",
               "accuracy vs share of tokens from the large model on exact-answer tasks", "wave 1",
               _tags("ar", "cheaper_passes", "lossy", NA, "train_auxiliary", "token", "speed")),
    PaperEntry(9, "cosmos", "Compressed and Smooth Latent Space for Text Diffusion Modeling",
               "Cosmos: compressed latent text diffusion", "2506.21170", "diffusion-lm", "mechanism", "", "later",
               _tags("latent_diffusion", "shorter_sequence", NA, NA, "train_from_scratch", "sequence", "speed")),
    PaperEntry(10, "learn-your-tokens", "Learn Your Tokens: Word-Pooled Tokenization for Language Modeling",
               "Learn Your Tokens: word-pooled tokenization", "2310.11628", "tokenization", "faithful",
               "at small scale: bits per byte vs subword and byte models", "later",
               _tags("ar", "shorter_sequence", NA, NA, "train_from_scratch", "word", "quality")),
    PaperEntry(11, "byte-level-probs", "Exact Byte-Level Probabilities from Tokenized Language Models for FIM-Tasks "
               "and Model Ensembles", "Exact byte-level probabilities (Byte-Token Representation)", "2410.09303",
               "decoding", "faithful", "exact on an analytic toy; FIM mid-token prompts; byte-level ensemble",
               "later",
               _tags("ar", "none", "lossless_distribution", NA, "training_free", "byte", "tokenizer_agnostic")),
    PaperEntry(12, "meta-tokens", "Language Modeling with Learned Meta-Tokens", "Learned meta-tokens", "2509.16278",
               "analysis", "mechanism", "", "later",
               _tags("ar", "none", NA, NA, "train_from_scratch", "token", "quality")),
    PaperEntry(13, "text2token", "Text2Token: Unsupervised Text Representation Learning with Token Target "
               "Prediction", "Text2Token", "2510.10224", "analysis", "mechanism", "", "later",
               _tags(NA, "none", NA, NA, "finetune_target", "sequence", "quality")),
    PaperEntry(14, "rectification", "Systematic Rectification of Language Models via Dead-end Analysis",
               "Rectification via dead-end analysis", "2302.14003", "decoding", "proxy",
               "programmatic bad-outcome rate vs perplexity", "later",
               _tags("ar", "none", "lossy", NA, "train_auxiliary", "token", "safety")),
    PaperEntry(15, "tokenization-theory", "Toward a Theory of Tokenization in LLMs",
               "Toward a theory of tokenization (Markov sources)", "2404.08335", "tokenization", "faithful",
               "k-th order Markov sources, loss with and without BPE vs the entropy rate", "wave 1",
               _tags("ar", NA, NA, NA, "train_from_scratch", "token", "analysis")),
    PaperEntry(16, "survey-dlm", "A Survey on Diffusion Language Models", "Survey on diffusion language models",
               "2508.10875", "taxonomy", "taxonomy", "the registry's taxonomy axes and `tokenworks list --by`",
               "wave 1", _ALL_NA, _SURVEY_NOTE),
    PaperEntry(17, "lcbm", "Large Content And Behavior Models To Understand, Simulate, And Optimize Content And "
               "Behavior", "Large Content and Behavior Models (behavior tokens)", "2309.00359", "analysis", "proxy",
               "", "later",
               _tags("ar", "none", NA, NA, "finetune_target", "token", "quality")),
    PaperEntry(18, "reagent", "ReAGent: Towards A Model-agnostic Feature Attribution Method for Generative Language "
               "Models", "ReAGent: model-agnostic feature attribution", "2402.00794", "analysis", "faithful",
               "at small scale: faithfulness vs other attribution methods", "later",
               _tags("ar", NA, NA, NA, "training_free", "token", "analysis")),
    PaperEntry(19, "duo-llm", "Duo-LLM: A Framework for Studying Adaptive Computation in Large Language Models",
               "Duo-LLM: adaptive computation", "2410.10846", "decoding", "faithful",
               "at small scale: oracle vs router vs random at a compute budget", "later",
               _tags("ar", "cheaper_passes", "lossy", NA, "train_from_scratch", "token", "speed")),
    PaperEntry(20, "resgen", "Efficient Generative Modeling with Residual Vector Quantization-Based Tokens",
               "ResGen: RVQ-token discrete diffusion", "2412.10208", "image-gen", "mechanism", "RVQ on digits",
               "later",
               _tags("masked_diffusion", "fewer_target_passes", NA, NA, "train_from_scratch", "token", "speed")),
    PaperEntry(21, "mtp-gated-lora", "Your LLM Knows the Future: Uncovering Its Multi-Token Prediction Potential",
               "Your LLM Knows the Future: multi-token prediction", "2507.11851", "decoding", "faithful",
               "at small scale: accepted tokens per step, next-token outputs unchanged", "later",
               _tags("ar_mtp", "fewer_target_passes", "lossless_greedy", "heads", "finetune_target", "token",
                     "speed")),
    PaperEntry(22, "assd", "Reviving Any-Subset Autoregressive Models with Principled Parallel Sampling and "
               "Speculative Decoding", "Any-subset AR models + ASSD", "2504.20456", "decoding", "faithful",
               "exactness in distribution, NFE per token", "later",
               _tags("any_order_ar", "fewer_target_passes", "lossless_distribution", "same_model_parallel",
                     "train_from_scratch", "token", "speed")),
    PaperEntry(23, "d-ar", "D-AR: Diffusion via Autoregressive Models", "D-AR: diffusion via autoregressive models",
               "2505.23660", "image-gen", "mechanism", "", "later",
               _tags("ar", "none", NA, NA, "train_from_scratch", "token", "quality")),
    PaperEntry(24, "bash-sampling", "Bridging the Training-Inference Gap in LLMs by Leveraging Self-Generated "
               "Tokens", "Batch-scheduled sampling / reference-answer correction", "2410.14655", "decoding",
               "faithful", "at small scale: accuracy vs output length", "later",
               _tags("ar", "none", NA, NA, "finetune_target", "token", "quality")),
    PaperEntry(25, "neodiff", "Unifying Continuous and Discrete Text Diffusion with Non-simultaneous Diffusion "
               "Processes", "NeoDiff: non-simultaneous continuous diffusion", "2505.22165", "diffusion-lm",
               "mechanism", "", "later",
               _tags("continuous_diffusion", "none", NA, NA, "train_from_scratch", "token", "quality")),
    PaperEntry(26, "alm-distill", "Cross-Tokenizer Distillation via Approximate Likelihood Matching",
               "Cross-tokenizer distillation (ALM)", "2503.20083", "tokenization", "mechanism", "", "later",
               _tags("ar", NA, NA, NA, "finetune_target", "token", "tokenizer_agnostic")),
    PaperEntry(27, "skipdecode", "SkipDecode: Autoregressive Skip Decoding with Batching and Caching for Efficient "
               "LLM Inference", "SkipDecode: early exit with batching and KV cache", "2307.02628", "decoding",
               "faithful", "real CPU speedup vs quality, KV-cache invariant", "wave 1",
               _tags("ar", "cheaper_passes", "lossy", NA, "finetune_target", "token", "speed")),
    PaperEntry(28, "composite-scene", "Training-free Composite Scene Generation for Layout-to-Image Synthesis",
               "Training-free composite scene generation", "2407.13609", "text-to-image", "mechanism", "", "later",
               _tags("latent_diffusion", "none", NA, NA, "training_free", NA, "quality")),
    PaperEntry(29, "tokenadapt", "Achieving Tokenizer Flexibility in Language Models through Heuristic Adaptation "
               "and Supertoken Learning", "TokenAdapt + Supertokens", "2505.09738", "tokenization", "faithful",
               "at small scale: perplexity ratio of initialisations", "later",
               _tags("ar", "shorter_sequence", NA, NA, "training_free", "token", "tokenizer_agnostic")),
    PaperEntry(30, "prospect", "ProSpect: Prompt Spectrum for Attribute-Aware Personalization of Diffusion Models",
               "ProSpect: prompt spectrum", "2305.16225", "text-to-image", "mechanism", "", "later",
               _tags("latent_diffusion", "none", NA, NA, "train_auxiliary", "token", "quality")),
    PaperEntry(31, "survey-parallel", "A Survey on Parallel Text Generation: From Parallel Decoding to Diffusion "
               "Language Models", "Survey on parallel text generation", "2508.08712", "taxonomy", "taxonomy",
               "the registry's taxonomy axes and `tokenworks list --by`", "wave 1", _ALL_NA, _SURVEY_NOTE),
    PaperEntry(32, "data-mixture", "Data Mixture Inference: What do BPE Tokenizers Reveal about their Training "
               "Data?", "Data mixture inference from BPE merges", "2407.16607", "tokenization", "faithful",
               "recover known mixtures, mean absolute error", "wave 1",
               _tags(NA, NA, NA, NA, "training_free", NA, "analysis")),
    PaperEntry(33, "flextok", "FlexTok: Resampling Images into 1D Token Sequences of Flexible Length",
               "FlexTok: 1D tokens of flexible length", "2502.13967", "image-gen", "mechanism",
               "quality vs number of tokens on digits", "later",
               _tags("ar", "shorter_sequence", "lossy", NA, "train_from_scratch", "sequence", "speed")),
    PaperEntry(34, "token-shuffle", "Token-Shuffle: Towards High-Resolution Image Generation with Autoregressive "
               "Models", "Token-Shuffle", "2504.17789", "image-gen", "faithful",
               "at small scale: tokens vs quality and speed", "later",
               _tags("ar", "shorter_sequence", NA, NA, "finetune_target", "token", "speed")),
    PaperEntry(35, "freecache", "Accelerating Diffusion Language Model Inference via Efficient KV Caching and "
               "Guided Diffusion", "FreeCache + Guided Diffusion", "2505.21467", "diffusion-lm", "faithful",
               "FLOPs and steps saved, with the guide model's own accuracy beside", "wave 1",
               _tags("masked_diffusion", "cached_compute", "lossy", "diffusion_model", "training_free", "block",
                     "speed")),
    PaperEntry(36, "class-tokens", "Discriminative Class Tokens for Text-to-Image Diffusion Models",
               "Discriminative class tokens", "2303.17155", "text-to-image", "mechanism", "", "later",
               _tags("latent_diffusion", "none", NA, NA, "train_auxiliary", "token", "quality")),
    PaperEntry(37, "elm", "Elucidating the design space of language models for image generation",
               "ELM: design space of LMs for image generation", "2410.16257", "image-gen", "mechanism", "", "later",
               _tags("ar", "none", NA, NA, "train_from_scratch", "token", "quality")),
    PaperEntry(38, "zett", "Zero-Shot Tokenizer Transfer", "Zero-shot tokenizer transfer (ZeTT)", "2405.07883",
               "tokenization", "mechanism", "", "later",
               _tags("ar", NA, NA, NA, "train_auxiliary", "token", "tokenizer_agnostic")),
    PaperEntry(39, "token-recycling", "Turning Trash into Treasure: Accelerating Inference of Large Language Models "
               "with Token Recycling", "Token Recycling", "2408.08696", "decoding", "faithful",
               "lossless, mean acceptance length, speedup vs greedy and prompt lookup", "wave 1",
               _tags("ar_draft_verify", "fewer_target_passes", "lossless_greedy", "retrieval", "training_free",
                     "token", "speed")),
    PaperEntry(40, "vocab-expansion", "Vocabulary Expansion for Low-resource Cross-lingual Transfer",
               "Vocabulary expansion for low-resource transfer", "2406.11477", "tokenization", "faithful", "",
               "later",
               _tags("ar", "shorter_sequence", NA, NA, "finetune_target", "token", "speed")),
    PaperEntry(41, "lexinvariant", "Lexinvariant Language Models", "Lexinvariant language models", "2305.16349",
               "tokenization", "faithful", "at small scale: loss vs context position, cipher test", "later",
               _tags("ar", "none", NA, NA, "train_from_scratch", "token", "analysis")),
]

PAPERS: dict[str, PaperEntry] = {e.slug: e for e in _ENTRIES}


def group_by(field_name: str) -> dict[str, list[PaperEntry]]:
    """Papers grouped by a taxonomy axis or a GROUP_FIELDS field, groups in first-seen order.

    A paper of several families ("decoding, serving") appears under each of them.
    """
    from tokenworks.errors import UserError, close_matches

    allowed = AXES + GROUP_FIELDS
    if field_name not in allowed:
        raise UserError(
            f"--by {field_name!r} is not a taxonomy axis or catalog field; allowed: {', '.join(allowed)}."
            + close_matches(field_name, allowed)
        )
    groups: dict[str, list[PaperEntry]] = {}
    for entry in PAPERS.values():
        for key in _group_keys(entry, field_name):
            groups.setdefault(key, []).append(entry)
    return groups


def _group_keys(entry: PaperEntry, field_name: str) -> tuple[str, ...]:
    if field_name in AXES:
        return (entry.tags[field_name],)
    if field_name == "family":
        return entry.families
    return (getattr(entry, field_name),)


def taxonomy_markdown() -> str:
    """The taxonomy table for the report: one row per paper, one column per axis, labelled as a taxonomy."""
    header = "| # | Paper | Family | " + " | ".join(AXES) + " |"
    rule = "|---|---|---|" + "---|" * len(AXES)
    rows = [
        f"| {e.number} | {e.short} (`{e.slug}`) | {e.family} | " + " | ".join(e.tags[a] for a in AXES) + " |"
        for e in PAPERS.values()
    ]
    caption = (
        "Taxonomy of the catalog (a classification, not a measurement): axes from the two surveys "
        "(arXiv 2508.08712, 2508.10875) as merged in research/decoding.md §16.2; n/a = the axis does not apply."
    )
    return "\n".join([caption, "", header, rule, *rows])

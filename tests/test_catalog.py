"""The catalog: the 41 papers of PAPERS.md, their taxonomy tags, and a status that never pretends."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from tokenworks import catalog
from tokenworks.catalog import AXES, AXIS_VALUES, KINDS, NA, PAPERS, group_by, taxonomy_markdown
from tokenworks.errors import UserError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"   # CI keeps ../shared beside the repo


def papers_md_rows() -> list[dict[str, str]]:
    path = SHARED / "PAPERS.md"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    rows = []
    for line in path.read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*(.+?)\s*\|\s*(.+?)\s*\|$", line)
        if m:
            rows.append(dict(zip(("number", "short", "slug", "family", "miniature", "wave"), m.groups())))
    return rows


def test_41_unique_slugs_numbered_in_order():
    assert len(PAPERS) == 41
    assert [e.number for e in PAPERS.values()] == list(range(1, 42))
    assert all(slug == e.slug for slug, e in PAPERS.items())
    assert len({e.title for e in PAPERS.values()}) == 41


def test_catalog_matches_papers_md_row_for_row():
    rows = papers_md_rows()
    assert len(rows) == 41
    assert [r["slug"] for r in rows] == list(PAPERS)
    for row, entry in zip(rows, PAPERS.values()):
        assert int(row["number"]) == entry.number
        assert row["short"] == entry.short
        assert row["family"] == entry.family
        assert row["wave"] == entry.wave
        if row["family"] == "taxonomy":
            assert (entry.kind, entry.shows) == ("taxonomy", row["miniature"])
            continue
        kind, _, shows = row["miniature"].partition(":")
        assert kind.split()[0] == entry.kind, entry.slug        # "faithful at small scale" -> faithful
        assert entry.shows.endswith(shows.strip()), entry.slug


def test_titles_are_the_full_titles_of_the_abstracts_file():
    path = SHARED / "seeds" / "paper-abstracts.txt"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    lines = {line.strip() for line in path.read_text().splitlines()}
    missing = [e.slug for e in PAPERS.values() if e.title not in lines]
    assert missing == []


def test_every_paper_has_one_known_value_per_axis():
    for entry in PAPERS.values():
        assert tuple(entry.tags) == AXES, entry.slug
        for axis, value in entry.tags.items():
            assert value in AXIS_VALUES[axis], (entry.slug, axis, value)
        assert entry.kind in KINDS


def test_no_value_but_na_belongs_to_two_axes():
    # `tokenworks list` prints tag values without their axis names; that is only unambiguous this way
    seen: dict[str, str] = {}
    for axis, values in AXIS_VALUES.items():
        for value in values:
            if value != NA:
                assert value not in seen, f"{value!r} is on {seen.get(value)} and {axis}"
                seen[value] = axis


@pytest.mark.parametrize(
    "slug, expected",
    [   # the examples of research/decoding.md §16.2
        ("token-recycling", {"paradigm": "ar_draft_verify", "saving_source": "fewer_target_passes",
                             "exactness": "lossless_greedy", "drafter": "retrieval", "training": "training_free"}),
        ("mtp-gated-lora", {"paradigm": "ar_mtp", "exactness": "lossless_greedy", "training": "finetune_target"}),
        ("assd", {"paradigm": "any_order_ar", "exactness": "lossless_distribution",
                  "drafter": "same_model_parallel", "training": "train_from_scratch"}),
        ("s2d", {"saving_source": "fewer_target_passes", "drafter": "self_subnetwork",
                 "training": "train_auxiliary"}),
        ("localleap", {"paradigm": "masked_diffusion", "exactness": "lossy", "training": "training_free"}),
        ("freecache", {"paradigm": "masked_diffusion", "saving_source": "cached_compute",
                       "drafter": "diffusion_model"}),
        ("skipdecode", {"saving_source": "cheaper_passes", "exactness": "lossy", "training": "finetune_target"}),
        ("r2r", {"saving_source": "cheaper_passes", "exactness": "lossy"}),
        ("neodiff", {"paradigm": "continuous_diffusion", "training": "train_from_scratch"}),
        ("cosmos", {"paradigm": "latent_diffusion", "saving_source": "shorter_sequence"}),
        ("rectification", {"saving_source": "none", "control_objective": "safety"}),
        ("byte-level-probs", {"granularity": "byte", "control_objective": "tokenizer_agnostic",
                              "training": "training_free"}),
        ("bash-sampling", {"saving_source": "none", "exactness": NA, "control_objective": "quality"}),
    ],
)
def test_tags_follow_the_research_notes(slug, expected):
    tags = PAPERS[slug].tags
    assert {axis: tags[axis] for axis in expected} == expected


def test_drafter_applies_only_to_methods_that_draft():
    drafting = {e.slug for e in PAPERS.values() if e.tags["drafter"] != NA}
    assert drafting == {"token-recycling", "s2d", "mtp-gated-lora", "assd", "freecache"}
    for slug in drafting:
        assert PAPERS[slug].tags["saving_source"] in ("fewer_target_passes", "cached_compute")


def test_arxiv_ids_are_well_formed_and_distinct():
    ids = [e.arxiv for e in PAPERS.values() if e.arxiv]
    assert all(re.fullmatch(r"\d{4}\.\d{4,5}", i) for i in ids)
    assert len(ids) == len(set(ids))
    assert PAPERS["token-recycling"].arxiv == "2408.08696"


def test_surveys_are_labelled_as_taxonomy_not_reproduction(monkeypatch):
    from tokenworks import pipelines

    for slug in ("survey-dlm", "survey-parallel"):
        entry = PAPERS[slug]
        assert entry.kind == "taxonomy"
        assert entry.status == "taxonomy"
        assert "not a method" in entry.status_note and "taxonomy" in entry.status_note
        assert set(entry.tags.values()) == {NA}
        # even if someone registered one, a survey never reads as implemented or reproduced
        monkeypatch.setitem(pipelines.REPRODUCTIONS, slug, "nowhere:Nothing")
        assert entry.status == "taxonomy"


def _write_module(tmp_path: Path, monkeypatch, name: str, source: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    catalog._status_from_source.cache_clear()
    return name


REPRO_SOURCE = """
    from tokenworks.pipelines.base import Reproduction

    class Repro(Reproduction):
        slug = "dit-routing"
        {status_line}
        def run(self, cfg, ctx):
            raise NotImplementedError
    """


@pytest.mark.parametrize(
    "status_line, expected",
    [("", "implemented"), ('status = "implemented"', "implemented"), ('status = "reproduced"', "reproduced"),
     ('status: str = "reproduced"', "reproduced")],
)
def test_status_of_a_registered_reproduction_is_read_without_importing_it(tmp_path, monkeypatch, status_line,
                                                                          expected):
    from tokenworks import pipelines

    name = _write_module(tmp_path, monkeypatch, f"repro_status_{abs(hash(status_line))}",
                         REPRO_SOURCE.format(status_line=status_line))
    assert PAPERS["dit-routing"].status == "planned"
    monkeypatch.setitem(pipelines.REPRODUCTIONS, "dit-routing", f"{name}:Repro")
    assert PAPERS["dit-routing"].status == expected
    assert name not in sys.modules          # read from the source, not imported


def test_status_falls_back_to_importing_when_the_source_does_not_say(tmp_path, monkeypatch):
    from tokenworks import pipelines

    _write_module(tmp_path, monkeypatch, "repro_base_mod", """
        from tokenworks.pipelines.base import Reproduction

        class ReproducedBase(Reproduction):
            status = "reproduced"
        """)
    name = _write_module(tmp_path, monkeypatch, "repro_child_mod", """
        from repro_base_mod import ReproducedBase

        class Repro(ReproducedBase):
            def run(self, cfg, ctx):
                raise NotImplementedError
        """)
    monkeypatch.setitem(pipelines.REPRODUCTIONS, "gtp-vit", f"{name}:Repro")
    assert PAPERS["gtp-vit"].status == "reproduced"   # inherited: only an import can tell


def test_registered_but_missing_module_reads_unavailable(monkeypatch):
    from tokenworks import pipelines

    catalog._status_from_source.cache_clear()
    monkeypatch.setitem(pipelines.REPRODUCTIONS, "gtp-vit", "tokenworks.pipelines.no_such_module:Repro")
    assert PAPERS["gtp-vit"].status == "unavailable"


def test_an_imported_module_is_read_live(monkeypatch):
    import types

    from tokenworks import pipelines

    module = types.ModuleType("live_repro_mod")
    module.Repro = type("Repro", (), {"status": "reproduced"})
    monkeypatch.setitem(sys.modules, "live_repro_mod", module)
    monkeypatch.setitem(pipelines.REPRODUCTIONS, "gtp-vit", "live_repro_mod:Repro")
    assert PAPERS["gtp-vit"].status == "reproduced"


def test_group_by_axis_partitions_the_papers():
    groups = group_by("paradigm")
    members = [e.slug for entries in groups.values() for e in entries]
    assert sorted(members) == sorted(PAPERS)
    for value, entries in groups.items():
        assert all(e.tags["paradigm"] == value for e in entries)


def test_group_by_family_lists_a_multi_family_paper_under_each():
    groups = group_by("family")
    assert "s2d" in [e.slug for e in groups["decoding"]]
    assert "s2d" in [e.slug for e in groups["serving"]]
    assert "decoding, serving" not in groups


def test_group_by_unknown_field_names_the_allowed_ones():
    with pytest.raises(UserError) as info:
        group_by("paradigmm")
    message = str(info.value)
    assert "'paradigmm'" in message and all(axis in message for axis in AXES)
    assert "Did you mean: paradigm" in message


def test_taxonomy_table_has_every_paper_and_says_what_it_is():
    text = taxonomy_markdown()
    assert "not a measurement" in text
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 41
    assert all(line.count("|") == 3 + len(AXES) + 1 for line in rows)

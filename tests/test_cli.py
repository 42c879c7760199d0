"""The `tokenworks` command line: output shapes, and bad input that ends in a message, never a traceback.

Commands that do heavy work are driven here with small fakes of the modules they call (installed in
sys.modules), so these tests check the CLI's own behaviour: argument handling, validation before work,
JSON shape, stdout kept clean. Real reproductions, sweeps and benches are the platform's integration tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from typing import ClassVar

import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from tokenworks import __version__
from tokenworks.catalog import AXES, PAPERS
from tokenworks.cli import app
from tokenworks.config import TokenworksConfig
from tokenworks.pipelines.base import Claim, Reproduction, Result

FAKE_SLUG = "fake-cli-paper"


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def assert_user_error(result, *fragments: str) -> None:
    """Exit 2, one `error:` message on stderr holding every fragment, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.output
    assert result.stdout == ""


def install_module(monkeypatch, name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


# --- help, version, start-up ------------------------------------------------------------------------------


def all_command_paths() -> list[list[str]]:
    def walk(command, path: list[str]) -> list[list[str]]:
        paths = [path]
        if hasattr(command, "commands"):   # a group (typer vendors its own click)
            for name, sub in command.commands.items():
                paths += walk(sub, path + [name])
        return paths

    return walk(typer.main.get_command(app), [])


def test_the_command_tree_is_the_documented_one():
    paths = {" ".join(p) for p in all_command_paths()}
    assert paths == {
        "", "list", "reproduce", "sweep", "report", "version", "bench", "bench decoding", "bench overhead", "bench serve", "serve",
        "zoo", "zoo list", "zoo build", "zoo prompts", "mixture", "mixture infer",
    }


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "tokenworks")
def test_help_on_every_command(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: tokenworks" in result.stdout
    is_group = path in ([], ["bench"], ["zoo"], ["mixture"])
    if not is_group:
        assert "Example" in result.stdout                     # every command shows how it is called


def test_version(cli):
    for args in (["version"], ["--version"]):
        result = cli(*args)
        assert result.exit_code == 0
        assert result.stdout.strip() == f"tokenworks {__version__}"


def test_help_and_list_do_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from tokenworks.cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "assert r.invoke(app, ['list']).exit_code == 0\n"
        "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- list --------------------------------------------------------------------------------------------------


def test_list_table_shows_every_paper_with_its_status(cli):
    result = cli("list")
    assert result.exit_code == 0
    for entry in PAPERS.values():
        line = next(line for line in result.stdout.splitlines() if f" {entry.slug} " in line)
        assert entry.family in line and entry.status in line
    assert "41 papers" in result.stdout


def test_list_json_has_41_entries_with_tags_on_every_axis(cli):
    result = cli("list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["slug"] for r in rows] == list(PAPERS)
    for row in rows:
        assert {"slug", "title", "family", "status", "kind", "arxiv", "tags"} <= set(row)
        assert tuple(row["tags"]) == AXES
    assert {r["status"] for r in rows if r["slug"].startswith("survey-")} == {"taxonomy"}


def test_list_by_axis_groups_every_paper_once(cli):
    result = cli("list", "--by", "paradigm", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["by"] == "paradigm"
    slugs = [row["slug"] for rows in data["groups"].values() for row in rows]
    assert sorted(slugs) == sorted(PAPERS)
    for value, rows in data["groups"].items():
        assert {row["tags"]["paradigm"] for row in rows} == {value}

    table = cli("list", "--by", "paradigm")
    assert table.exit_code == 0
    for value, rows in data["groups"].items():
        assert f"paradigm = {value}  ({len(rows)})" in table.stdout


def test_list_by_unknown_axis_lists_the_valid_axes(cli):
    result = cli("list", "--by", "paradigmm")
    assert_user_error(result, "'paradigmm'", *AXES, "Did you mean: paradigm")


# --- reproduce ---------------------------------------------------------------------------------------------


class FakeConfig(TokenworksConfig):
    steps: int = Field(4, ge=1, le=64)
    threshold: float = Field(0.5, ge=0.0, le=1.0)

    PRESETS: ClassVar = {"micro": {"steps": 1}, "tiny": {"steps": 4}, "paper": {"steps": 64}}


class FakeReproduction(Reproduction):
    slug = FAKE_SLUG
    config_cls = FakeConfig

    def run(self, cfg, ctx):  # the fake runner below never calls it
        raise AssertionError("not used")


def fake_result() -> Result:
    return Result(
        metrics={"greedy/tokens_per_s": 100.0, "fake/tokens_per_s": 150.0, "fake/speedup": 1.5},
        claims=[Claim("speedup over greedy", "2x", "1.5x", "paper: A100; ours: CPU micro", "not comparable at "
                      "this scale", "micro model")],
        notes=["synthetic"],
    )


@pytest.fixture
def fake_paper(monkeypatch):
    """A registered fake reproduction and a fake runner that records its calls and prints noise to stdout."""
    from tokenworks import pipelines

    monkeypatch.delenv("TOKENWORKS_EXTRA_REPRODUCTIONS", raising=False)   # only this fake is registered
    install_module(monkeypatch, "fake_cli_repro", FakeReproduction=FakeReproduction)
    monkeypatch.setitem(pipelines.REPRODUCTIONS, FAKE_SLUG, "fake_cli_repro:FakeReproduction")
    calls = []

    def reproduce(slug, preset="tiny", overrides=None, config_file=None, progress=True):
        print(f"progress: running {slug}")         # a chatty runner must not spoil --json
        calls.append({"slug": slug, "preset": preset, "overrides": overrides, "config_file": config_file,
                      "progress": progress})
        return types.SimpleNamespace(slug=slug, run_id=f"run-{len(calls)}", result=fake_result(),
                                     local_dir=None, config={})

    def format_claims_table(result):
        return "| name | verdict |\n" + "".join(f"| {c.name} | {c.verdict} |\n" for c in result.claims)

    install_module(monkeypatch, "tokenworks.platform.runner", reproduce=reproduce,
                   format_claims_table=format_claims_table)
    return calls


def test_reproduce_unknown_slug_suggests_close_matches(cli):
    assert_user_error(cli("reproduce", "token-recyclng"), "'token-recyclng'", "Did you mean: token-recycling")


def test_reproduce_planned_and_survey_slugs_say_why_not(cli):
    assert_user_error(cli("reproduce", "dit-routing"), "'dit-routing'", "planned")
    assert_user_error(cli("reproduce", "survey-dlm"), "survey", "nothing to reproduce")


def test_reproduce_needs_slugs_or_all_but_not_both(cli):
    assert_user_error(cli("reproduce"), "SLUG", "--all")
    assert_user_error(cli("reproduce", "token-recycling", "--all"), "not both")


def test_reproduce_bad_set_key_lists_valid_keys_before_running(cli, fake_paper):
    result = cli("reproduce", FAKE_SLUG, "--set", "stepz=3")
    assert_user_error(result, "'stepz'", "valid keys", "steps", "threshold", "Did you mean: steps")
    assert fake_paper == []


def test_reproduce_out_of_range_value_names_field_value_and_range(cli, fake_paper):
    result = cli("reproduce", FAKE_SLUG, "--set", "threshold=1.5")
    assert_user_error(result, "threshold", "1.5", "le 1")
    assert fake_paper == []


def test_reproduce_malformed_set_and_missing_config_file(cli, fake_paper, tmp_path):
    assert_user_error(cli("reproduce", FAKE_SLUG, "--set", "steps"), "'steps'", "key=value")
    missing = tmp_path / "nope.yaml"
    assert_user_error(cli("reproduce", FAKE_SLUG, "--config", str(missing)), str(missing))
    assert fake_paper == []


def test_reproduce_set_errors_with_the_real_token_recycling_config(cli, monkeypatch):
    """The same two error paths on the registered token-recycling reproduction (skipped until it imports)."""
    from tokenworks.pipelines import get_reproduction

    try:
        config_cls = get_reproduction("token-recycling").config_cls
    except ImportError as exc:
        pytest.skip(f"token-recycling reproduction not importable: {exc}")
    runs = []
    install_module(monkeypatch, "tokenworks.platform.runner", reproduce=lambda *a, **k: runs.append(a))
    assert_user_error(cli("reproduce", "token-recycling", "--set", "no_such_key=1"), "'no_such_key'",
                      "valid keys", *config_cls.flat_keys()[:3])
    name, bound = next((n, m.le) for n, f in config_cls.model_fields.items() for m in f.metadata
                       if getattr(m, "le", None) is not None)
    assert_user_error(cli("reproduce", "token-recycling", "--set", f"{name}={bound + 1}"), name, str(bound + 1),
                      f"le {bound}")
    assert runs == []


def test_reproduce_checks_every_slug_before_running_any(cli, fake_paper):
    assert_user_error(cli("reproduce", FAKE_SLUG, "token-recyclng"), "token-recyclng")
    assert fake_paper == []


def test_reproduce_config_file_is_validated_and_passed_on(cli, fake_paper, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"steps": 0}))
    assert_user_error(cli("reproduce", FAKE_SLUG, "--config", str(bad)), "steps", "ge 1")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"steps": 8}))
    result = cli("reproduce", FAKE_SLUG, "--config", str(good), "--set", "threshold=0.25", "--preset", "micro")
    assert result.exit_code == 0, result.output
    assert fake_paper == [{"slug": FAKE_SLUG, "preset": "micro", "overrides": {"threshold": 0.25},
                           "config_file": str(good), "progress": True}]


def test_reproduce_json_prints_only_json(cli, fake_paper):
    result = cli("reproduce", FAKE_SLUG, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)                         # the runner's print went elsewhere
    assert set(data) == {"slug", "run_id", "metrics", "claims"}
    assert data["slug"] == FAKE_SLUG and data["run_id"] == "run-1"
    assert data["metrics"] == {"greedy/tokens_per_s": 100.0, "fake/tokens_per_s": 150.0, "fake/speedup": 1.5}
    assert data["claims"] == [{"name": "speedup over greedy", "paper": "2x", "ours": "1.5x",
                               "setting": "paper: A100; ours: CPU micro",
                               "verdict": "not comparable at this scale", "why": "micro model"}]
    assert "progress: running" in result.stderr
    assert fake_paper[0]["progress"] is False


def test_reproduce_json_of_several_slugs_is_a_list(cli, fake_paper, monkeypatch):
    from tokenworks import pipelines

    monkeypatch.setattr(pipelines, "REPRODUCTIONS", {FAKE_SLUG: "fake_cli_repro:FakeReproduction"})
    for args in ([FAKE_SLUG, FAKE_SLUG], ["--all"]):      # a slug given twice runs once
        result = cli("reproduce", *args, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert isinstance(data, list) and [d["slug"] for d in data] == [FAKE_SLUG]


def test_one_failing_paper_does_not_stop_the_others(cli, fake_paper, monkeypatch):
    from tokenworks import pipelines

    broken = "broken-paper"
    monkeypatch.setattr(pipelines, "REPRODUCTIONS", {broken: "fake_cli_repro:FakeReproduction",
                                                     FAKE_SLUG: "fake_cli_repro:FakeReproduction"})
    runner = sys.modules["tokenworks.platform.runner"]
    working = runner.reproduce

    def reproduce(slug, **kwargs):
        if slug == broken:
            raise RuntimeError("weights not found")
        return working(slug, **kwargs)

    monkeypatch.setattr(runner, "reproduce", reproduce)
    result = cli("reproduce", "--all", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data[0] == {"slug": broken, "error": "RuntimeError: weights not found"}
    assert data[1]["slug"] == FAKE_SLUG and data[1]["run_id"]
    assert "1 of 2 reproductions failed: broken-paper" in result.stderr


def test_reproduce_table_shows_claims_and_metrics_by_arm(cli, fake_paper):
    result = cli("reproduce", FAKE_SLUG)
    assert result.exit_code == 0, result.output
    assert "| speedup over greedy | not comparable at this scale |" in result.stdout
    lines = result.stdout.splitlines()
    arm_lines = {arm: next(line for line in lines if re.search(rf"\b{arm}\b\W+\d", line)) for arm in ("greedy", "fake")}
    assert "100" in arm_lines["greedy"] and "150" in arm_lines["fake"] and "1.5" in arm_lines["fake"]
    assert "run-1" in result.stdout


# --- sweep -------------------------------------------------------------------------------------------------


def test_sweep_validates_then_prints_the_pareto_table(cli, fake_paper, monkeypatch):
    calls = []

    def sweep(slug, samples, preset="micro", resume=False, overrides=None):
        calls.append((slug, samples, preset, resume, overrides))
        return types.SimpleNamespace(parent_run_id="parent-1", trials=[{}, {}], pareto=[{"x": 1}],
                                     pareto_table="PARETO-TABLE")

    install_module(monkeypatch, "tokenworks.platform.sweep", sweep=sweep)
    assert_user_error(cli("sweep", FAKE_SLUG, "--samples", "2", "--set", "steps=999"), "steps", "le 64")
    assert_user_error(cli("sweep", "token-recyclng", "--samples", "2"), "Did you mean: token-recycling")
    assert cli("sweep", FAKE_SLUG, "--samples", "0").exit_code == 2
    assert calls == []
    result = cli("sweep", FAKE_SLUG, "--samples", "2", "--resume", "--set", "steps=2")
    assert result.exit_code == 0, result.output
    assert "PARETO-TABLE" in result.stdout and "parent-1" in result.stdout
    assert calls == [(FAKE_SLUG, 2, "tiny", True, {"steps": 2})]


# --- bench -------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_bench(monkeypatch):
    """Fake registry, zoo, measure and tracking: records what the CLI hands them."""
    seen: dict = {}
    install_module(monkeypatch, "tokenworks.methods.decoding.registry",
                   DECODER_NAMES=["greedy", "prompt-lookup", "token-recycling"])

    def code_prompts(tokenizer, n, split="test"):
        seen["prompt_tokenizer"] = tokenizer
        return [f"p{i}" for i in range(n)]

    install_module(monkeypatch, "tokenworks.zoo", load_lm=lambda name: (f"model:{name}", f"tokenizer:{name}"),
                   code_prompts=code_prompts)

    def compare_decoders(model, tokenizer, methods, prompts, max_new_tokens, repeats, method_options=None,
                         progress=True):
        print("bench progress")
        seen.update(model=model, methods=methods, prompts=prompts, max_new_tokens=max_new_tokens,
                    repeats=repeats, method_options=method_options, progress=progress)
        rows = {m: {"tokens_per_s": 10.0 * (i + 1), "speedup": float(i + 1), "mean_acceptance_length": 1.0 + i,
                    "target_forwards_per_token": 1.0 / (i + 1), "exact_match": 1.0, "distinct_4gram": 0.9,
                    "extra": 7.0} for i, m in enumerate(methods)}
        return types.SimpleNamespace(rows=rows, per_sample=[{"i": 0}], warnings=["only 1 prompt"],
                                     to_table=lambda: "TABLE " + " ".join(methods))

    install_module(monkeypatch, "tokenworks.methods.decoding.measure", compare_decoders=compare_decoders)

    def log_bench(name, params, rows, per_sample):
        seen["logged"] = {"name": name, "params": params, "rows": rows}
        return "bench-run"

    install_module(monkeypatch, "tokenworks.platform.tracking", log_bench=log_bench)
    return seen


def write_lines(path, *lines: str):
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_bench_missing_prompts_file_names_the_path(cli, tmp_path):
    missing = tmp_path / "prompts.jsonl"
    result = cli("bench", "decoding", "--model", "code-lm-micro", "--prompts", str(missing))
    assert_user_error(result, str(missing), "does not exist", "tokenworks zoo prompts")


def test_bench_bad_prompt_lines_name_path_and_line(cli, tmp_path):
    cases = [
        (['{"prompt": "a"}', "", "{not json"], "line 3", "not valid JSON"),
        (['{"prompt": "a"}', '{"text": "b"}'], "line 2", "'text'"),
        (['["a"]'], "line 1", "JSON object"),
        (['{"prompt": 3}'], "line 1", "non-empty string"),
        ([""], "no prompts", ""),
    ]
    for i, (lines, *fragments) in enumerate(cases):
        path = write_lines(tmp_path / f"p{i}.jsonl", *lines)
        result = cli("bench", "decoding", "--model", "m", "--prompts", path)
        assert_user_error(result, path, *fragments)


def test_bench_needs_exactly_one_prompt_source(cli, tmp_path):
    path = write_lines(tmp_path / "p.jsonl", '{"prompt": "a"}')
    assert_user_error(cli("bench", "decoding", "--model", "m"), "--prompts", "--prompts-from-zoo")
    assert_user_error(cli("bench", "decoding", "--model", "m", "--prompts", path, "--prompts-from-zoo", "2"),
                      "exactly one")


def test_bench_unknown_method_lists_the_decoders(cli, tmp_path, fake_bench):
    path = write_lines(tmp_path / "p.jsonl", '{"prompt": "a"}')
    result = cli("bench", "decoding", "--model", "m", "--prompts", path, "--methods", "greedy,token-recycle")
    assert_user_error(result, "'token-recycle'", "greedy, prompt-lookup, token-recycling",
                      "Did you mean: token-recycling")
    assert "methods" not in fake_bench


def test_bench_method_option_errors(cli, tmp_path, fake_bench):
    path = write_lines(tmp_path / "p.jsonl", '{"prompt": "a"}')
    base = ["bench", "decoding", "--model", "m", "--prompts", path, "--methods", "greedy,token-recycling"]
    assert_user_error(cli(*base, "--method-option", "top_k=8"), "NAME.KEY=VALUE")
    assert_user_error(cli(*base, "--method-option", "prompt-lookup.n=3"), "'prompt-lookup'", "not among --methods")
    assert_user_error(cli(*base, "--method-option", "token-recycling.top_k"), "NAME=VALUE")


def test_bench_json_has_exactly_the_documented_keys(cli, tmp_path, fake_bench):
    path = write_lines(tmp_path / "p.jsonl", '{"prompt": "def f():"}', '{"prompt": "x = 1", "id": 2}')
    result = cli("bench", "decoding", "--model", "code-lm-micro", "--prompts", path, "--methods",
                 "greedy,token-recycling,tr-chain", "--method-option", "token-recycling.top_k=8",
                 "--method-option", "tr-chain.decoder=token-recycling", "--max-new-tokens", "16", "--repeats",
                 "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["methods"]
    assert list(data["methods"]) == ["greedy", "token-recycling", "tr-chain"]
    for row in data["methods"].values():
        assert list(row) == ["tokens_per_s", "speedup", "mean_acceptance_length", "target_forwards_per_token",
                             "exact_match", "distinct_4gram"]
    assert data["methods"]["token-recycling"]["speedup"] == 2.0
    assert fake_bench["prompts"] == ["def f():", "x = 1"]
    assert fake_bench["method_options"] == {"token-recycling": {"top_k": 8},
                                            "tr-chain": {"decoder": "token-recycling"}}
    assert (fake_bench["max_new_tokens"], fake_bench["repeats"], fake_bench["progress"]) == (16, 2, False)
    assert fake_bench["logged"]["name"] == "decoding"
    assert fake_bench["logged"]["params"]["token-recycling.top_k"] == 8
    assert "only 1 prompt" in result.stderr and "bench progress" in result.stderr


def test_bench_table_and_prompts_from_zoo(cli, fake_bench):
    result = cli("bench", "decoding", "--model", "code-lm-micro", "--methods", "greedy", "--prompts-from-zoo", "3")
    assert result.exit_code == 0, result.output
    assert "TABLE greedy" in result.stdout
    assert fake_bench["prompts"] == ["p0", "p1", "p2"] and fake_bench["model"] == "model:code-lm-micro"
    assert fake_bench["logged"]["params"]["prompts"] == "zoo:test:3"


def test_bench_overhead_prints_ratio_against_target(cli, monkeypatch):
    calls = []

    def measure_overhead(**kwargs):
        calls.append(kwargs)
        return {"direct_s": 1.0, "platform_s": 1.03, "overhead_ratio": 0.03}

    install_module(monkeypatch, "tokenworks.platform.overhead", measure_overhead=measure_overhead)
    result = cli("bench", "overhead", "--repeats", "2")
    assert result.exit_code == 0, result.output
    assert "3.0%" in result.stdout and "within target" in result.stdout
    assert calls == [{"max_new_tokens": 64, "repeats": 2}]
    result = cli("bench", "overhead", "--model", "code-lm-micro", "--json")
    assert json.loads(result.stdout)["overhead_ratio"] == 0.03
    assert calls[-1]["model"] == "code-lm-micro"


def test_a_part_not_built_is_reported_not_traced(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenworks.platform.overhead", None)   # import raises ImportError
    result = cli("bench", "overhead")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "tokenworks.platform.overhead" in result.stderr
    assert "Traceback" not in result.output


# --- zoo ---------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_zoo(monkeypatch):
    built = []
    models = [{"name": n, "built": False, "path": f"/cache/{n}", "params": 1000, "val_bits_per_byte": None,
               "recipe_hash": "abc", "description": "d"} for n in ("code-lm-micro", "code-lm-tiny")]
    install_module(monkeypatch, "tokenworks.zoo", list_models=lambda: models,
                   build=lambda name, force=False: built.append((name, force)) or f"/cache/{name}")
    return built


def test_zoo_build_preset_completes_the_name(cli, fake_zoo):
    assert cli("zoo", "build", "code-lm", "--preset", "tiny").exit_code == 0
    assert cli("zoo", "build", "code-lm-micro", "--preset", "micro", "--force").exit_code == 0
    assert fake_zoo == [("code-lm-tiny", False), ("code-lm-micro", True)]
    assert_user_error(cli("zoo", "build", "code-lm-micro", "--preset", "tiny"), "'micro'", "'tiny'")
    assert_user_error(cli("zoo", "build", "code-lm-tiy"), "'code-lm-tiy'", "Did you mean: code-lm-tiny")


def test_zoo_list_json_and_table(cli, fake_zoo):
    result = cli("zoo", "list", "--json")
    assert [m["name"] for m in json.loads(result.stdout)] == ["code-lm-micro", "code-lm-tiny"]
    assert "code-lm-tiny" in cli("zoo", "list").stdout


def test_zoo_prompts_writes_a_file_bench_can_read(cli, fake_bench, tmp_path, monkeypatch):
    from tokenworks.cli.prompts_file import read_prompts

    # for a zoo name only the tokenizer is loaded: writing prompts must never train a model
    install_module(monkeypatch, "tokenworks.zoo.recipes", ZOO={"code-lm-tiny": types.SimpleNamespace(tokenizer="bpe")})
    install_module(monkeypatch, "tokenworks.zoo.tokenizer", load_tokenizer=lambda recipe: f"only-tokenizer:{recipe}")
    out = tmp_path / "sub" / "prompts.jsonl"
    result = cli("zoo", "prompts", "--n", "4", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert read_prompts(out) == ["p0", "p1", "p2", "p3"]
    assert fake_bench["prompt_tokenizer"] == "only-tokenizer:bpe"
    assert cli("zoo", "prompts", "--n", "2", "--model", "/my/model", "--out", str(out)).exit_code == 0
    assert fake_bench["prompt_tokenizer"] == "tokenizer:/my/model"
    assert_user_error(cli("zoo", "prompts", "--out", str(tmp_path)), "is a directory")


# --- mixture -----------------------------------------------------------------------------------------------


@pytest.fixture
def mixture_dirs(tmp_path):
    for name in ("code", "english"):
        (tmp_path / name).mkdir()
    tok = tmp_path / "tokenizer.json"
    tok.write_text("{}")
    return tmp_path


def test_mixture_infer_argument_errors(cli, mixture_dirs):
    d = mixture_dirs
    tok = str(d / "tokenizer.json")
    code, english = f"code={d / 'code'}", f"english={d / 'english'}"
    assert_user_error(cli("mixture", "infer", "--tokenizer", tok, "--category", "code", "--category", english),
                      "'code'", "NAME=DIR")
    assert_user_error(cli("mixture", "infer", "--tokenizer", tok, "--category", f"={d}", "--category", english),
                      "NAME=DIR")
    assert_user_error(cli("mixture", "infer", "--tokenizer", tok, "--category", code, "--category",
                          f"web={d / 'web'}"), str(d / "web"), "does not exist")
    assert_user_error(cli("mixture", "infer", "--tokenizer", tok, "--category", code, "--category",
                          f"code={d / 'english'}"), "'code'", "twice")
    assert_user_error(cli("mixture", "infer", "--tokenizer", tok, "--category", code), "at least two")
    missing = str(d / "missing.json")
    assert_user_error(cli("mixture", "infer", "--tokenizer", missing, "--category", code, "--category", english),
                      missing)
    assert cli("mixture", "infer", "--tokenizer", tok).exit_code == 2          # --category is required


def test_mixture_infer_json_and_table(cli, mixture_dirs, monkeypatch):
    d = mixture_dirs
    calls = []

    def infer_from_paths(tokenizer_path, categories, merges=None):
        calls.append((tokenizer_path, categories, merges))
        return {"code": 0.25, "english": 0.75}

    install_module(monkeypatch, "tokenworks.methods.tokenization.data_mixture", infer_from_paths=infer_from_paths)
    args = ["mixture", "infer", "--tokenizer", str(d / "tokenizer.json"), "--category", f"code={d / 'code'}",
            "--category", f"english={d / 'english'}"]
    result = cli(*args, "--merges", "100", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"proportions": {"code": 0.25, "english": 0.75}}
    assert calls == [(str(d / "tokenizer.json"), {"code": str(d / "code"), "english": str(d / "english")}, 100)]
    table = cli(*args).stdout
    assert table.index("english") < table.index("code") and "75.0%" in table

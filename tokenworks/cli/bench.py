"""`tokenworks bench ...`: decoders side by side on one model and one prompt set; platform overhead; load on a
served app (`bench serve`, in bench_serve.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tokenworks.cli.common import (
    configure_threads,
    info,
    need,
    out_console,
    parse_json_value,
    parse_name_value,
    print_json,
    split_csv,
    stdout_to_stderr,
    warn,
)
from tokenworks.cli.bench_serve import bench_serve
from tokenworks.cli.prompts_file import read_prompts
from tokenworks.errors import UserError, close_matches

bench_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Benchmarks: print a table and log it to MLflow. Correctness lives in the tests, speed here.",
    no_args_is_help=True,
)

# the per-method numbers `bench decoding --json` reports, in this order
JSON_METRICS = ("tokens_per_s", "speedup", "mean_acceptance_length", "target_forwards_per_token", "exact_match",
                "distinct_4gram")
OVERHEAD_TARGET = 0.05

bench_app.command("serve")(bench_serve)


@bench_app.command("decoding")
def bench_decoding(
    model: str = typer.Option(..., "--model", metavar="M", help="Zoo name (see `tokenworks zoo list`), local "
                              "model directory, or Hugging Face id."),
    methods: str = typer.Option("greedy,prompt-lookup,token-recycling", "--methods", metavar="A,B,...",
                                help="Comma-separated decoder names; the first is the speedup baseline if "
                                "greedy is absent."),
    prompts: Optional[Path] = typer.Option(None, "--prompts", metavar="FILE.jsonl",
                                           help='JSON lines with a "prompt" field (see `tokenworks zoo prompts`).'),
    prompts_from_zoo: Optional[int] = typer.Option(None, "--prompts-from-zoo", min=1, metavar="N",
                                                   help="Use N held-out code prompts (the zoo's test split)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, help="Tokens to generate per prompt."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed repeats per method; the median is reported."),
    method_options: Optional[list[str]] = typer.Option(
        None, "--method-option", metavar="NAME.KEY=VALUE",
        help="An option of one method, e.g. token-recycling.topk=8 (VALUE parsed as JSON when it can be). "
        "LABEL.decoder=NAME makes LABEL in --methods another setting of decoder NAME. Repeatable.",
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads for the decode loop. Default 1: "
                                "small models decode fastest on one core, and more threads than idle cores "
                                "collapse every arm (TOKENWORKS_THREADS overrides)."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON: {\"methods\": {NAME: {" +
                                 ", ".join(JSON_METRICS) + "}}}."),
) -> None:
    """Compare decoders on one model: tokens/s, speedup, acceptance length, exactness against greedy.

    Speed is measured in one run against greedy on the same machine, same prompts, warm-up excluded,
    median of --repeats. Lossless methods must match greedy token for token (exact_match).

    **Examples**

    ```
    tokenworks zoo prompts --model code-lm-tiny --n 32 --out prompts.jsonl
    tokenworks bench decoding --model code-lm-tiny \\
        --methods greedy,prompt-lookup,token-recycling \\
        --prompts prompts.jsonl --max-new-tokens 64 --repeats 3
    tokenworks bench decoding --model code-lm-micro \\
        --methods greedy,token-recycling --prompts-from-zoo 8 \\
        --method-option token-recycling.tree=chain8 --json
    ```
    """
    names = split_csv(methods)
    if not names:
        raise UserError(f"--methods {methods!r} names no method; give comma-separated decoder names.")
    options = parse_method_options(method_options or [], names)
    prompt_texts = _prompts_from_file(prompts, prompts_from_zoo)
    registry = need("tokenworks.methods.decoding.registry", purpose="`tokenworks bench decoding`")
    decoders = check_methods(names, options, registry.DECODER_NAMES)
    if hasattr(registry, "decoder_config"):  # bad option values fail before the model loads
        for name in names:
            opts = {k: v for k, v in options.get(name, {}).items() if k != "decoder"}
            registry.decoder_config(decoders[name], **opts)
    load_lm = zoo_function("load_lm")
    compare_decoders = need("tokenworks.methods.decoding.measure", "compare_decoders",
                            purpose="`tokenworks bench decoding`")
    configure_threads(threads)
    with stdout_to_stderr(as_json):
        lm, tokenizer = load_lm(model)
        if prompt_texts is None:
            prompt_texts = zoo_function("code_prompts")(tokenizer, prompts_from_zoo, split="test")
        report = compare_decoders(lm, tokenizer, names, prompt_texts, max_new_tokens, repeats,
                                  method_options=options, progress=not as_json)
        run_id = _log_bench(model, names, prompts, prompts_from_zoo, len(prompt_texts), max_new_tokens, repeats,
                            options, report)
    table = "" if as_json else report.to_table()
    if as_json:
        print_json({"methods": {name: {k: row.get(k) for k in JSON_METRICS} for name, row in report.rows.items()}})
    else:
        typer.echo(table)
    for message in report.warnings:
        if message not in table:  # the table may already carry its warnings
            warn(message)
    info(f"logged to MLflow run {run_id}" if run_id else "MLflow unavailable; bench logged locally")


def parse_method_options(pairs: list[str], methods: list[str]) -> dict[str, dict[str, Any]]:
    """['token-recycling.topk=8'] -> {'token-recycling': {'topk': 8}}; the method must be in --methods."""
    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, raw = parse_name_value(pair, "--method-option", "VALUE")
        method, dot, key = target.partition(".")
        if not dot or not method or not key:
            raise UserError(f"--method-option {pair!r} is not of the form NAME.KEY=VALUE "
                            "(e.g. token-recycling.topk=8).")
        if method not in methods:
            raise UserError(f"--method-option {pair!r}: method {method!r} is not among --methods "
                            f"({', '.join(methods)})." + close_matches(method, methods))
        options.setdefault(method, {})[key] = parse_json_value(raw)
    return options


def check_methods(names: list[str], options: dict[str, dict[str, Any]], known: list[str]) -> dict[str, str]:
    """label -> decoder name. A label is a decoder name, or any name whose options say
    `LABEL.decoder=DECODER` (two settings of one decoder side by side); UserError listing the decoders."""
    decoders = {name: str(options.get(name, {}).get("decoder", name)) for name in names}
    unknown = [f"{name!r}" + (f" (decoder {d!r})" if d != name else "") for name, d in decoders.items()
               if d not in known]
    if unknown:
        hints = "".join(close_matches(d, known) for d in decoders.values() if d not in known)
        raise UserError(f"unknown method {', '.join(unknown)} in --methods; allowed: {', '.join(known)} "
                        f"(or a label with --method-option LABEL.decoder=NAME).{hints}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UserError(f"--methods names {', '.join(duplicated)} more than once.")
    return decoders


def _prompts_from_file(path: Path | None, from_zoo: int | None) -> list[str] | None:
    """The file's prompts, or None when they come from the zoo (that needs the tokenizer, loaded later)."""
    if (path is None) == (from_zoo is None):
        raise UserError("give exactly one of --prompts FILE.jsonl or --prompts-from-zoo N "
                        "(write a file with `tokenworks zoo prompts --out FILE`).")
    return read_prompts(path) if path is not None else None


def _log_bench(model: str, names: list[str], prompts: Path | None, from_zoo: int | None, n_prompts: int,
               max_new_tokens: int, repeats: int, options: dict[str, dict[str, Any]], report: Any) -> str | None:
    log_bench = need("tokenworks.platform.tracking", "log_bench", purpose="logging the bench to MLflow")
    params: dict[str, Any] = {
        "model": model,
        "methods": ",".join(names),
        "prompts": str(prompts) if prompts else f"zoo:test:{from_zoo}",
        "n_prompts": n_prompts,
        "max_new_tokens": max_new_tokens,
        "repeats": repeats,
        **{f"{name}.{key}": value for name, opts in options.items() for key, value in opts.items()},
    }
    return log_bench(name="decoding", params=params, rows=report.rows, per_sample=report.per_sample)


@bench_app.command("overhead")
def bench_overhead(
    model: Optional[str] = typer.Option(None, "--model", metavar="M",
                                        help="Zoo name, local directory or HF id (default: the platform's own)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, help="Tokens to generate per call."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed repeats; the median is reported."),
    as_json: bool = typer.Option(False, "--json", help="Print only the measurement as JSON."),
) -> None:
    """Measure what the platform adds (Ray actor, tracking) over calling the decoder directly; target <= 5%.

    **Examples**

    ```
    tokenworks bench overhead
    tokenworks bench overhead --model code-lm-tiny --max-new-tokens 64 --repeats 5 --json
    ```
    """
    measure_overhead = need("tokenworks.platform.overhead", "measure_overhead",
                            purpose="`tokenworks bench overhead`")
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "repeats": repeats}
    if model is not None:
        kwargs["model"] = model
    configure_threads()
    with stdout_to_stderr(as_json):
        result = measure_overhead(**kwargs)
    if as_json:
        print_json(result)
        return
    console = out_console()
    for key, value in result.items():
        typer.echo(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    ratio = overhead_ratio(result)
    if ratio is not None:
        verdict = "[green]within target[/]" if ratio <= OVERHEAD_TARGET else "[red]over target[/]"
        console.print(f"overhead {ratio:.1%} (target <= {OVERHEAD_TARGET:.0%}): {verdict}")


def overhead_ratio(result: dict[str, Any]) -> float | None:
    """The relative overhead as a fraction: the first float under a key naming an overhead ratio."""
    for key in ("overhead_ratio", "overhead_fraction", "overhead", "ratio"):
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def zoo_function(name: str) -> Any:
    """tokenworks.zoo.<name>, the zoo's public API (load_lm, code_prompts, list_models, build)."""
    return need("tokenworks.zoo", name, purpose=f"tokenworks.zoo.{name}")

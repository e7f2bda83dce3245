"""What the learned model choice saves on public data: RouterBench's ARC-Challenge, MBPP and Winogrande (issue #10).

    python -m benchmarks.cost [ROUTERBENCH_DIR] [--out bench-results/cost.json] [--plot docs/cost-quality.png]

The protocol, per family (11 models with each prompt's 0/1 correctness and USD cost):

- the train file goes through the product's path: ``import_outcomes`` (the last paragraph of each prompt embedded,
  RouterBench's model names mapped by a ``--map`` file the bench writes) into a temporary outcome store, read back
  with ``OutcomeDatabase.observations``; the learner sees nothing else;
- every choice is made on validation, i.e. out-of-fold estimates of a 5-fold split of train: the learner's settings
  (the best validation AIQ gain among a few) and the operating point (the cheapest setting whose validation
  quality is within 1 point of GPT-4's);
- then the learner is fitted on the whole train split, and the test prompts are routed the way serving does it
  (``LearnedChooser`` estimates over the chain of all 11 models, ``learned_choice`` with ``max_quality_loss`` or
  ``quality_target``, exploration off), sweeping both goal kinds for the cost-quality curve;
- figures on test, each with a 90 % bootstrap interval over the test prompts: quality and cost against always-GPT-4,
  the best single model (in hindsight), random choice at equal cost and the oracle; RouterBench's AIQ of the learned
  router and of the zero router, and of a plain logistic regression per model computed the same way;
- MBPP's cheapest-first cascade of four models through ``semroute.execution``'s own loop, with the recorded
  correctness as a ``custom`` validator, plain and with a learned start.

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks._cost_data import FAMILIES, Family, load_family, write_model_map
from benchmarks._cost_evaluate import FamilyResult, evaluate_cascade, evaluate_family
from benchmarks._cost_figures import Figure, Row
from benchmarks._cost_math import Point
from benchmarks._cost_plot import Panel, plot
from semroute.embedding import FastEmbedEmbedder
from semroute.schema import EmbeddingSettings
from semroute.store import OutcomeDatabase, sqlite_url

DEFAULT_DATA = Path("../shared/data/routerbench_subset")
DRAWS = 2000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = _arguments(argv)
    started = time.perf_counter()
    wanted = [args.data / f"{family}_{split}.csv" for family in FAMILIES for split in ("train", "test")]
    missing = [path for path in wanted if not path.is_file()]
    if missing:
        print(
            f"RouterBench subset not found: {missing[0]} does not exist. Pass the folder holding "
            f"{', '.join(path.name for path in wanted[:2])}, ..., e.g.\n  make bench-cost ROUTERBENCH=/path/to/folder",
            file=sys.stderr,
        )
        return 2
    families = _load(args.data, args.model_dir)
    loaded = time.perf_counter() - started
    results: dict[str, FamilyResult] = {}
    for family in families:
        print(f"{family.title}: choosing on validation, fitting, routing test", file=sys.stderr)
        results[family.name] = evaluate_family(family, args.draws, args.seed)
    mbpp = next(family for family in families if family.name == "mbpp")
    print("MBPP: the cascade", file=sys.stderr)
    cascade = evaluate_cascade(mbpp, results["mbpp"].settings, results["mbpp"].learned, args.draws, args.seed)
    seconds = time.perf_counter() - started
    plain, learned_start = cascade["cascade"], cascade["cascade, learned start"]
    results["mbpp"].panel = _with_cascade(results["mbpp"], plain, learned_start)
    machine = {"nproc": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2)}
    plotted = plot([results[family.name].panel for family in families], args.plot, _summary(families, results, cascade))
    _print_tables(families, results, cascade)
    print(
        f"\nplot: {plotted}; details: {args.out}; {seconds:.0f} s ({loaded:.0f} s importing and embedding), {machine}"
    )
    line: dict[str, Any] = {}
    for family in families:
        figures = results[family.name].figures
        line[f"cost_ratio_{family.name}"] = round(figures["cost_ratio"].value, 3)
        line[f"quality_delta_{family.name}"] = round(figures["quality_delta"].value, 2)
        line[f"aiq_gain_{family.name}"] = round(figures["aiq_gain"]["learned"].value, 2)
        line[f"lr_baseline_aiq_gain_{family.name}"] = round(figures["aiq_gain"]["baseline"].value, 2)
        line[f"chance_aiq_gain_{family.name}"] = round(figures["null_aiq_gain"]["mean"], 2)
        line[f"validated_aiq_gain_{family.name}"] = round(figures["aiq_gain"]["learned_validated_settings"].value, 2)
        line[f"chance_validated_aiq_gain_{family.name}"] = round(figures["null_aiq_gain_validated_settings"]["mean"], 2)
    line["cascade_quality_delta_mbpp"] = round(plain["quality_delta"].value, 2)
    line["cascade_cost_ratio_mbpp"] = round(plain["cost_ratio"].value, 3)
    line["learned_start_cascade_quality_delta_mbpp"] = round(learned_start["quality_delta"].value, 2)
    line["learned_start_cascade_cost_ratio_mbpp"] = round(learned_start["cost_ratio"].value, 3)
    line["seconds"] = round(seconds)
    details = {
        "protocol": __doc__.split("\n\n", 2)[2].split("\n\nThe last line")[0] if __doc__ else "",
        "data": str(args.data),
        "machine": machine,
        "seconds": round(seconds, 1),
        "families": {family.name: _family_json(results[family.name]) for family in families},
        "cascade_mbpp": _jsonable(cascade),
        "headline": line,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(details, indent=2))
    print(json.dumps(line))
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="folder of the RouterBench subset")
    parser.add_argument("--out", type=Path, default=Path("bench-results/cost.json"), help="JSON details")
    parser.add_argument("--plot", type=Path, default=Path("docs/cost-quality.png"), help="the cost-quality plot")
    parser.add_argument("--draws", type=int, default=DRAWS, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--model-dir", default=None, help="embedding model folder [default: the one `make model` fills]"
    )
    return parser.parse_args(argv)


def _load(data: Path, model_dir: str | None) -> list[Family]:
    """Every family imported through the product's path into a temporary outcome store."""
    embedder = FastEmbedEmbedder(EmbeddingSettings(path=Path(model_dir).resolve() if model_dir else None))
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as folder:
        work = Path(folder)
        database = OutcomeDatabase(sqlite_url(work / "outcomes.db"))
        database.migrate()
        model_map = write_model_map(work)
        try:
            return [load_family(data, family, embedder, database, model_map) for family in FAMILIES]
        finally:
            database.close()


def _with_cascade(result: FamilyResult, plain: dict[str, Any], learned_start: dict[str, Any]) -> Panel:
    first = Point(plain["cost"].value, plain["quality"].value)
    second = Point(learned_start["cost"].value, learned_start["quality"].value)
    if first == second:
        return replace(result.panel, cascades=[("MBPP cascade of 4 (learned start: the same)", first)])
    return replace(result.panel, cascades=[("MBPP cascade of 4", first), ("MBPP cascade, learned start", second)])


def _summary(families: list[Family], results: dict[str, FamilyResult], cascade: dict[str, Any]) -> list[str]:
    """The plot's text: headline figures with their 90 % intervals."""
    lines = ["test figures, 90 % bootstrap intervals", "", "AIQ gain over the zero router, points:"]
    for family in families:
        figures = results[family.name].figures
        gains, chance = figures["aiq_gain"], figures["null_aiq_gain"]["mean"]
        lines.append(f"  {family.title:14s} learned  {gains['learned'].text(1, 2, sign=True)}")
        lines.append(f"  {'':14s} plain LR {gains['baseline'].text(1, 2, sign=True)}")
        lines.append(f"  {'':14s} chance   {chance:+.2f} (estimates shuffled over prompts)")
    lines += ["", "operating point (chosen on validation) vs GPT-4:"]
    for family in families:
        figures = results[family.name].figures
        random = figures["random_at_equal_cost"]["learned_minus_random_points"].value
        lines.append(
            f"  {family.title:14s} {figures['quality_delta'].value:+.1f} points at "
            f"{figures['cost_ratio'].value:.2f} of its cost ({random:+.1f} vs random)"
        )
    plain = cascade["cascade"]
    lines += [
        "",
        f"MBPP cascade: {plain['quality_delta'].value:+.1f} points at {plain['cost_ratio'].value:.2f} of GPT-4's cost",
    ]
    return lines


def _print_tables(families: list[Family], results: dict[str, FamilyResult], cascade: dict[str, Any]) -> None:
    print("\nRouterBench subset, test split; every choice made on validation (5-fold split of train); 90 % bootstrap")
    print("intervals over test prompts in brackets (MBPP has 128 test prompts: its intervals are wide)")
    for family in families:
        result, figures = results[family.name], results[family.name].figures
        validation = result.json["validation"]
        print(
            f"\n== {family.title}: {result.json['test_prompts']} test prompts"
            + (f" ({family.test_dropped} left out: a blank result)" if family.test_dropped else "")
        )
        print(
            f"chosen on validation: learner {result.json['learner_settings']}; "
            f"chain {', '.join(result.json['chain'])}; "
            f"operating point {result.json['operating_point']} (validation quality {validation['quality']:.1%} vs "
            f"GPT-4 {validation['gpt4_quality']:.1%}, cost {validation['cost_ratio']:.2f} of GPT-4's)"
        )
        print(f"{'':42s} {'quality %':>22s} {'cost $/prompt':>14s} {'cost / GPT-4':>20s}")
        for row in figures["rows"]:
            _print_row(row)
        mix = figures["random_at_equal_cost"]
        if mix["models"][0] == mix["models"][1]:
            label, share = f"random at equal cost: {mix['models'][0]} alone", "(hull ends there)"
        else:
            label = "random at equal cost: " + " + ".join(mix["models"])
            share = f"({mix['dear_share']:.0%} {mix['models'][1]})"
        print(f"{label:42s} {mix['quality'].text(100):>22s} {figures['rows'][0].cost.value:14.6f} {share:>20s}")
        print(
            f"learned router vs random at equal cost {mix['learned_minus_random_points'].text(1, 1, sign=True)} points"
        )
        print(
            f"quality vs GPT-4 {figures['quality_delta'].text(1, 1, sign=True)} points; "
            f"cost ratio {figures['cost_ratio'].text(1, 3)}"
        )
        gains, aiq = figures["aiq_gain"], figures["aiq"]
        print(
            f"AIQ: zero router {aiq['zero']:.2f}, learned {aiq['learned']:.2f}: gain "
            f"{gains['learned'].text(1, 2, sign=True)} points"
        )
        print(
            f"     plain logistic regression per model, same chain and sweep: gain "
            f"{gains['baseline'].text(1, 2, sign=True)}; over all 11 models: "
            f"{gains['baseline_all_models'].text(1, 2, sign=True)}"
        )
        null, null_validated = figures["null_aiq_gain"], figures["null_aiq_gain_validated_settings"]
        print(
            f"     chance: the learned estimates shuffled across prompts ({null['shuffles']} times) gain "
            f"{null['mean']:+.2f} on average, {null['p95']:+.2f} at the 95th percentile"
        )
        print(
            f"     only the {len(result.json['validated_settings'])} settings on the validation hull: learned "
            f"{gains['learned_validated_settings'].text(1, 2, sign=True)}; shuffled {null_validated['mean']:+.2f} "
            f"on average, {null_validated['p95']:+.2f} at the 95th percentile"
        )
    print(f"\n== MBPP cascade {cascade['steps']} (recorded correctness as the validator), 128 test prompts")
    print(f"{'':42s} {'quality %':>22s} {'cost $/prompt':>14s} {'cost / GPT-4':>20s} {'vs GPT-4, points':>22s} calls")
    for name in ("gpt-4 alone", "cascade", "cascade, learned start"):
        item = cascade[name]
        label = name + (f" ({cascade['learned_start_setting']})" if "learned" in name else "")
        print(
            f"{label:42s} {item['quality'].text(100):>22s} {item['cost'].value:14.6f} "
            f"{item['cost_ratio'].text(1, 3):>20s} "
            f"{item['quality_delta'].text(1, 1, sign=True):>22s} {item['calls_per_prompt']:.2f}"
        )


def _print_row(row: Row) -> None:
    print(f"{row.name:42s} {row.quality.text(100):>22s} {row.cost.value:14.6f} {row.cost_ratio.text(1, 3):>20s}")


def _family_json(result: FamilyResult) -> dict[str, Any]:
    figures = result.figures
    return {
        **result.json,
        "rows": {
            row.name: {"quality": row.quality.json(), "cost_usd": row.cost.json(7), "cost_ratio": row.cost_ratio.json()}
            for row in figures["rows"]
        },
        "random_at_equal_cost": _jsonable(figures["random_at_equal_cost"]),
        "quality_delta_points": figures["quality_delta"].json(2),
        "cost_ratio": figures["cost_ratio"].json(),
        "aiq_points": figures["aiq"],
        "aiq_gain_points": {name: figure.json(2) for name, figure in figures["aiq_gain"].items()},
        "aiq_gain_points_of_shuffled_estimates": {
            key: round(value, 3) for key, value in figures["null_aiq_gain"].items()
        },
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Figure):
        return value.json(7)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


if __name__ == "__main__":
    sys.exit(main())

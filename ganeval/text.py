"""What the terminal shows of ganeval's documents: a bench's quality tables, one run's metrics, a
score, and the registries (``ganeval list``). Plain text built from the documents alone, so the
CLI only echoes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ganeval.metrics.catalog import IS_MEAN, METRICS
from ganeval.tables import fmt_number, markdown_table, table_markdown

if TYPE_CHECKING:
    from ganeval.api import Registries


def bench_summary(frame: pd.DataFrame) -> str:
    """The quality table of each benchmark, as plain markdown (mean ± std)."""
    from ganeval.bench_report import table_metrics
    from ganeval.results import summarize

    if frame.empty:
        return "no complete runs"
    parts = []
    for benchmark in dict.fromkeys(frame["benchmark"]):
        sub = frame[frame["benchmark"] == benchmark]
        metrics = table_metrics(sub, ("quality", "fidelity"))
        parts.append(f"\n{benchmark}\n" + table_markdown(summarize(sub, metrics), metrics, intervals=False))
    return "\n".join(parts)


def run_metrics(doc: dict[str, Any]) -> str:
    """One run's metrics document (``ganeval train`` / ``eval``)."""
    lines = [f"{doc['benchmark']} · {doc['loss']} · seed {doc['seed']} · step {doc['step']} · {doc['status']}"]
    if doc.get("fidelity", {}).get("extractor"):
        f = doc["fidelity"]
        lines.append(f"  fidelity metrics by extractor {f['extractor']} on {f.get('n_generated')} generated vs "
                     f"{f.get('n_real', '–')} real images (not comparable across extractors)")
    for name, value in doc["metrics"].items():
        lines.append(f"  {name:>16}: {fmt_number(value, METRICS.get(name).fmt if name in METRICS else '.4g')}")
    return "\n".join(lines)


def score(doc: dict[str, Any]) -> str:
    """A score's document (``ganeval score``): what was scored against what, every metric, and the
    trace filed with it."""
    src, ref = doc["source"], doc["reference"]
    what = src.get("path") or src.get("generator") or ""
    opts = doc.get("eval_options") or {}
    f = doc.get("fidelity") or {}
    kind = "points" if f.get("extractor") == "raw-points" else "images"
    against = " and ".join(x for x in (
        ref.get("benchmark") and f"benchmark {ref['benchmark']}",
        ref.get("real") and f"{ref['n_real']} real {kind} from {ref['real'].get('path')}",
        ref.get("centers") and (f"your mixture of {ref['centers'].get('n_modes')} modes from {ref['centers'].get('path')} "
                                f"(std {opts.get('std', float('nan')):.4g}, {ref['centers'].get('std_from')})")) if x)
    lines = [f"{doc['loss']}: {src['n']} samples from {src['kind']} {what}"
             + (f" (resized from {src['resized_from']})" if src.get("resized_from") else "") + f", against {against}"]
    if f.get("extractor") == "raw-points":
        lines.append(f"on the raw coordinates of {f.get('n_generated')} generated vs {f.get('n_real')} real points: "
                     f"MMD² unbiased, {f.get('kernel')}; precision/recall with k = {f.get('prc_neighborhood')} "
                     "(Kynkäänniemi et al. 2019)")
    elif f.get("extractor"):
        lines.append(f"FID / IS / KID / precision / recall by feature extractor {f['extractor']} on "
                     f"{f.get('n_generated')} generated vs {f.get('n_real', '–')} real images (KID subsets of "
                     f"{f.get('kid_subset_size', '–')}, IS over {f.get('is_splits')} split(s); not comparable "
                     "across extractors)")
    rows = []
    for key, value in doc["metrics"].items():
        info = METRICS.get(key) if key in METRICS else None
        label = f"{key} ({f.get('is_splits')} splits)" if key == IS_MEAN else key
        arrow = {"higher": "↑", "lower": "↓"}.get(info.direction, "") if info else ""
        rows.append([label + (f" {arrow}" if arrow else ""), fmt_number(value, info.fmt if info else ".4g")])
    lines.append(markdown_table(["metric", "value"], rows))
    trace = doc.get("trace")
    if trace:
        kinds = sorted({e["kind"] for e in doc.get("events") or []})
        lines.append(f"trace {trace['path']}: {trace['rows']} rows to step {trace['last_step']}, "
                     f"{len(doc.get('events') or [])} event(s){' (' + ', '.join(kinds) + ')' if kinds else ''}; "
                     f"events {trace['events_from']}"
                     + (f"; diverged at step {doc['diverged_step']}: quality metrics blanked, as for a trained run"
                        if doc['status'] == 'diverged' else ""))
    return "\n".join(lines)


def verdicts(found: list, alpha: float) -> str:
    """``ganeval check``'s table: every tracked metric's baseline, value now, tolerance, the smallest
    worsening the check flags with 80 % power, the test, its p, the level that p was held to and the
    verdict ("cannot be guarded" where these seed counts cannot flag the metric's worst case)."""
    rows = [[v.key, *(fmt_number(x) for x in (v.baseline, v.now, v.tolerance, v.detectable)), v.test,
             fmt_number(v.p_value), fmt_number(v.level) if v.level == v.level else "none (tolerance only)",
             (v.verdict.upper() if v.failed else v.verdict) + ("" if v.guarded else ", cannot be guarded")]
            for v in found]
    return (markdown_table(["metric", "baseline", "now", "tolerance", "flags a worsening ≥", "test", "p", "level",
                            "verdict"], rows)
            + f"\n\n'flags a worsening ≥': the smallest worsening this check flags with 80 % power at these seed "
            "counts (the baseline's seed spread or rate taken as the truth, baseline and bench drawn anew); ∞: "
            f"none does. 'level': each test's p is held to the Bonferroni level {alpha:g} / {len(found)}; 'none': "
            "one seed on a side, no test, the tolerance alone decides. More seeds lower the figures "
            "(`ganeval baseline init` prints them for 3, 5, 10 and 20 seeds).")


def power(baseline: dict[str, Any], seeds: tuple[int, ...] = (3, 5, 10, 20)) -> str:
    """``ganeval baseline init``'s table: the smallest worsening ``check`` flags at each seed count."""
    from ganeval.regression import power_table

    return ("\nThe smallest worsening `ganeval check` flags with 80 % power, by seed count (baseline and bench "
            "alike; this baseline's seed spread or rate taken as the truth; ∞: none does):\n\n"
            + markdown_table(["metric", "baseline", "tolerance", *(f"{k} seeds" for k in seeds)],
                             power_table(baseline, seeds)))


def registries(found: Registries) -> str:
    """``ganeval list``: every registered loss, benchmark, variant, model, optimizer, executor,
    plugin setting, metric and shipped protocol, and the plugins loaded (:func:`ganeval.registries`)."""
    out = ["losses:"]
    for name, loss in found.losses.items():
        defaults = ", ".join(f"{k}={v}" for k, v in loss.defaults.items())
        out.append(f"  {name:<10} {loss.description}\n  {'':<10} defaults: {defaults} ({loss.paper})")
    out.append("benchmarks:")
    for name, b in found.benchmarks.items():
        out.append(f"  {name:<14} {b.description} ({b.n_modes} modes)")
    out.append("variants (combine with +, e.g. sn+ttur):")
    for name, v in found.variants.items():
        defaults = ", ".join(f"{k}={val}" for k, val in v.defaults.items())
        paper = f" ({v.paper})" if v.paper else ""
        out.append(f"  {name:<10} {v.description}" + (f"\n  {'':<10} sets: {defaults}{paper}" if defaults else ""))
    for title, registry in (("models", found.models), ("optimizers", found.optimizers)):
        out.append(f"{title}:")
        out += [f"  {name:<10} {m.description}" for name, m in registry.items()]
    out.append(f"executors: {', '.join(found.executors)}")
    if found.settings:
        out.append("plugin settings:")
        for name, owned in found.settings.items():
            s = owned.setting
            out.append(f"  {name:<16} {s.type.__name__}, default {s.default!r} ({owned.owner}"
                       + (", batchable in a study" if s.batchable else "") + ")"
                       + (f": {s.description}" if s.description else ""))
    out.append("metrics:")
    out += [f"  {name:<16} ({m.direction}) {m.description}" for name, m in found.metrics.items()]
    out.append("protocols (ganeval bench --protocol NAME):")
    out += [f"  {name:<22} {summary}" for name, summary in found.protocols.items()]
    out += [f"plugin loaded: {p.ref}" + (f" (sha256 {p.sha256[:12]}…)" if p.sha256 else "")
            + (f" ({p.version})" if p.version else "") for p in found.plugins]
    return "\n".join(out)

"""``report.md``: what was run, a table per benchmark (mean ± std over seeds, with n), and a figure
of generated samples per loss. Built from the bench folder alone, so it can be rebuilt any time."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ganeval import fileio
from ganeval.benchmarks import get_benchmark
from ganeval.metrics.catalog import METRICS
from ganeval.results import RESULTS_FILE, incomplete_runs, metric_columns, summarize, write_results

REPORT_FILE = "report.md"
FIGURES = "figures"
ARROW = {"higher": "↑", "lower": "↓", "none": ""}
# Columns that describe the set-up, or a spread within one run, rather than compare cells; they stay
# in results.csv but are left out of the comparison tables.
_CONTEXT_METRICS = {"n_modes", "n_samples", "is_std", "kid_std"}


def fmt_mean_std(mean: float, std: float, n: int, fmt: str) -> str:
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if n == 1 or std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:{fmt}}"
    return f"{mean:{fmt}} ± {std:{fmt}}"


def best_index(values: pd.Series, direction: str) -> set[Any]:
    finite = values.dropna()
    if finite.empty or direction not in ("higher", "lower"):
        return set()
    best = finite.max() if direction == "higher" else finite.min()
    return set(finite.index[finite == best])


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def cell_label(loss: str, variant: str) -> str:
    return loss if variant in (None, "none") else f"{loss} + {variant}"


def benchmark_table(summary: pd.DataFrame, metrics: list[str]) -> str:
    """Rows: cells of one benchmark. Columns: each metric's mean ± std, best in bold, and n."""
    headers = ["loss", "seeds (diverged)"]
    for m in metrics:
        info = METRICS.get(m)
        headers.append(f"{m} {ARROW[info.direction]}".strip())
    bests = {m: best_index(summary[(m, "mean")], METRICS.get(m).direction) for m in metrics}
    rows = []
    for idx, row in summary.iterrows():
        _, loss, variant = idx
        cells = [cell_label(loss, variant), f"{int(row[('runs', 'n')])} ({int(row[('runs', 'diverged')])})"]
        for m in metrics:
            info = METRICS.get(m)
            n = int(row[(m, "n")])
            text = fmt_mean_std(row[(m, "mean")], row[(m, "std")], n, info.fmt)
            if n != int(row[("runs", "n")]) and text != "–":
                text += f" (n={n})"
            cells.append(f"**{text}**" if idx in bests[m] else text)
        rows.append(cells)
    return markdown_table(headers, rows)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = fileio.read_json(path)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _first_seed_samples(bench_dir: Path, frame: pd.DataFrame, benchmark: str) -> list[tuple[str, torch.Tensor, Any]]:
    """Samples of the lowest seed of every cell of ``benchmark``, regenerated from its checkpoint."""
    from ganeval.evaluate import read_config
    from ganeval.train import checkpoint
    from ganeval.train.trainer import CellTrainer

    panels = []
    sub = frame[frame["benchmark"] == benchmark]
    for (loss, variant), cell in sub.groupby(["loss", "variant"], sort=False):
        run_dir = bench_dir / cell.sort_values("seed")["run_dir"].iloc[0]
        run, seed = read_config(run_dir)
        trainer = CellTrainer(run, [seed], [run_dir], torch.device("cpu"))
        payload = checkpoint.latest(run_dir, trainer.config)
        if payload is None:
            continue
        trainer.load_payloads([payload])
        n = min(run.eval_samples, 2500)
        panels.append((f"{cell_label(loss, variant)} (seed {seed})", trainer.generate(n)[0], run))
    return panels


def settings_table(spec: dict[str, Any], frame: pd.DataFrame) -> str:
    keys = ["steps", "batch_size", "n_critic", "optimizer", "lr_d", "lr_g", "betas", "gp_weight", "clip_value", "z_dim"]
    rows = []
    for cell_key, values in spec.get("cell", {}).items():
        bench, loss, *variant = cell_key.split("/")
        if not ((frame["benchmark"] == bench) & (frame["loss"] == loss)).any():
            continue
        rows.append([cell_key, *(str(values.get(k, "")) for k in keys)])
    return markdown_table(["cell", *keys], rows) if rows else ""


def build_report(bench_dir: Path, output: Path | None = None, figures: bool = True) -> Path:
    """Re-aggregate ``results.csv`` and write the markdown report (and its figures)."""
    bench_dir = Path(bench_dir)
    output = Path(output) if output is not None else bench_dir / REPORT_FILE
    frame = write_results(bench_dir)
    spec = _read_toml(bench_dir / "spec.toml")
    env = _read_json(bench_dir / "env.json")
    lines = [f"# ganeval bench report: `{bench_dir.name}`", ""]
    lines += [
        f"- **grid**: benchmarks {', '.join(spec.get('benchmarks', []))}; losses {', '.join(spec.get('losses', []))};"
        f" variants {', '.join(spec.get('variants', ['none']))}; seeds {spec.get('seeds', [])}",
        f"- **device**: {env.get('device_name', env.get('device', '?'))}; torch {env.get('torch', '?')};"
        f" ganeval {env.get('ganeval', '?')}; git commit {env.get('git_commit') or 'unknown'}",
        f"- **started**: {env.get('started', '?')}; wall time {env.get('wall_time_s', float('nan')):.0f} s"
        if isinstance(env.get("wall_time_s"), (int, float)) else f"- **started**: {env.get('started', '?')}",
        f"- **runs**: {len(frame)} complete seed-runs in [`{RESULTS_FILE}`]({RESULTS_FILE})"
        + (f"; {len(incomplete_runs(bench_dir))} incomplete" if incomplete_runs(bench_dir) else ""),
        "",
        "Each cell is mean ± std over seeds (sample std, n-1); n is given where a metric was undefined for some"
        " seeds. Best value per column in bold; ↑ higher is better, ↓ lower is better.",
        "",
    ]
    if frame.empty:
        lines.append("_No complete runs yet._")
    for benchmark in dict.fromkeys(frame["benchmark"]) if not frame.empty else []:
        sub = frame[frame["benchmark"] == benchmark]
        metrics = [m for m in metric_columns(sub) if m not in _CONTEXT_METRICS]
        summary = summarize(sub, metrics)
        bench = get_benchmark(benchmark)
        lines += [f"## {benchmark}", "", f"{bench.description}; {bench.n_modes} modes.", ""]
        first = sub.iloc[0]
        opts = _read_json(bench_dir / first["run_dir"] / "metrics.json").get("eval_options", {})
        if opts:
            lines += ["Evaluation: " + ", ".join(f"{k} = {v}" for k, v in opts.items())
                      + f", {int(first.get('n_samples', 0))} samples per run.", ""]
        lines += [benchmark_table(summary, metrics), ""]
        if figures:
            panels = _first_seed_samples(bench_dir, frame, benchmark)
            if panels:
                rel = f"{FIGURES}/{benchmark}-samples.png"
                bench.save_comparison_figure(output.parent / rel, [(label, s) for label, s, _ in panels],
                                             f"{benchmark}: generated samples (first seed of each loss)", panels[0][2])
                lines += [f"![{benchmark} samples]({rel})", ""]
    table = settings_table(spec, frame)
    if table:
        lines += ["## Settings", "", "Resolved per cell (from `spec.toml`):", "", table, ""]
    lines += ["## Metrics", ""]
    for name in metric_columns(frame):
        info = METRICS.get(name)
        lines.append(f"- `{name}` ({info.direction} is better): {info.description}" if info.direction != "none"
                     else f"- `{name}`: {info.description}")
    fileio.write_text(output, "\n".join(lines) + "\n")
    return output


# --- one traced run (a user's own loop, or any run folder) -------------------------------------
def _trace_matrix(rows_per_seed: list[list[dict[str, float]]], key: str) -> tuple[list[int], torch.Tensor]:
    """Steps common to every seed, and ``[seeds, T]`` values of ``key`` at those steps."""
    common = sorted(set.intersection(*(set(r["step"] for r in rows) for rows in rows_per_seed)))
    values = torch.full((len(rows_per_seed), len(common)), float("nan"), dtype=torch.float64)
    for i, rows in enumerate(rows_per_seed):
        by_step = {r["step"]: r.get(key, float("nan")) for r in rows}
        values[i] = torch.tensor([by_step[s] for s in common], dtype=torch.float64)
    return common, values


def _events_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return "_No event detected._"
    rows = []
    for e in events:
        evidence = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in e["evidence"].items())
        rows.append([str(e["step"]), e["kind"].replace("_", " "), evidence])
    return markdown_table(["step", "event", "evidence"], rows)


def build_trace_report(run_dir: Path, output: Path | None = None) -> Path:
    """Report of one traced run folder (trace.csv [+ events.json]): events, gradient norms per layer,
    losses and D outputs, D's spectral norms. Events are re-detected if events.json is missing."""
    from ganeval.diagnostics.trace import read_trace
    from ganeval.diagnostics.tracer import EVENTS_FILE, TRACE_FILE, write_events
    from ganeval.errors import RunFolderError
    from ganeval.plots import band_figure

    run_dir = Path(run_dir)
    output = Path(output) if output is not None else run_dir / REPORT_FILE
    rows = read_trace(run_dir / TRACE_FILE)
    if not rows:
        raise RunFolderError(f"{run_dir / TRACE_FILE} is missing or empty")
    doc = _read_json(run_dir / EVENTS_FILE)
    events = doc["events"] if isinstance(doc.get("events"), list) else write_events(run_dir)
    columns = set(rows[0])
    figures: list[str] = []

    def figure(name: str, panels: list[tuple[str, list[tuple[str, str]]]], title: str, ylabel: str, log: bool) -> None:
        drawn = []
        for panel_title, curves in panels:
            present = [(label, *_trace_matrix([rows], key)) for label, key in curves if key in columns]
            if present:
                drawn.append((panel_title, present))
        if drawn:
            band_figure(output.parent / FIGURES / f"{name}.png", drawn, title, ylabel, log)
            figures.append(f"![{title}]({FIGURES}/{name}.png)")

    for net, label in (("d", "D"), ("g", "G")):
        layers = sorted(c for c in columns if c.startswith(f"{net}_grad_norm."))
        figure(f"{net}-grad-norms", [(f"{label} gradient L2 norm",
                                      [("total", f"{net}_grad_norm")] + [(c.split(".", 1)[1], c) for c in layers])],
               f"{label} gradient norms, total and per layer", "L2 norm", True)
    figure("losses", [("losses", [("D loss", "d_loss"), ("G loss", "g_loss"), ("penalty", "penalty")]),
                      ("D outputs", [("mean D(real)", "d_real"), ("mean D(fake)", "d_fake"),
                                     ("P[D(real) > D(fake)]", "d_real_above_fake")])],
           "losses and discriminator outputs", "value", False)
    sigma = sorted(c for c in columns if c.startswith("d_sigma."))
    if sigma:
        figure("d-spectral-norms", [("largest singular value", [(c.split(".", 1)[1], c) for c in sigma])],
               "spectral norms of D's weight matrices", "sigma_max", True)
    lines = [f"# ganeval trace report: `{run_dir.name}`", "",
             f"{len(rows)} logged steps ({rows[0]['step']}–{rows[-1]['step']}); {len(events)} event(s) "
             f"(thresholds in `{EVENTS_FILE}`).", "", "## Events", "", _events_table(events), "",
             "## Curves", ""]
    for fig in figures:
        lines += [fig, ""]
    fileio.write_text(output, "\n".join(lines) + "\n")
    return output

"""Published protocols side by side with ganeval: the table of reports/reproductions/README.md.

    python benchmarks/reproductions.py [--runs runs/repro] [--explain runs/explain] [--write reports/reproductions]

Reads every bench folder under ``--runs`` whose name starts with a protocol's name (e.g.
``pacgan-2d-ring8-unit`` for ``--protocol pacgan-2d``), puts each published figure of
``reports/reproductions/published.csv`` beside ganeval's mean ± std and 95 % interval over seeds, and
gives a verdict. With ``--write`` it copies each bench's results.csv, report.md, env.json and figures
into the folder and replaces the generated blocks of its README.md (the text around them is kept).

Verdict: where the paper gives a standard error, *consistent* when the paper's 95 % interval
(value ± 1.96 SE) overlaps ganeval's 95 % t-interval over seeds; where it gives no spread, when the
published value lies within the range of ganeval's seeds; otherwise *different*.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import pandas as pd

from ganeval import rundir
from ganeval.protocols import protocol_names
from ganeval.results import collect, score_failed_seeds, t_interval
from ganeval.spec import cell_label

HERE = Path(__file__).resolve().parent.parent / "reports" / "reproductions"
FMT = {"modes_covered": ".1f", "hq_rate": ".3f", "kl": ".2f"}


def protocol_of(folder: Path) -> str | None:
    names = [p for p in protocol_names() if folder.name == p or folder.name.startswith(p + "-")]
    return max(names, key=len) if names else None


def load_runs(runs: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        protocol = protocol_of(folder)
        if protocol and (folder / rundir.RESULTS_FILE).is_file():
            out.setdefault(protocol, []).append(folder)
    return out


def _frame(folders: list[Path]) -> pd.DataFrame:
    return score_failed_seeds(pd.concat([collect(f) for f in folders], ignore_index=True))


def verdict(row, values: pd.Series) -> str:
    if values.empty:
        return "not run"
    if row.spread_kind == "se":
        lo, hi = t_interval(values)
        half = 1.96 * float(row.spread)
        return "consistent" if lo <= row.value + half and hi >= row.value - half else "different"
    return "consistent" if values.min() <= row.value <= values.max() else "different"


def side_by_side(published: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> str:
    lines = ["| protocol | benchmark | method | metric | published | ganeval (mean ± std, seeds) "
             "| ganeval 95 % interval | verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in published.itertuples():
        frame = frames.get(row.protocol, pd.DataFrame())
        sel = frame[(frame.benchmark == row.benchmark) & (frame.loss == row.loss) & (frame.variant == row.variant)] \
            if not frame.empty else frame
        values = sel[row.metric].dropna() if row.metric in sel else pd.Series(dtype=float)
        f = FMT.get(row.metric, ".3g")
        spread = (f" ± {row.spread:{f}} (SE, {row.trials:.0f} runs)" if row.spread_kind == "se"
                  else f" ({row.trials:.0f} runs, no spread)" if row.spread_kind == "none" else " (figure)")
        pub = f"{row.value:{f}}{spread}"
        if values.empty:
            ours, ci = "–", "–"
        else:
            lo, hi = t_interval(values)
            ours = f"{values.mean():{f}} ± {values.std(ddof=1):{f}} ({len(values)})"
            ci = f"[{lo:{f}}, {hi:{f}}]" if not math.isnan(lo) else "–"
        lines.append(f"| {row.protocol} | {row.benchmark} | {cell_label(row.loss, row.variant)} | {row.metric} | "
                     f"{pub} | {ours} | {ci} | {verdict(row, values)} |")
    return "\n".join(lines)


def trend(folders: list[Path], metrics=("modes_covered", "hq_rate", "kl")) -> str:
    """Mean over seeds of each metric at every evaluated checkpoint: is the budget the difference?"""
    rows = []
    for folder in folders:
        for run_dir in rundir.find_run_dirs(folder):
            doc = rundir.read_metrics(run_dir)
            if doc is None:
                continue
            evals = dict(rundir.read_evals(run_dir, doc.get("eval_config")))
            evals[doc["step"]] = doc["metrics"]  # the final evaluation
            for step, m in sorted(evals.items()):
                rows.append({"benchmark": doc["benchmark"], "method": cell_label(doc["loss"], doc["variant"]),
                             "step": step, **{k: math.nan if m.get(k) is None else m[k] for k in metrics}})
    if not rows:
        return "(no checkpoint evaluations)"
    table = pd.DataFrame(rows).groupby(["benchmark", "method", "step"], sort=False).mean().reset_index()
    lines = ["| benchmark | method | step | " + " | ".join(metrics) + " |", "|---|---|---|" + "---|" * len(metrics)]
    for r in table.itertuples(index=False):
        cells = [f"{getattr(r, k):{FMT.get(k, '.3g')}}" for k in metrics]
        lines.append(f"| {r.benchmark} | {r.method} | {r.step:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def welch_interval(a: pd.Series, b: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """95 % Welch interval of mean(a) - mean(b) over seeds."""
    from scipy import stats

    a, b = a.dropna(), b.dropna()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = a.mean() - b.mean()
    if va + vb == 0:
        return diff, diff
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * math.sqrt(va + vb)
    return diff - half, diff + half


def orderings(published: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> str:
    """Every pair of methods the paper ranks on one metric: does ganeval's seed spread confirm it?"""
    from ganeval.metrics.catalog import METRICS

    lines = ["| protocol | benchmark | metric | published order | ganeval difference (95 % Welch interval) | verdict |",
             "|---|---|---|---|---|---|"]
    for (protocol, bench, metric), rows in published.groupby(["protocol", "benchmark", "metric"], sort=False):
        frame = frames.get(protocol)
        if frame is None or len(rows) < 2:
            continue
        higher = METRICS.get(metric).direction == "higher"
        rows = list(rows.itertuples())
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                if a.value == b.value:
                    continue
                best, worst = (a, b) if (a.value > b.value) == higher else (b, a)
                get = lambda r: frame[(frame.benchmark == bench) & (frame.loss == r.loss)  # noqa: E731
                                      & (frame.variant == r.variant)][metric]
                x, y = get(best), get(worst)
                if x.empty or y.empty:
                    continue
                lo, hi = welch_interval(x, y)
                if not higher:
                    lo, hi = -hi, -lo
                verdict = "confirmed" if lo > 0 else "reversed" if hi < 0 else "not separable"
                f = FMT.get(metric, ".3g")
                lines.append(f"| {protocol} | {bench} | {metric} | {cell_label(best.loss, best.variant)} better than "
                             f"{cell_label(worst.loss, worst.variant)} | [{lo:+{f}}, {hi:+{f}}] | {verdict} |")
    return "\n".join(lines)


def wall_times(folders: list[Path]) -> str:
    """Training wall time per cell (the seeds of a cell train together, so each reports the cell's time)."""
    lines = []
    for folder in folders:
        cells = collect(folder).groupby(["benchmark", "loss", "variant"], sort=False)
        parts = [f"{bench} {cell_label(loss, variant)} {int(g['step'].max()):,} steps {g['train_time_s'].max() / 60:.0f} min"
                 for (bench, loss, variant), g in cells]
        total = sum(g["train_time_s"].max() for _, g in cells) / 60
        lines.append(f"- `{folder.name}` ({cells.ngroups} cells × {cells.size().max()} seeds, {total:.0f} min): "
                     + "; ".join(parts))
    return "\n".join(lines)


def same_seeds(rows: list[tuple[str, Path, dict]], metrics=("modes_covered", "hq_rate", "kl")) -> str:
    """Runs that differ in one setting, on the same seeds: mean ± std of each metric."""
    frames = [(label, collect(folder), where) for label, folder, where in rows if (folder / rundir.RESULTS_FILE).is_file()]
    if not frames:
        return "(not run)"
    seeds = sorted(set.intersection(*(set(f["seed"]) for _, f, _ in frames)))
    lines = [f"| run (seeds {', '.join(map(str, seeds))}) | " + " | ".join(metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for label, frame, where in frames:
        sel = frame[frame["seed"].isin(seeds)]
        for key, value in where.items():
            sel = sel[sel[key] == value]
        cells = [f"{sel[m].mean():{FMT.get(m, '.3g')}} ± {sel[m].std(ddof=1):{FMT.get(m, '.3g')}}" for m in metrics]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def explanations(runs: Path, explain: Path) -> dict[str, str]:
    """The measurement runs behind the README's explanations (``runs/explain``), by README block."""
    ring = {"benchmark": "ring8-unit", "loss": "bce", "variant": "none"}
    longer = {name: trend([explain / folder]) if (explain / folder / rundir.RESULTS_FILE).is_file() else "(not run)"
              for name, folder in (("budget", "pacgan-gan-5000-steps"), ("pac2budget", "pacgan-ring-pac2-5000-steps"))}
    return {
        **longer,
        "simultaneous": same_seeds([("alternating (ganeval), 2,000 steps", runs / "pacgan-2d-ring8-unit", ring),
                                    ("simultaneous (the code), 2,000 steps",
                                     explain / "pacgan-ring-gan-simultaneous", ring)]),
    }


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text:
        return text + f"\n{start}\n{body}\n{end}\n"
    head, rest = text.split(start, 1)
    return head + start + "\n" + body + "\n" + end + rest.split(end, 1)[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/repro"))
    parser.add_argument("--explain", type=Path, default=Path("runs/explain"))
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    published = pd.read_csv(HERE / "published.csv")
    benches = load_runs(args.runs)
    frames = {p: _frame(f) for p, f in benches.items()}
    table = side_by_side(published, frames)
    trends = "\n\n".join(f"**{p}**\n\n{trend(f)}" for p, f in benches.items())
    orders = orderings(published, frames)
    explained = explanations(args.runs, args.explain) if args.explain.is_dir() else {}
    times = "\n".join(wall_times(f) for f in benches.values())
    print(table, "\n", orders, "\n", trends, "\n", times, sep="\n")
    if args.write:
        measured = [p for p in args.explain.iterdir() if (p / rundir.RESULTS_FILE).is_file()] \
            if args.explain.is_dir() else []
        for folders in [*benches.values(), measured]:
            for folder in folders:
                target = args.write / ("explain" if folder in measured else "") / folder.name
                (target / "figures").mkdir(parents=True, exist_ok=True)
                for name in (rundir.RESULTS_FILE, "report.md", "env.json", "spec.toml"):
                    if (folder / name).is_file():
                        shutil.copyfile(folder / name, target / name)
                for png in (folder / "figures").glob("*.png"):
                    shutil.copyfile(png, target / "figures" / png.name)
        readme = args.write / "README.md"
        text = readme.read_text(encoding="utf-8") if readme.is_file() else "# Reproductions\n"
        blocks = {"table": table, "orderings": orders, "trend": trends, "times": times, **explained}
        for name, body in blocks.items():
            text = replace_block(text, name, body)
        readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

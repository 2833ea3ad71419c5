"""``report.md``: what was run, comparison tables per benchmark (quality and stability, mean ± std
over seeds with 95 % intervals), and figures: generated samples, gradient-norm curves, metrics over
training, samples per mode and a timeline of training events. Built from bench folders alone, so
it can be rebuilt any time; several bench folders are compared side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ganeval import fileio, rundir
from ganeval.benchmarks import BENCHMARKS, get_benchmark
from ganeval.errors import RunFolderError, SpecError, arg
from ganeval.metrics.catalog import METRICS
from ganeval.results import SETTING, collect, incomplete_runs, metric_columns, score_failed_seeds, summarize
from ganeval.spec import CellId
from ganeval.tables import markdown_table, row_label, table_markdown
from ganeval.trace_report import trace_matrix


def table_metrics(frame: pd.DataFrame, groups: Sequence[str]) -> list[str]:
    """Registered metrics of ``frame`` in the given report groups, in catalog order, that have values
    (a failed seed's worst value counts: a table of dead runs still shows their KL)."""
    scored = score_failed_seeds(frame)
    return [m for m in metric_columns(frame) if METRICS.get(m).group in groups and scored[m].notna().any()]


def load_frames(bench_dirs: Sequence[Path], collected: dict[Path, pd.DataFrame] | None = None) -> pd.DataFrame:
    """All complete seed-runs of the benches; with several benches a ``bench`` column names each.
    ``collected``: each bench's :func:`collect` frame when the caller already has it."""
    frames = []
    for d in bench_dirs:
        frame = (collected[d] if collected is not None else collect(d)).copy()
        frame["_root"] = str(d)
        if len(bench_dirs) > 1:
            frame.insert(0, "bench", Path(d).name if list(map(lambda p: Path(p).name, bench_dirs)).count(Path(d).name) == 1
                         else str(d))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _run_dirs(frame: pd.DataFrame) -> list[Path]:
    return [Path(root) / rel for root, rel in zip(frame["_root"], frame["run_dir"])]


def _cells(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per cell in order of appearance; labels carry the bench when comparing."""
    keys = [k for k in ("bench", "loss", "variant", SETTING) if k in frame.columns]
    out = []
    for key, rows in frame.fillna({SETTING: ""} if SETTING in frame.columns else {}).groupby(keys, sort=False):
        key = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        label = row_label(key["loss"], key.get("variant"), key.get(SETTING))
        out.append((f"{key['bench']}: {label}" if "bench" in key else label, rows.sort_values("seed")))
    return out


# --- figures -------------------------------------------------------------------------------------
def samples_figure(frame: pd.DataFrame, benchmark: str, path: Path) -> bool:
    """Samples of the lowest seed of each cell, as its evaluation kept them (``samples.pt``)."""
    panels, run = [], None
    for label, rows in _cells(frame):
        run_dir = _run_dirs(rows.iloc[:1])[0]
        samples = rundir.read_samples(run_dir)
        if samples is None:
            continue
        try:
            run, _ = rundir.read_config(run_dir)
        except RunFolderError:  # scored samples (ganeval score): no training spec, default thresholds
            run = None
        panels.append((f"{label} (seed {int(rows['seed'].iloc[0])})", samples))
    if not panels:
        return False
    get_benchmark(benchmark).save_comparison_figure(path, panels, f"{benchmark}: generated samples, first seed of each loss",
                                                    run)
    return True


def gradient_figure(frame: pd.DataFrame, benchmark: str, path: Path) -> bool:
    from ganeval.diagnostics.trace import read_trace
    from ganeval.plots import band_figure

    panels = {"D": [], "G": []}
    for label, rows in _cells(frame):
        traces = [read_trace(rundir.trace_path(d)) for d in _run_dirs(rows)]
        traces = [t for t in traces if t]
        if not traces:
            continue
        for net in ("D", "G"):
            steps, values = trace_matrix(traces, f"{net.lower()}_grad_norm")
            if steps:
                panels[net].append((label, steps, values))
    drawn = [(f"{net} gradient L2 norm", curves) for net, curves in panels.items() if curves]
    if not drawn:
        return False
    band_figure(path, drawn, f"{benchmark}: gradient norms (median over seeds, band: min–max)", "L2 norm", True)
    return True


def training_curves_figure(frame: pd.DataFrame, benchmark: str, path: Path) -> bool:
    """Metrics at evaluated checkpoints (and the final one) per cell, when the spec asked for them."""
    from ganeval.plots import band_figure

    keys = [k for k in ("modes_covered", "fid") if k in frame.columns and frame[k].notna().any()]
    panels: dict[str, list] = {k: [] for k in keys}
    for label, rows in _cells(frame):
        per_seed = []
        for run_dir in _run_dirs(rows):
            final = rundir.read_metrics(run_dir)
            if final is None:
                continue
            evals = rundir.read_evals(run_dir, final.get("eval_config"))
            points = evals + [(final["step"], {k: (math.nan if v is None else v) for k, v in final["metrics"].items()})]
            per_seed.append([{"step": step, **m} for step, m in points])
        if not per_seed or len(per_seed[0]) < 2:
            continue
        for k in keys:
            steps, values = trace_matrix(per_seed, k)
            if len(steps) >= 2:
                panels[k].append((label, steps, values))
    drawn = [(k, curves) for k, curves in panels.items() if curves]
    if not drawn:
        return False
    band_figure(path, drawn, f"{benchmark}: metrics over training (median over seeds, band: min–max)", "value", False)
    return True


def mode_counts_figure(frame: pd.DataFrame, benchmark: str, path: Path) -> bool:
    from ganeval.plots import mode_counts_figure as draw

    series = []
    for label, rows in _cells(frame):
        doc = rundir.read_metrics(_run_dirs(rows.iloc[:1])[0])
        if doc and doc.get("mode_counts"):
            series.append((f"{label} (seed {int(rows['seed'].iloc[0])})", doc["mode_counts"]))
    if not series:
        return False
    weights = getattr(get_benchmark(benchmark), "figure_weights", lambda: None)() if benchmark in BENCHMARKS else None
    if weights is not None and len(weights) != len(series[0][1]):
        weights = None
    draw(path, series, f"{benchmark}: samples per mode (first seed of each loss)", weights=weights)
    return True


def events_figure(frame: pd.DataFrame, benchmark: str, path: Path) -> bool:
    """Each seed-run's events as intervals over training steps. The x axis runs to the last step
    any run traced or recorded (a scored folder's ``metrics.json`` says step 0, its trace does not)."""
    from ganeval.diagnostics.trace import read_trace
    from ganeval.plots import EventSpan
    from ganeval.plots import events_figure as draw

    rows_out, max_step = [], 0
    for label, rows in _cells(frame):
        for run_dir, seed, steps in zip(_run_dirs(rows), rows["seed"], rows["step"]):
            events = rundir.read_events(run_dir) or []
            rows_out.append((f"{label} · seed {int(seed)}", [EventSpan.of(e, e["kind"]) for e in events]))
            trace = read_trace(rundir.trace_path(run_dir))
            max_step = max([max_step, int(steps), *(int(e.get("end") or e["step"]) for e in events),
                            *([int(trace[-1]["step"])] if trace else [])])
    if not any(evs for _, evs in rows_out):
        return False
    draw(path, rows_out, max_step, f"{benchmark}: training events per seed-run")
    return True


# --- the document --------------------------------------------------------------------------------
def _header(bench_dirs: Sequence[Path], frame: pd.DataFrame, specs: dict[Path, dict],
            unreadable_by_dir: dict[Path, list]) -> list[str]:
    lines = []
    for d in bench_dirs:
        spec = specs[d]
        env = rundir.read_env(d)
        wall = env.get("wall_time_s")
        unreadable = unreadable_by_dir[d]
        incomplete = len(incomplete_runs(d)) - len(unreadable)
        title = f"### `{Path(d).name}`" if len(bench_dirs) > 1 else None
        if title:
            lines += [title, ""]
        what = (f"- **what**: benchmarks {', '.join(spec.get('benchmarks', []))}; losses {', '.join(spec.get('losses', []))};"
                f" variants {', '.join(spec.get('variants', ['none']))}; seeds {spec.get('seeds', [])}"
                f" (resolved spec: [`{rundir.SPEC_FILE}`]({Path(d) / rundir.SPEC_FILE if len(bench_dirs) > 1 else rundir.SPEC_FILE}))"
                + (f"; plugins {', '.join(f'`{p}`' for p in spec['plugins'])}" if spec.get("plugins") else "")
                if spec else "- **what**: run folders without a bench spec (e.g. samples scored by `ganeval score`)")
        study = study_text(spec)
        lines += [what] + ([study] if study else []) + ([] if not env else [
            f"- **where**: {env.get('device_name', env.get('device', '?'))}; torch {env.get('torch', '?')};"
            f" torch-fidelity {env.get('torch_fidelity', '?')}; ganeval {env.get('ganeval', '?')};"
            f" git commit `{(env.get('git_commit') or 'unknown')[:12]}`"
            + (" with uncommitted changes to ganeval" if env.get("git_dirty") else ""),
            f"- **when**: started {env.get('started', '?')}"
            + (f"; bench wall time {wall:.0f} s" if isinstance(wall, (int, float)) else "")]) + [
            f"- **runs**: {int((frame['_root'] == str(d)).sum())} complete seed-runs"
            + (f", {incomplete} incomplete" if incomplete else "")
            + (f", {len(unreadable)} unreadable (left out: "
               + "; ".join(f"`{Path(r).relative_to(d)}/{rundir.METRICS_FILE}`: {why}" for r, why in unreadable) + ")"
               if unreadable else "")
            + (f" ([`{rundir.RESULTS_FILE}`]({rundir.RESULTS_FILE}))" if len(bench_dirs) == 1 else ""),
        ]
        extractors = sorted(set(frame.loc[frame["_root"] == str(d), "extractor"].dropna())) if "extractor" in frame else []
        if extractors:
            lines.append(f"- **feature extractor** (FID / IS / KID / precision / recall): {', '.join(extractors)}")
        lines.append("")
    return lines


def _fidelity_note(sub: pd.DataFrame, run_dirs: list[Path]) -> str:
    if "extractor" not in sub.columns or sub["extractor"].isna().all():
        return ""
    doc = rundir.read_metrics(run_dirs[0]) or {}
    f = doc.get("fidelity", {})
    return (f"FID, IS, KID, precision, recall and diversity use feature extractor **{', '.join(sorted(set(sub['extractor'].dropna())))}**"
            f" on {f.get('n_generated', '?')} generated vs {f.get('n_real', '?')} real"
            f" {'images of your own' if (doc.get('reference') or {}).get('real') else 'test images'}"
            f" (KID subsets of {f.get('kid_subset_size', '?')}, IS over {f.get('is_splits', '?')} split(s)). "
            "Numbers from different extractors are not comparable; rows never mix them.")


def settings_table(bench_dirs: Sequence[Path], frame: pd.DataFrame, specs: dict[Path, dict] | None = None) -> str:
    from ganeval.spec import RUN_FIELDS

    specs = specs if specs is not None else {d: rundir.read_spec(d) for d in bench_dirs}
    keys = ["steps", "batch_size", "n_critic", "optimizer", "lr_d", "lr_g", "betas", "gp_weight", "clip_value", "z_dim"]
    # plugins' own settings too: the cells that carry one show it
    keys += sorted({k for spec in specs.values() for values in spec.get("cell", {}).values() for k in values
                    if k not in RUN_FIELDS})
    rows = []
    for d in bench_dirs:
        spec = specs[d]
        for cell_key, values in spec.get("cell", {}).items():
            cell = CellId.from_key(cell_key)
            mask = (frame["_root"] == str(d)) & (frame["benchmark"] == cell.benchmark) & (frame["loss"] == cell.loss)
            if not cell.plain:
                mask &= frame["variant"] == cell.variant
            if not mask.any():
                continue
            label = ([Path(d).name] if len(bench_dirs) > 1 else []) + [cell_key]
            rows.append(label + [str(values.get(k, "")) for k in keys])
    head = (["bench"] if len(bench_dirs) > 1 else []) + ["cell", *keys]
    return markdown_table(head, rows) if rows else ""


def study_section(bench_dir: Path, frame: pd.DataFrame, spec: dict, report_dir: Path, figures: bool = True
                  ) -> list[str]:
    """The study section of a bench with a sweep or search, and its ``study.csv``, from the files
    alone: success rates under the spec's ``[success]`` criteria (or the defaults), best settings,
    probability of improvement, IQM and profiles, and one sentence per benchmark."""
    from ganeval.errors import GanevalError
    from ganeval.results import setting_keys
    from ganeval.success import parse_success
    from ganeval.study_report import study_markdown, write_study_csv

    if not (spec.get("sweep") or spec.get("search")) or frame.empty:
        return []
    rows = frame.drop(columns=[c for c in ("_root", "bench") if c in frame.columns])
    keys = setting_keys(rows)
    try:
        criteria = parse_success(spec.get("success") or {})
        write_study_csv(rows, Path(bench_dir) / rundir.STUDY_FILE, keys, criteria)
        return [study_markdown(rows, report_dir, keys, criteria=criteria, figures=figures), ""]
    except GanevalError as exc:
        return ["## Study: robustness over settings", "", f"No study statistics: {exc}.", ""]


def study_text(spec: dict) -> str:
    """The ``study`` line of a bench's header: what its sweep and search vary (from ``spec.toml``)."""
    from ganeval.sweep import value_text

    parts = [f"{key} in {{{', '.join(value_text(v) for v in values)}}}"
             for key, values in (spec.get("sweep") or {}).items() if isinstance(values, list)]
    search = dict(spec.get("search") or {})
    if search:
        trials, seed = search.pop("trials", "?"), search.pop("seed", 0)
        ranges = ", ".join(f"{key} in [{text.replace(':log', '').replace(':', ', ')}]"
                           + (" (log-uniform)" if str(text).endswith(":log") else "") for key, text in search.items())
        parts.append(f"random search of {ranges}: {trials} trials (Sobol, seed {seed})")
    if not parts:
        return ""
    return ("- **study**: " + "; ".join(parts) + ". Each row below is one setting of one loss; the settings table "
            "shows the cells' other settings")


@dataclass
class ReportResult:
    """``path``: the report written (None when only a table was printed); ``table``: that table's
    text; ``results``: the seed-runs tabulated; ``warnings``: one line each (unreadable seed-runs,
    a spec whose plugins cannot be loaded here); ``study``: a study bench's ``study.csv`` table (one
    row per benchmark x loss x variant), None for a bench without a sweep or search."""

    path: Path | None
    table: str | None
    results: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    study: pd.DataFrame | None = None


def bench_report(dirs: Sequence[Path], output: Path | None = None, fmt: str | None = None) -> ReportResult:
    """``ganeval report``: a report (or, with ``fmt``, only the comparison table) of bench folders,
    or of traced run folders; every folder is read once."""
    from ganeval.tables import render, render_rows

    traced = [rundir.is_trace_folder(d) for d in dirs]
    if any(traced):
        if not all(traced):
            raise SpecError("give bench folders or traced run folders (with trace.csv), not a mix: "
                            + ", ".join(str(d) for d, t in zip(dirs, traced) if not t) + " has no trace")
        from ganeval.trace_report import build_trace_report, load_traces, trace_table

        if fmt is None:
            return ReportResult(build_trace_report(list(dirs), output), None, pd.DataFrame())
        text = render_rows(*trace_table(load_traces(list(dirs))), fmt)
        return ReportResult(_write_table(text, output, fmt), text, pd.DataFrame())
    for d in dirs:
        rundir.check_bench_dir(d)
    warnings, specs, unreadable = [], {}, {}
    for d in dirs:
        specs[d], problem = rundir.read_spec_checked(d)
        warnings += [problem] if problem else []
        unreadable[d] = rundir.unreadable_runs(d)
        warnings += [f"{r / rundir.METRICS_FILE} is unreadable ({why}); this seed-run is left out"
                     for r, why in unreadable[d]]
    if sum(map(len, unreadable.values())):
        warnings.append(f"{sum(map(len, unreadable.values()))} unreadable seed-run(s) left out of the tables")
    collected = {d: collect(d) for d in dirs}
    frame = load_frames(dirs, collected)
    if fmt is not None:
        if frame.empty:
            raise SpecError("no complete runs to tabulate")
        metrics = table_metrics(frame, ("quality", "fidelity", "stability"))
        text = render(summarize(frame.drop(columns=["_root", "run_dir"]), metrics), metrics, fmt)
        return ReportResult(_write_table(text, output, fmt), text, frame, warnings)
    path = build_report(dirs, output, collected=collected, specs=specs, unreadable=unreadable)
    return ReportResult(path, None, frame, warnings, study_table(dirs[0], specs[dirs[0]]) if len(dirs) == 1 else None)


def study_table(bench_dir: Path, spec: dict) -> pd.DataFrame | None:
    """The ``study.csv`` the report just wrote for a study bench, as a data frame (None otherwise)."""
    path = Path(bench_dir) / rundir.STUDY_FILE
    if not (spec.get("sweep") or spec.get("search")) or not path.is_file():
        return None
    import io

    return pd.read_csv(io.StringIO(fileio.read_text(path, what="a study table")))


def _table_heading(text: str, fmt: str) -> str:
    """What identifies a table of one kind and its columns: the header row (csv, md), the preamble
    and header row (latex), the first key (json); the same text for an earlier version of it."""
    lines = text.splitlines()
    if fmt == "latex":
        return "\n".join(lines[:3])
    if fmt == "json":
        return "\n".join(lines[:2] + [lines[2].split(":")[0]]) if len(lines) > 2 else text
    return lines[0] if lines else ""


def _write_table(text: str, output: Path | None, fmt: str) -> Path | None:
    """``text`` to ``output``: an existing file there is replaced only if it is an earlier table of
    the same kind and columns (``report --format F -o FILE`` run again), never anything else."""
    if output is not None:
        heading = _table_heading(text, fmt)
        rundir.check_output(output, arg("output"), replaceable=lambda head: _table_heading(head, fmt) == heading,
                            kind=f"{fmt} table with these columns")
        fileio.write_text(output, text if text.endswith("\n") else text + "\n")
    return output


def build_report(bench_dirs: Path | Sequence[Path], output: Path | None = None, figures: bool = True,
                 refresh_results: bool = True, collected: dict[Path, pd.DataFrame] | None = None,
                 specs: dict[Path, dict] | None = None, unreadable: dict[Path, list] | None = None) -> Path:
    """One markdown report with its figures, from the bench folders alone; ``refresh_results``
    re-aggregates each bench's ``results.csv`` first (``ganeval report``; a bench just wrote it).
    ``collected`` / ``specs`` / ``unreadable``: what the caller has already read of each folder.

    One bench: ``BENCH/report.md`` by default. Several: a side-by-side comparison (default
    ``comparison.md`` next to the first folder, i.e. in its parent: where the benches are, never
    wherever the command happened to run)."""
    dirs = [Path(bench_dirs)] if isinstance(bench_dirs, (str, Path)) else [Path(d) for d in bench_dirs]
    output = Path(output) if output is not None else (dirs[0] / rundir.REPORT_FILE if len(dirs) == 1
                                                      else dirs[0].resolve().parent / "comparison.md")
    collected = collected if collected is not None else {d: collect(d) for d in dirs}
    specs = specs if specs is not None else {d: rundir.read_spec(d) for d in dirs}
    unreadable = unreadable if unreadable is not None else {d: rundir.unreadable_runs(d) for d in dirs}
    frame = load_frames(dirs, collected)
    title = f"`{dirs[0].name}`" if len(dirs) == 1 else " vs ".join(f"`{d.name}`" for d in dirs)
    lines = [f"# ganeval report: {title}", ""] + _header(dirs, frame, specs, unreadable)
    lines += ["Tables: mean ± std over seeds (sample std), its 95 % interval below: for modes covered and the "
              "high-quality rate (counts of modes and of samples) Clopper–Pearson at Korn & Graubard's effective "
              "number of trials, which stays within 0 and the number of modes (or 1); for `diverged` the exact "
              "interval of the count; for the rest the t-interval, cut at 0 where a metric cannot be negative. "
              "`seeds (diverged)` says how many seeds each mean is over. A seed that failed counts with the worst "
              "value of each quality metric it left undefined (0 modes covered, high-quality rate 0, KL = its "
              "maximum, ln(modes) or, for a weighted mixture, `kl_max`, FID and KID ∞, IS 1, precision and recall "
              "0), so a cell never looks better for losing seeds; `(n=k)` marks a metric still undefined for some "
              "seeds. No cell is marked best: with a few seeds the intervals are the comparison. † marks a cell "
              "whose samples mostly miss every mode. ↑ higher is better, ↓ lower is better. Definitions at the "
              "end.", ""]
    if frame.empty:
        lines.append("_No complete runs yet._")
    order = []
    for d in dirs:
        order += specs[d].get("benchmarks", [])
    order += list(frame["benchmark"]) if not frame.empty else []
    for benchmark in dict.fromkeys(order):
        sub = frame[frame["benchmark"] == benchmark] if not frame.empty else frame
        if sub.empty:
            continue
        if benchmark in BENCHMARKS:
            bench = get_benchmark(benchmark)
            lines += [f"## {benchmark}", "", f"{bench.description}; {bench.n_modes} modes.", ""]
        elif benchmark == rundir.CUSTOM_BENCHMARK:  # ganeval score against the user's own real images
            lines += [f"## {benchmark}", "", "Scored against your own real images (`ganeval score --real`); "
                      "no known modes.", ""]
        else:  # a plugin's benchmark whose plugin is not loaded here: the files still say everything tabulated
            lines += [f"## {benchmark}", "", "A benchmark that is not registered here (its plugin is not loaded); "
                      "the tables come from the run folders.", ""]
        opts = (rundir.read_metrics(_run_dirs(sub.iloc[:1])[0]) or {}).get("eval_options", {})
        if opts:
            lines += ["Mode metrics: " + ", ".join(f"{k} = {v}" for k, v in opts.items())
                      + f", {int(sub['n_samples'].dropna().iloc[0]) if 'n_samples' in sub and sub['n_samples'].notna().any() else '?'}"
                      " generated samples per run.", ""]
        quality = table_metrics(sub, ("quality", "fidelity"))
        if quality:
            note = _fidelity_note(sub, _run_dirs(sub))
            lines += ["### Quality", ""] + ([note, ""] if note else []) + [table_markdown(summarize(sub, quality), quality), ""]
        stability = table_metrics(sub, ("stability",))
        if stability:
            lines += ["### Stability", "", "From each run's trace and `events.json` (detector thresholds are recorded there).",
                      "", table_markdown(summarize(sub, stability), stability), ""]
        if figures:
            made = []
            for name, fn, caption in (
                    ("samples", samples_figure if len(dirs) == 1 and benchmark in BENCHMARKS else None,
                     "generated samples"),
                    ("gradients", gradient_figure, "gradient norms"),
                    ("training", training_curves_figure, "metrics over training"),
                    ("modes", mode_counts_figure, "samples per mode"),
                    ("events", events_figure, "training events")):
                path, rel = rundir.figure_path(output.parent, f"{benchmark}-{name}")
                if fn is not None and fn(sub, benchmark, path):
                    made.append(f"![{benchmark}: {caption}]({rel})")
            if made:
                lines += ["### Figures", ""] + [x for m in made for x in (m, "")]
    if len(dirs) == 1:
        lines += study_section(dirs[0], frame, specs[dirs[0]], output.parent, figures)
    table = settings_table(dirs, frame, specs) if not frame.empty else ""
    if table:
        lines += ["## Settings", "", "Resolved per cell (`spec.toml`); every other setting is in each run's `config.json`.",
                  "", table, ""]
    lines += ["## Definitions", ""]
    for name in metric_columns(frame) if not frame.empty else []:
        info = METRICS.get(name)
        arrow = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(info.direction, "")
        lines.append(f"- `{name}`{arrow}: {info.description}")
    fileio.write_text(output, "\n".join(lines) + "\n")
    if refresh_results:  # last: a report that fails leaves results.csv as it was
        for d in dirs:
            rundir.write_results(d, collected[d])
    return output

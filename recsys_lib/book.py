"""Execute the book's notebooks with papermill, in ``_toc.yml`` order, and record costs.

    python -m recsys_lib.book run [--profile full|smoke] [--output-dir DIR] [--only NAME]
    python -m recsys_lib.book nbval [--lanes 2] -- PYTEST_ARGS    (what ``make test`` runs)

With the default output (the notebooks themselves) the executed notebooks replace the
committed ones, and ``book/_generated/`` receives the run log and the table that the
Reproducibility page shows: wall time and peak memory per notebook, and package versions.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

__all__ = ["ROOT", "toc_notebooks", "run_notebook", "run_book", "plan_lanes", "run_nbval"]

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "book" / "_generated"
VERSIONED = ["tensorflow-cpu", "tensorflow", "keras", "numpy", "scipy", "pandas", "matplotlib",
             "papermill", "nbval", "jupyter-book", "sphinx", "myst-nb"]


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if f and (root / f"{f}.ipynb").is_file():
                files.append(root / f"{f}.ipynb")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return files


class _PeakMemory:
    """Samples the memory of this process's children (the kernel and what it starts) in a thread.

    ``peak`` is the largest sum of their *proportional* set sizes (PSS): a page shared by several
    processes, such as TensorFlow's libraries mapped by a kernel and its worker processes, is
    divided among them, so the sum is the physical memory the chapter uses. Summing resident
    sizes (RSS) would count each shared library once per process (a TensorFlow process has
    about 350 MiB resident but under 140 MiB proportional). ``peak_kernel_rss`` is the largest
    RSS of the kernel alone. Where PSS is not available, RSS stands in.
    """

    def __init__(self, every: float = 0.25, pss_every: float = 5.0):
        import psutil

        self.proc, self.every, self.pss_every = psutil.Process(), every, pss_every
        self.peak, self.peak_kernel_rss = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        # RSS is cheap to read; PSS costs tens of milliseconds per large process (the kernel
        # walks its page tables), so it is read every ``pss_every`` seconds and whenever the
        # summed RSS has grown by 64 MiB past its highest (a PSS peak comes with a high RSS)
        import psutil

        top_rss, last_pss = 0, 0.0
        while not self._stop.is_set():
            procs = []
            for c in self.proc.children(recursive=True):
                try:
                    procs.append((c, c.memory_info().rss))
                except psutil.Error:
                    pass
            rss = sum(r for _, r in procs)
            for c, r in procs:
                try:
                    if "kernel" in " ".join(c.cmdline()):
                        self.peak_kernel_rss = max(self.peak_kernel_rss, r)
                except psutil.Error:
                    pass
            now = time.perf_counter()
            if rss > top_rss + 64 * 2**20 or now - last_pss >= self.pss_every:
                top_rss, last_pss, total = max(top_rss, rss), now, 0
                for c, r in procs:
                    try:
                        total += getattr(c.memory_full_info(), "pss", r)
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _tidy(path: Path) -> list[dict]:
    """Hide the parameter cells in the book; drop volatile papermill metadata; leave the
    injected parameters cell as ruff formats it (tests/test_style.py). Returns the three
    slowest code cells (index, seconds, first line), read from papermill's timings before
    they are dropped: where a chapter's time goes."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    timed = [
        {"cell": i, "seconds": round(float(c.metadata["papermill"]["duration"]), 1),
         "starts": next((ln for ln in c.source.splitlines() if ln.strip()), "")[:60]}
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.metadata.get("papermill", {}).get("duration") is not None
    ]
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "injected-parameters" in tags:   # papermill ends it with a blank line; ruff does not
            cell.source = cell.source.rstrip()
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)
    return sorted(timed, key=lambda r: -r["seconds"])[:3]


def run_notebook(path: Path, output: Path, profile: str = "full") -> dict:
    """Execute one notebook with papermill; return its wall time and peak memory."""
    import papermill as pm

    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}
    os.environ.update({k: os.environ.get(k, v) for k, v in env.items()})
    import tempfile

    from .model_store import USAGE_ENV, usage

    output.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recsys-store-usage-") as tmp:
        log = Path(tmp) / "usage.txt"
        os.environ[USAGE_ENV] = str(log)      # the kernel inherits it: the models it uses
        try:
            with _PeakMemory() as mem:
                pm.execute_notebook(str(path), str(output), parameters={"profile": profile},
                                    kernel_name="python3", cwd=str(path.parent),
                                    progress_bar=False, log_output=False,
                                    request_save_on_cell_execute=False)
        finally:
            os.environ.pop(USAGE_ENV, None)
        models = usage(log)
    slowest = _tidy(output)
    return {"notebook": path.stem, "profile": profile,
            "seconds": round(time.perf_counter() - t0, 1),
            "peak_memory_MiB": round(mem.peak / 2**20),
            "peak_kernel_rss_MiB": round(mem.peak_kernel_rss / 2**20),
            "models": models, "slowest_cells": slowest}


def _versions() -> dict:
    from .keys import package_versions

    return {"python": platform.python_version(), **package_versions(VERSIONED)}


def model_store_state() -> str:
    """"empty" when the model store holds no trained model, as on a fresh clone (chapters
    restore the committed weights, ``model_store.published_dir``, and train the rest), else
    "filled" (models trained by an earlier run are restored)."""
    from .model_store import store_dir

    d = store_dir()
    return "filled" if d.is_dir() and any(d.glob("*.npz")) else "empty"


def models_used(log: list[dict] | None = None) -> list[str]:
    """The model-store files the chapters of the last run log loaded or saved: what
    ``publish_models`` commits."""
    if log is None:
        try:
            log = json.loads((GENERATED / "run_log.json").read_text())["runs"]
        except (OSError, ValueError, KeyError):
            return []
    return sorted({m for r in log for m in r.get("models", [])})


def publish_models() -> dict:
    """Commit (into ``results/models``) exactly the weights the last full run of the book used,
    so that a fresh clone restores them (``recsys_lib.model_store``)."""
    from .model_store import publish

    log = json.loads((GENERATED / "run_log.json").read_text())["runs"]
    if {r.get("profile") for r in log} != {"full"} or any("models" not in r for r in log):
        raise RuntimeError("publish after a full run of the book (python -m recsys_lib.book "
                           "run --profile full), which lists the models every chapter used")
    return publish(models_used(log))


def write_reproducibility(log: list[dict], wall_seconds: float | None = None, jobs: int = 1) -> None:
    """The run log (JSON) and the Markdown table shown on the Reproducibility page.

    A run that started from an empty model store (``model_store_state``) is also kept as
    ``run_log_fresh.json``, so that the table gives each chapter's time both ways: with the
    models of earlier runs restored, and on a fresh clone, where the chapters train them.
    """
    GENERATED.mkdir(parents=True, exist_ok=True)
    info = {"runs": log, "wall_seconds": wall_seconds, "jobs": jobs, "versions": _versions(),
            "machine": {"cpus": os.cpu_count(), "system": platform.system(),
                        "machine": platform.machine()}}
    (GENERATED / "run_log.json").write_text(json.dumps(info, indent=1) + "\n")
    fresh_path = GENERATED / "run_log_fresh.json"
    if log and all(r.get("model_store") == "empty" for r in log):
        fresh_path.write_text(json.dumps(info, indent=1) + "\n")
    try:
        fresh_info = json.loads(fresh_path.read_text())
    except (OSError, ValueError):
        fresh_info = {}
    fresh = {r["notebook"]: r["seconds"] for r in fresh_info.get("runs", [])}
    lines = ["| chapter | profile | wall time (s) | on a fresh clone (s) | peak memory, kernel "
             "and its processes (PSS, MiB) | peak resident memory of the kernel (MiB) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{r['notebook']}` | {r['profile']} | {r['seconds']} "
              f"| {fresh.get(r['notebook'], 'not measured')} | {r['peak_memory_MiB']} "
              f"| {r.get('peak_kernel_rss_MiB', '–')} |" for r in log]
    total = sum(r["seconds"] for r in log)
    how = (f"{jobs} notebooks at a time, so each chapter's time includes sharing the machine; "
           f"the whole book took {wall_seconds:.0f} s of wall-clock time"
           if jobs > 1 and wall_seconds else f"one notebook at a time, {total:.0f} s in all")
    states = {r.get("model_store") for r in log}
    store = ("The wall time is with the model store filled by an earlier run (chapters restore "
             "the models they would otherwise train)" if states == {"filled"} else
             "The wall time is from an empty model store, as on a fresh clone (chapters restore "
             "the committed weights of results/models and train the rest)"
             if states == {"empty"} else "The wall times mix runs with an empty and a filled "
             "model store")
    if fresh_info.get("wall_seconds"):
        store += (f"; with an empty store, as on a fresh clone, the whole book took "
                  f"{fresh_info['wall_seconds']:.0f} s of wall-clock time")
    lines += ["", f"Executed on {os.cpu_count()} CPU cores ({platform.system()} "
              f"{platform.machine()}), {how}. {store}.", "",
              "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info["versions"].items()]
    (GENERATED / "reproducibility.md").write_text("\n".join(lines) + "\n")


def expected_seconds(profile: str) -> dict[str, float]:
    """Each chapter's wall time in the last recorded run of ``profile`` (empty if none)."""
    path = GENERATED / "run_log.json"
    try:
        runs = json.loads(path.read_text()).get("runs", [])
    except (OSError, ValueError):
        return {}
    return {r["notebook"]: float(r["seconds"]) for r in runs if r.get("profile") == profile}


def notebook_needs(path: Path) -> set[str]:
    """Chapters that must have run before ``path`` (``metadata.recsys.needs`` of the notebook):
    the ones whose trained models it restores from the model store instead of training them."""
    meta = json.loads(path.read_text()).get("metadata", {})
    return set(meta.get("recsys", {}).get("needs", []))


def critical_path(needs: dict[str, set], seconds: dict[str, float]) -> dict[str, float]:
    """Each chapter's expected seconds plus those of the longest chain of chapters that wait
    for it (``needs`` maps a chapter to the chapters it needs; a chapter with no recorded time
    counts as infinitely long, so that a new chapter starts early).

    Starting the chapter with the longest such path first keeps a chapter that others wait for
    from starting late: chapter 3 took 173 s, but chapters 9 and 10 wait for it, so it goes
    before a 270 s chapter that nobody waits for.
    """
    waiting = {s: [t for t, n in needs.items() if s in n] for s in needs}
    memo: dict[str, float] = {}

    def path(stem, seen=()):
        if stem in seen:
            raise RuntimeError(f"chapters need each other in a cycle: {' -> '.join(seen + (stem,))}")
        if stem not in memo:
            memo[stem] = seconds.get(stem, float("inf")) + max(
                (path(t, seen + (stem,)) for t in waiting[stem]), default=0.0)
        return memo[stem]

    return {s: path(s) for s in needs}


def run_book(profile: str = "full", output_dir: Path | None = None, only=None,
             jobs: int = 1) -> list[dict]:
    """Execute the notebooks of the table of contents, ``jobs`` at a time, with a progress bar.

    Each notebook runs in its own kernel. A notebook starts only after the chapters it needs
    (``notebook_needs``) have finished. Among the ready ones, the chapter with the longest
    ``critical_path`` (its time in the last run of the same profile, plus the chapters that
    wait for it) starts first (ties keep reading order), so that neither a long chapter nor
    one that others wait for starts late and leaves a core idle. One notebook
    rarely keeps two cores busy, so two at a time finish the book sooner; each chapter's
    recorded time then includes the slowdown of sharing the machine.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from tqdm import tqdm

    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    books = [p for p in toc_notebooks() if not only or p.stem in only]
    stems = {p.stem for p in books}
    needs = {p.stem: notebook_needs(p) & stems for p in books}
    store = model_store_state()
    first = critical_path(needs, expected_seconds(profile))
    pending = sorted(books, key=lambda p: -first[p.stem])   # stable: reading order
    running, done, results = {}, set(), {}
    bar = tqdm(total=len(books), desc="notebooks", unit="nb", file=sys.stderr)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            for path in list(pending):
                if len(running) >= jobs:
                    break
                if needs[path.stem] <= done:
                    out = (output_dir / path.name) if output_dir else path
                    running[pool.submit(run_notebook, path, out, profile)] = path
                    pending.remove(path)
            if not running:
                raise RuntimeError(f"cannot order the notebooks: {[p.stem for p in pending]} wait "
                                   f"for chapters that never run")
            bar.set_postfix_str(", ".join(p.stem for p in running.values()))
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                path = running.pop(fut)
                results[path.stem] = {**fut.result(), "model_store": store}
                done.add(path.stem)
                bar.update()
                tqdm.write(f"{path.stem}: {results[path.stem]['seconds']} s, "
                           f"{results[path.stem]['peak_memory_MiB']} MiB", file=sys.stderr)
    bar.close()
    log = [results[p.stem] for p in books]
    wall = round(time.perf_counter() - t0, 1)
    if output_dir is None:
        if only:   # keep the other chapters' rows of the last full run, in reading order
            old = GENERATED / "run_log.json"
            previous = json.loads(old.read_text()) if old.exists() else {}
            runs = {r["notebook"]: r for r in previous.get("runs", [])}
            runs.update({r["notebook"]: r for r in log})
            order = [p.stem for p in toc_notebooks()]
            log = [runs[n] for n in order if n in runs]
            wall, jobs = previous.get("wall_seconds"), previous.get("jobs", jobs)
        write_reproducibility(log, wall, jobs)
    return log


def plan_lanes(books: list[Path], lanes: int = 2, seconds: dict | None = None) -> list[list[Path]]:
    """Split the notebooks into ``lanes`` sequences that run side by side.

    Longest ``critical_path`` first (by ``seconds``, the last full run), each to the lane that
    frees up first,
    and a notebook only after the chapters it needs are planned to have finished (so that it
    restores their models instead of training them again). Within a lane, notebooks run in
    the planned order.
    """
    seconds = expected_seconds("full") if seconds is None else seconds
    stems = {p.stem for p in books}
    needs = {p.stem: notebook_needs(p) & stems for p in books}
    cost = {p.stem: seconds.get(p.stem, max(seconds.values(), default=60.0)) for p in books}
    first = critical_path(needs, cost)
    pending = sorted(books, key=lambda p: -first[p.stem])
    plan, free, done_at = [[] for _ in range(lanes)], [0.0] * lanes, {}
    while pending:
        lane = min(range(lanes), key=lambda i: free[i])
        ready = [p for p in pending if needs[p.stem] <= set(done_at)]
        if not ready:
            raise RuntimeError(f"cannot order the notebooks: {[p.stem for p in pending]}")
        # prefer one whose needs are done by the time this lane is free; else the soonest ready
        on_time = [p for p in ready if max((done_at[n] for n in needs[p.stem]), default=0.0)
                   <= free[lane]]
        p = on_time[0] if on_time else min(ready, key=lambda q: max(done_at[n] for n in needs[q.stem]))
        start = max([free[lane]] + [done_at[n] for n in needs[p.stem]])
        done_at[p.stem] = free[lane] = start + cost[p.stem]
        plan[lane].append(p)
        pending.remove(p)
    return [lane for lane in plan if lane]


def run_nbval(pytest_args: list[str], lanes: int = 2) -> int:
    """nbval over every notebook of the book, ``lanes`` pytest processes side by side
    (``plan_lanes``); each notebook runs once, in its own kernel. Returns the exit status."""
    import subprocess
    import tempfile

    plan = plan_lanes(toc_notebooks(), lanes)
    procs = []
    with tempfile.TemporaryDirectory(prefix="nbval-") as tmp:
        for i, lane in enumerate(plan):
            log = open(Path(tmp) / f"lane-{i}.log", "w+")
            cmd = [sys.executable, "-m", "pytest", *pytest_args, *map(str, lane)]
            print(f"lane {i}: {' '.join(p.stem for p in lane)}", flush=True)
            procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))
        codes = []
        for i, (proc, log) in enumerate(procs):
            codes.append(proc.wait())
            log.seek(0)
            print(f"----- lane {i} (exit {codes[-1]})\n" + log.read(), flush=True)
            log.close()
    return next((c for c in codes if c), 0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m recsys_lib.book")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebooks with papermill")
    r.add_argument("--profile", default="full", choices=["full", "smoke"])
    r.add_argument("--output-dir", type=Path, default=None,
                   help="write executed copies here instead of replacing the notebooks")
    r.add_argument("--only", nargs="*", help="notebook names (stems) to run")
    r.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="notebooks executed at a time (default: 2, or 1 on a single core)")
    n = sub.add_parser("nbval", help="nbval over every notebook, two pytest processes side by side")
    n.add_argument("--lanes", type=int, default=2)
    n.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: pytest's arguments")
    sub.add_parser("publish-models", help="commit the weights the last full run used into "
                   "results/models, so that a fresh clone restores them")
    args = p.parse_args(argv)
    if args.cmd == "publish-models":
        done = publish_models()
        print(f"results/models holds {done['files']} files, {done['MB']} MB: "
              f"{len(done['copied'])} copied, {len(done['removed'])} removed; left out: "
              f"{done['left_out'] or 'none'}")
        return 0
    if args.cmd == "nbval":
        rest = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
        return run_nbval(rest, args.lanes)
    run_book(args.profile, args.output_dir, args.only, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

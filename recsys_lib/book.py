"""Execute the book's notebooks with papermill, in ``_toc.yml`` order, and record costs.

    python -m recsys_lib.book run [--profile full|smoke] [--output-dir DIR] [--only NAME]

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
from importlib import metadata
from pathlib import Path

__all__ = ["ROOT", "toc_notebooks", "run_notebook", "run_book"]

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
    """Samples the summed RSS of this process's children (the kernel) in a thread."""

    def __init__(self, every: float = 0.2):
        import psutil

        self.proc, self.every, self.peak = psutil.Process(), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            rss = 0
            for c in self.proc.children(recursive=True):
                try:
                    rss += c.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, rss)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _tidy(path: Path) -> None:
    """Hide the parameter cells in the book; drop volatile papermill metadata."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, path)


def run_notebook(path: Path, output: Path, profile: str = "full") -> dict:
    """Execute one notebook with papermill; return its wall time and peak memory."""
    import papermill as pm

    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}
    os.environ.update({k: os.environ.get(k, v) for k, v in env.items()})
    output.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _PeakMemory() as mem:
        pm.execute_notebook(str(path), str(output), parameters={"profile": profile},
                            kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                            log_output=False, request_save_on_cell_execute=False)
    _tidy(output)
    return {"notebook": path.stem, "profile": profile,
            "seconds": round(time.perf_counter() - t0, 1),
            "peak_memory_MiB": round(mem.peak / 2**20)}


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_reproducibility(log: list[dict]) -> None:
    """The run log (JSON) and the Markdown table shown on the Reproducibility page."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    info = {"runs": log, "versions": _versions(), "machine": {
        "cpus": os.cpu_count(), "system": platform.system(), "machine": platform.machine()}}
    (GENERATED / "run_log.json").write_text(json.dumps(info, indent=1) + "\n")
    lines = ["| chapter | profile | wall time (s) | peak kernel memory (MiB) |", "|---|---|---|---|"]
    lines += [f"| `{r['notebook']}` | {r['profile']} | {r['seconds']} | {r['peak_memory_MiB']} |"
              for r in log]
    total = sum(r["seconds"] for r in log)
    lines += ["", f"Total execution time: {total:.0f} s on {os.cpu_count()} CPU cores "
              f"({platform.system()} {platform.machine()}).", "",
              "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info["versions"].items()]
    (GENERATED / "reproducibility.md").write_text("\n".join(lines) + "\n")


def run_book(profile: str = "full", output_dir: Path | None = None, only=None) -> list[dict]:
    """Execute every notebook of the table of contents, with a progress bar across them."""
    from tqdm import tqdm

    books = [p for p in toc_notebooks() if not only or p.stem in only]
    log = []
    bar = tqdm(books, desc="notebooks", unit="nb", file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.stem)
        out = (output_dir / path.name) if output_dir else path
        log.append(run_notebook(path, out, profile))
        tqdm.write(f"{path.stem}: {log[-1]['seconds']} s, {log[-1]['peak_memory_MiB']} MiB",
                   file=sys.stderr)
    if output_dir is None:
        if only:   # keep the other chapters' rows of the last full run, in reading order
            old = GENERATED / "run_log.json"
            runs = {r["notebook"]: r for r in
                    (json.loads(old.read_text())["runs"] if old.exists() else [])}
            runs.update({r["notebook"]: r for r in log})
            order = [p.stem for p in toc_notebooks()]
            log = [runs[n] for n in order if n in runs]
        write_reproducibility(log)
    return log


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m recsys_lib.book")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute the notebooks with papermill")
    r.add_argument("--profile", default="full", choices=["full", "smoke"])
    r.add_argument("--output-dir", type=Path, default=None,
                   help="write executed copies here instead of replacing the notebooks")
    r.add_argument("--only", nargs="*", help="notebook names (stems) to run")
    args = p.parse_args(argv)
    run_book(args.profile, args.output_dir, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

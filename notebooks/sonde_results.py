"""Reading Sonde's results folder from the notebooks.

The folder is the one `experiments run` and `experiments cost` write: `cost.json`, and one
`<experiment>/<run-id>.json` per run in the workspace's result schema. As the cost model does
(experiments/src/cost/measured.rs), the complete runs of an experiment at the largest scale
present are pooled, and failed runs are never read.

The folder is `$SONDE_RESULTS`, or `../results` beside the notebooks (the committed reference
results).
"""

import json
import os
from pathlib import Path

SCALES = ["tiny", "quick", "full"]


def folder():
    return Path(os.environ.get("SONDE_RESULTS", Path(__file__).resolve().parent.parent / "results"))


def cost():
    """The cost table, as `experiments cost` wrote it."""
    path = folder() / "cost.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no cost table (run `experiments cost --results {folder()}`)")
    return json.loads(path.read_text())


def runs(experiment):
    """(scale, steps, files) of the complete runs of `experiment` at the largest scale present."""
    read = []
    for path in sorted((folder() / experiment).glob("*.json")):
        report = json.loads(path.read_text())
        if report.get("status") != "complete":
            continue
        read.append((SCALES.index(report["experiment"]["scale"]), report["figures"]["steps"], path))
    if not read:
        raise FileNotFoundError(f"{folder() / experiment}: no complete run")
    top = max(scale for scale, _, _ in read)
    steps = [s for scale, steps, _ in read if scale == top for s in steps]
    files = [p.name for scale, _, p in read if scale == top]
    return SCALES[top], steps, files


def quote(row, i):
    """The i-th provider's bill of a cost-table row, or None where it cannot host the need."""
    q = row["quotes"][i]
    return q.get("Ok")

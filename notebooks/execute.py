"""Executes notebooks headlessly with nbclient; a failing cell fails the run (exit status 1).

Usage: python execute.py [--results DIR] NOTEBOOK...
The notebooks read DIR (default: ../results) through $SONDE_RESULTS, and run with this
folder as their working directory. The notebook files are not modified.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", help="the results folder the notebooks read")
    parser.add_argument("--timeout", type=int, default=300, help="seconds a cell may take")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()
    if args.results:
        os.environ["SONDE_RESULTS"] = str(Path(args.results).resolve())
    failed = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        started = time.monotonic()
        # The kernel listens on loopback TCP ports (ipykernel warns that they are unencrypted).
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent.resolve())}})
        try:
            client.execute()
        except CellExecutionError as e:
            failed += 1
            print(f"FAILED {path}:\n{e}", file=sys.stderr)
            continue
        cells = sum(1 for c in nb.cells if c.cell_type == "code")
        print(f"ok {path.name}: {cells} code cells in {time.monotonic() - started:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

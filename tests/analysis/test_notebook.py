"""The walkthrough notebook (analysis/walkthrough.ipynb) runs green, with few draws.

It is executed cell by cell in a fresh kernel (nbclient) with its sampling sizes set from
the environment, so it cannot rot when the API changes. The executed copy is written to
``$ALLIANCE_NOTEBOOK_DIR`` when set (to look at its outputs).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "analysis" / "walkthrough.ipynb"
# Tiny sampling: the notebook's plumbing, not its statistics (the gates refuse the verdict).
SETTINGS = {"ALLIANCE_NOTEBOOK_DRAWS": "100", "ALLIANCE_NOTEBOOK_TUNE": "100",
            "ALLIANCE_NOTEBOOK_CHAINS": "2"}


def test_walkthrough_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for key, value in SETTINGS.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    monkeypatch.setenv("ALLIANCE_NOTEBOOK_OUT", str(tmp_path / "out"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()  # raises CellExecutionError naming the failing cell
    finally:
        target = os.environ.get("ALLIANCE_NOTEBOOK_DIR")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, Path(target) / NOTEBOOK.name)

    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))
    assert "2 chains x 100 draws after 100 tuning steps" in text  # the settings reached it
    assert "Verdict:" in text
    assert (tmp_path / "out" / "run" / "report.html").is_file()
    assert (tmp_path / "out" / "run" / "checks" / "checks.json").is_file()
    # the rater model on a coding sheet: its run, the rater check and the report
    assert "measurement: raters" in text and "Krippendorff's alpha" in text
    assert (tmp_path / "out" / "rater_run" / "report.html").is_file()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []

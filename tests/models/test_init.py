"""The package guards against a local `data` module shadowing ours."""

from __future__ import annotations

import subprocess
import sys


def test_shadowing_data_module_is_named(tmp_path):
    (tmp_path / "data.py").write_text("x = 1\n")
    result = subprocess.run([sys.executable, "-c", "import models"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert str(tmp_path / "data.py") in result.stderr
    assert "rename it" in result.stderr


def test_public_api():
    import models

    for name in models.__all__:
        assert getattr(models, name) is not None
    assert callable(models.fit) and callable(models.contributions)

"""`pip install .` (pyproject.toml) gives an importable package with its data files and an
`autoencoder` command: checked in a fresh virtual environment that borrows this one's packages."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_pip_install_gives_the_autoencoder_command_and_the_package_data(tmp_path):
    source = tmp_path / "source"  # a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    shutil.copytree(REPO / "autoencoder", source / "autoencoder", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    venv = tmp_path / "venv"
    # No pip of its own (it would bring an old setuptools): this environment's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python, command = venv / "bin" / "python", venv / "bin" / "autoencoder"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-build-isolation", str(source)], check=True, cwd=tmp_path, timeout=600)
    listing = subprocess.run([str(command), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert listing.returncode == 0, listing.stderr[-2000:]
    for name in ("train", "eval", "compress", "decompress", "bench", "load-test"):
        assert f"  {name} " in listing.stdout
    where = subprocess.run([str(python), "-c", "import autoencoder, autoencoder.views as v; print(autoencoder.__file__); "
                            "print(len(v.SWIPE_JS) > 0, (v.WEB.parent / 'published_kodak.json').exists())"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
    installed, data = where.stdout.split("\n")[:2]
    assert str(REPO) not in installed and "site-packages" in installed  # the installed copy, not a checkout
    assert data == "True True"

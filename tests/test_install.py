"""`pip install .` (pyproject.toml) gives importable packages with their data files and an
`autoencoder` command. The wheel is built with this environment's pinned setuptools
(requirements-dev.txt) and installed into a folder of its own, then run by this interpreter
with only that folder added: it works the same in a plain venv and in the system Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_pip_install_gives_the_autoencoder_command_and_the_package_data(tmp_path):
    source = tmp_path / "source"  # a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    for package in ("autoencoder", "explorer"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(source)], check=True, cwd=tmp_path, timeout=600)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site),
                    *map(str, wheels.glob("*.whl"))], check=True, cwd=tmp_path, timeout=600)
    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run([str(site / "bin" / "autoencoder"), "--help"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=300, env=env)
    assert listing.returncode == 0, listing.stderr[-2000:]
    for name in ("train", "eval", "compress", "decompress", "bench", "uses"):
        assert f"  {name} " in listing.stdout
    where = subprocess.run([sys.executable, "-c", "import pathlib, autoencoder, explorer.views as v; print(autoencoder.__file__); "
                            "print((v.WEB / 'swipe.js').exists(), (v.WEB / 'swipe.css').exists(), "
                            "(pathlib.Path(autoencoder.__file__).parent / 'published_kodak.json').exists())"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert where.returncode == 0, where.stderr[-2000:]
    installed, data = where.stdout.split("\n")[:2]
    assert installed.startswith(str(site))  # the installed copy, not a checkout
    assert data == "True True True"

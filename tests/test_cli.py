"""Issue 22 through the commands: every CLI case of tests/corpus.py gives its refusal lines,
exit status 2, writes exactly what it should and changes nothing else in its folder (hashed
before and after); no command shows a traceback or hangs on a FIFO or a device."""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autoencoder import codec, compress
from autoencoder.__main__ import main as cli
from autoencoder.data import to_tensor
from conftest import REPO, photo
from corpus import CLI_CASES, encoded, lay_out
from test_codec import codec_weights, codecs  # noqa: F401 (fixtures: two tiny codec models)

MODEL = "codec-hp"


def snapshot(folder: Path) -> dict[str, object]:
    """Everything under folder, links not followed: a file by its sha256 (a file over 16 MB, a
    sparse one, by size and modification time), a link by its target, anything else by its type."""
    seen = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root) / name
            info = path.lstat()
            key = str(path.relative_to(folder))
            if stat.S_ISLNK(info.st_mode):
                seen[key] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                seen[key] = (info.st_size, info.st_mtime_ns) if info.st_size > 16 * 2**20 \
                    else hashlib.sha256(path.read_bytes()).hexdigest()
            elif not stat.S_ISDIR(info.st_mode):
                seen[key] = ("type", stat.S_IFMT(info.st_mode))
    return seen


def _unwritable(folder: str) -> bool:
    """Whether a new file cannot be made in folder (as root, permission bits do not tell)."""
    try:
        os.close(os.open(os.path.join(folder, "probe.aez"), os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        return True
    os.unlink(os.path.join(folder, "probe.aez"))
    return False


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung("the command did not finish within 60 s (a FIFO or a device read?)")


def run_case(folder: Path, command: str, capsys) -> tuple[int, list[str], str]:
    """(exit status, stderr lines, stdout) of one command run in `folder` in this process, with
    a 60 s alarm: a read that blocks fails the test instead of hanging it."""
    previous = os.getcwd()
    os.chdir(folder)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        status = cli(shlex.split(command.format(model=MODEL)))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(previous)
    out, err = capsys.readouterr()
    return status, err.splitlines(), out


@pytest.fixture(scope="module")
def samples(codec_weights):  # noqa: F811
    """(PNG bytes, the bytes of a valid .aez file) for the layouts."""
    previous = os.environ.get("AUTOENCODER_WEIGHTS")
    os.environ["AUTOENCODER_WEIGHTS"] = str(codec_weights)
    try:
        model, sha = codec.load_codec(MODEL)
        image = photo(40, 56)
        return encoded(Image.fromarray(image), "PNG"), codec.compress(model, to_tensor(image), MODEL, sha).data
    finally:
        if previous is None:
            del os.environ["AUTOENCODER_WEIGHTS"]
        else:
            os.environ["AUTOENCODER_WEIGHTS"] = previous


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_each_cli_case_refuses_file_by_file_and_changes_nothing_else(codecs, samples, tmp_path, capsys, name):  # noqa: F811
    case = CLI_CASES[name]
    if "/sys" in case.command and not _unwritable("/sys"):
        pytest.skip("/sys takes new files here: no folder stands for a read-only one")
    lay_out(tmp_path, case.layout, *samples)
    before = snapshot(tmp_path)
    status, err, out = run_case(tmp_path, case.command, capsys)
    after = snapshot(tmp_path)
    assert status == 2, (err, out)
    assert "Traceback" not in "\n".join(err) + out
    assert all(line.startswith("error: ") for line in err), err
    assert len(err) == len(case.words), err
    for words in case.words:
        assert sum(words in line for line in err) == 1, (words, err)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing there before was changed
    new = {k for k in set(after) - set(before) if not (tmp_path / k).is_dir()}
    assert new == set(case.writes), new
    folders = {k for k in set(after) - set(before) if (tmp_path / k).is_dir()}
    assert folders <= {str(parent) for w in case.writes for parent in Path(w).parents}, folders  # none left empty
    assert len(out.splitlines()) == len(case.writes)  # one report line per file written
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary file left


def test_force_replaces_an_output_that_is_no_input(codecs, samples, tmp_path, capsys):  # noqa: F811
    lay_out(tmp_path, {"photo.png": "image", "pre/photo.aez": "text"}, *samples)
    status, err, _ = run_case(tmp_path, "compress photo.png -m {model} -o pre --force", capsys)
    assert status == 0 and err == []
    assert (tmp_path / "pre/photo.aez").read_bytes()[:4] == b"\x89AEZ"
    assert oct((tmp_path / "pre/photo.aez").stat().st_mode & 0o777) != "0o600"  # not mkstemp's permissions


def test_one_input_to_a_named_file_and_back(codecs, samples, tmp_path, capsys):  # noqa: F811
    lay_out(tmp_path, {"photo.png": "image"}, *samples)
    assert run_case(tmp_path, "compress photo.png -m {model} -o mine.aez", capsys)[0] == 0
    status, err, out = run_case(tmp_path, "decompress mine.aez -o back.png --reference photo.png", capsys)
    assert status == 0 and err == [] and "PSNR" in out
    decoded = np.asarray(Image.open(tmp_path / "back.png"))
    assert decoded.shape == (40, 56, 3)


def test_the_same_file_named_twice_is_compressed_once(codecs, samples, tmp_path, capsys):  # noqa: F811
    lay_out(tmp_path, {"trip/a.png": "image"}, *samples)
    status, err, out = run_case(tmp_path, "compress trip trip/a.png ./trip/a.png -m {model} -o out", capsys)
    assert status == 0 and err == [] and len(out.splitlines()) == 1


def test_a_sparse_50_gb_aez_costs_a_few_hundred_bytes(codecs, tmp_path):  # noqa: F811
    lay_out(tmp_path, {"huge.aez": "sparse:50"}, b"", b"")
    with pytest.raises(ValueError, match="wrong magic"):  # aez.AezError: what decompress then reports
        codec.decompress(compress.read_aez(tmp_path / "huge.aez"))
    assert len(compress.read_aez(tmp_path / "huge.aez")) <= 200


def test_no_command_shows_a_traceback(monkeypatch, capsys):
    def broken(argv):
        raise FileNotFoundError(2, "No such file or directory", "x.png")

    monkeypatch.setattr(compress, "compress_main", broken)
    assert cli(["compress", "x.png"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "error: compress stopped: No such file or directory (x.png) [FileNotFoundError]"

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(compress, "decompress_main", interrupted)
    assert cli(["decompress", "x.aez"]) == 130
    assert capsys.readouterr().err.splitlines() == ["decompress: interrupted"]


def test_the_real_command_on_a_fifo_and_dev_zero_ends_with_lines_not_a_hang(codecs, samples, tmp_path):  # noqa: F811
    """As a user runs it: a fresh `python -m autoencoder`, which must end by itself."""
    lay_out(tmp_path, {"codes/pipe.aez": "fifo", "codes/a.aez": "aez"}, *samples)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    answer = subprocess.run([sys.executable, "-m", "autoencoder", "decompress", "codes/pipe.aez", "/dev/zero", "codes",
                             "-o", "out"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 2 and "Traceback" not in answer.stderr
    assert answer.stderr.count("FIFO") == 2 and answer.stderr.count("character device") == 1  # named, then in codes/
    assert (tmp_path / "out/a.png").exists()


@pytest.mark.parametrize("target, words", [(["--bpp", "-1"], "--bpp must be a positive number"),
                                           (["--bpp", "nan"], "--bpp must be a positive number"),
                                           (["--quality", "101"], "--quality must be in 0…100"),
                                           (["--size", "thirty"], "is not a size")])
def test_an_impossible_target_is_one_usage_line_before_any_file_is_read(tmp_path, capsys, target, words):
    Image.fromarray(photo(32, 48)).save(tmp_path / "a.png")
    with pytest.raises(SystemExit) as stop:
        cli(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), *target])
    assert stop.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_decompress_says_why_a_reference_gives_no_psnr_and_names_the_step(codecs, samples, tmp_path, capsys):  # noqa: F811
    lay_out(tmp_path, {"photo.png": "image", "small.png": "image"}, *samples)
    Image.fromarray(photo(20, 24)).save(tmp_path / "small.png")
    model, sha = codec.load_codec(MODEL)
    (tmp_path / "photo.aez").write_bytes(codec.compress(model, to_tensor(photo(40, 56)), MODEL, sha, step=1.5).data)
    status, err, out = run_case(tmp_path, "decompress photo.aez -o back --reference small.png", capsys)
    assert status == 0 and "PSNR" not in out and f"({MODEL}, step 1.5)" in out
    assert err == ["warning: small.png: it is 24×20, the decoded image 56×40; no PSNR"]

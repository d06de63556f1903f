import json
import math
import os
import subprocess
import sys

import pytest
import torch

from autoencoder import hardware, manifest, pretrained, train
from autoencoder.manifest import StartingPoint
from conftest import REPO


def base_args(folder, out, steps):
    return ["--id", "conv-c4", "--data", str(folder), "--model", "latent_channels=4", "--model", "width=8",
            "--model", "depth=1", "--crop", "32", "--batch-size", "2", "--steps", str(steps), "--val-every", "4",
            "--out", str(out), "--checkpoint", str(out / "ck.pt"), "--no-progress", "--threads", "1"]


def test_two_steps_write_weights_manifest_and_checkpoint(image_folder, tmp_path):
    entry = train.main(base_args(image_folder, tmp_path, 2))
    assert entry.training.steps == 2 and entry.training.images_seen == 4
    assert (tmp_path / "conv-c4.safetensors").exists() and (tmp_path / "ck.pt").exists()
    assert pretrained.sha256_of(tmp_path / "conv-c4.safetensors") == entry.sha256
    umask = os.umask(0o022)
    os.umask(umask)
    for written in ("conv-c4.safetensors", "manifest.json"):  # as open() makes them (safetensors' own writer: 0600)
        assert (tmp_path / written).stat().st_mode & 0o777 == 0o666 & ~umask, written
    history = entry.training.validation_psnr
    assert history[0][0] == 0 and history[-1][0] == 2  # start (block-PCA) and end


def test_without_out_a_run_writes_beside_its_checkpoint_and_leaves_the_weights_folder_alone(
        image_folder, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    train.main(base_args(image_folder, shipped, 1))  # the "shipped" folder: one model to start from
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(shipped))
    monkeypatch.chdir(tmp_path)
    entry = train.main(["--id", "mine", "--init-from", "conv-c4", "--data", str(image_folder), "--crop", "32",
                        "--batch-size", "2", "--steps", "1", "--val-every", "4", "--checkpoint", str(tmp_path / "ck.pt"),
                        "--no-progress", "--threads", "1"])  # reads the shipped model, writes runs/mine/
    assert manifest.model_info("mine", tmp_path / "runs" / "mine") == entry
    assert entry.training.init_from.id == "conv-c4"
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before  # not a byte changed


def test_resume_continues_from_the_checkpoint(image_folder, tmp_path):
    train.main(base_args(image_folder, tmp_path, 2))
    first = torch.load(tmp_path / "ck.pt", weights_only=True)
    entry = train.main(base_args(image_folder, tmp_path, 4) + ["--resume"])
    second = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert first["step"] == 2 and second["step"] == 4
    assert [s for s, _ in entry.training.validation_psnr] == [0, 2, 4]
    assert not torch.equal(first["model"]["decoder_linear.weight"], second["model"]["decoder_linear.weight"])


def test_fine_tune_starts_from_the_given_weights_and_records_where_they_came_from(image_folder, tmp_path):
    base = train.main(base_args(image_folder, tmp_path, 2))
    manifest.update_entry("conv-c4", lambda e: e.scored("kodak", metrics={"psnr": 99.0}), tmp_path)
    common = ["--data", str(image_folder), "--crop", "32", "--batch-size", "2", "--steps", "2", "--val-every", "4",
              "--out", str(tmp_path), "--no-progress", "--threads", "1", "--init-from", "conv-c4"]
    tuned = train.main(["--id", "conv-c4-tuned", "--checkpoint", str(tmp_path / "ck2.pt"), *common])
    assert tuned.family == "conv" and tuned.config == base.config
    (_, pca_start), (_, base_end) = base.training.validation_psnr[0], base.training.validation_psnr[-1]
    assert pca_start != base_end
    assert tuned.training.validation_psnr[0] == [0, base_end]  # it starts where the base ended, not at block-PCA
    assert tuned.training.init_from == StartingPoint("conv-c4", base.sha256, base.training)
    assert tuned.sha256 != base.sha256
    # Fine-tuning in place (same id) replaces the entry: scores of the old weights must not stay on the new ones.
    again = train.main(["--id", "conv-c4", "--checkpoint", str(tmp_path / "ck3.pt"), *common])
    assert again.scores == {} and manifest.model_info("conv-c4", tmp_path) == again
    assert again.training.init_from.sha256 == base.sha256


def test_fine_tune_refuses_another_architecture_or_an_unknown_model(image_folder, tmp_path):
    train.main(base_args(image_folder, tmp_path, 1))
    with pytest.raises(SystemExit, match="leave the family and model config out"):
        train.main(base_args(image_folder, tmp_path, 1) + ["--init-from", "conv-c4", "--model", "latent_channels=8"])
    with pytest.raises(SystemExit, match="no model 'nope'"):
        train.main(base_args(image_folder, tmp_path, 1) + ["--init-from", "nope"])


def test_bfloat16_training_runs_and_is_recorded(image_folder, tmp_path):
    entry = train.main(base_args(image_folder, tmp_path, 2) + ["--precision", "bfloat16", "--model", "linear_kernel=3",
                                                               "--model", "refine_width=4", "--model", "refine_depth=1"])
    assert entry.training.options["precision"] == "bfloat16"
    assert entry.config["linear_kernel"] == 3 and entry.config["refine_width"] == 4
    assert all(math.isfinite(p) for _, p in entry.training.validation_psnr)


@pytest.fixture
def cpu_without_amx(tmp_path, monkeypatch):
    """/proc/cpuinfo of an AVX-512 Xeon without AMX (bfloat16 only emulated)."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU @ 2.50GHz\nflags\t\t: fpu avx2 avx512f avx512bw\n")
    monkeypatch.setattr(hardware, "CPUINFO", info)
    return info


def test_auto_precision_is_bfloat16_only_on_hardware_built_for_it(cpu_without_amx, capsys):
    cpu = torch.device("cpu")
    assert hardware.cpu_name() == "Test CPU @ 2.50GHz"
    assert hardware.resolve_precision("auto", cpu) == "float32"
    assert hardware.resolve_precision("bfloat16", cpu) == "bfloat16"  # asked for: kept, with a warning
    assert "emulated" in capsys.readouterr().err
    cpu_without_amx.write_text(cpu_without_amx.read_text().replace("avx512bw", "avx512bw amx_bf16 amx_tile"))
    assert hardware.resolve_precision("auto", cpu) == "bfloat16"
    assert hardware.resolve_precision("float32", cpu) == "float32"


def test_auto_precision_records_what_ran_and_on_which_cpu(image_folder, tmp_path, cpu_without_amx):
    entry = train.main(base_args(image_folder, tmp_path, 2) + ["--precision", "auto"])
    assert entry.training.options["precision"] == "float32"
    assert entry.training.device == "cpu (Test CPU @ 2.50GHz, 1 thread)"


def test_resume_without_checkpoint_says_so(image_folder, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        train.main(base_args(image_folder, tmp_path, 2) + ["--resume"])


def test_config_file_and_flag_override(image_folder, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"id": "from-config", "data": str(image_folder), "steps": 1, "crop": 32,
                                  "batch_size": 1, "model": {"latent_channels": 2, "width": 4, "depth": 0}}))
    entry = train.main(["--config", str(config), "--steps", "2", "--out", str(tmp_path), "--no-progress",
                        "--checkpoint", str(tmp_path / "ck.pt"), "--val-every", "0", "--scales", "1", "0.5"])
    assert entry.id == "from-config" and entry.training.steps == 2 and entry.size == 2
    assert entry.training.options["scales"] == [1.0, 0.5]
    config.write_text(json.dumps({"stepz": 3}))
    with pytest.raises(SystemExit, match="unknown options"):
        train.main(["--config", str(config)])


def test_dense_fp16_storage_records_its_cost(image_folder, tmp_path):
    entry = train.main(["--id", "d", "--family", "dense", "--model", "latent_dim=64", "--model", "width=4", "--model", "depth=1",
                        "--data", str(image_folder), "--crop", "64", "--steps", "2", "--batch-size", "2",
                        "--val-every", "4", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "ck.pt"),
                        "--no-progress", "--config", str(_write(tmp_path / "f.json", {"storage_dtype": "float16"}))])
    assert entry.storage_dtype == "float16"
    assert 5 < entry.training.validation_psnr_as_stored < 60
    # Two bytes per parameter, plus the buffers (PCA mean, latent scales) and the safetensors
    # header (tensor names, shapes, the config): well under float32's four bytes per parameter.
    params = entry.parameters
    assert 2 * params <= entry.file_bytes <= 2 * params + 8192 < 4 * params


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.slow
def test_two_process_gloo_ddp_smoke(image_folder, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "autoencoder", "train", *base_args(image_folder, tmp_path, 2), "--device", "cpu"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    entry = manifest.model_info("conv-c4", tmp_path)
    assert entry.training.processes == 2 and entry.training.images_seen == 8
    # A codec fine-tune too (its rate term through the DDP-wrapped forward: tests/test_train_ddp.py).
    codec = ["--id", "codec-c4", "--family", "codec", "--init-from", "conv-c4", "--lmbda", "0.01", "--model",
             "hyper_channels=4", "--model", "hyper_width=8", "--data", str(image_folder), "--crop", "32", "--batch-size",
             "2", "--steps", "2", "--val-every", "4", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "ck2.pt"),
             "--no-progress", "--threads", "1", "--device", "cpu"]
    result = subprocess.run([*cmd[:cmd.index("train") + 1], *codec], env=env, capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    entry = manifest.model_info("codec-c4", tmp_path)
    assert entry.family == "codec" and entry.training.processes == 2 and entry.training.images_seen == 8


def test_training_leaves_the_process_settings_as_it_found_them(image_folder, tmp_path):
    """train.main sets threads, denormal flushing and the seed for its run only: a caller in
    the same process keeps its own (hypothesis, for one, needs subnormal floats)."""
    import numpy as np

    torch.set_num_threads(2)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    train.main(["--id", "conv-c4", "--model", "latent_channels=4", "--model", "width=8", "--model", "depth=1",
                "--crop", "32", "--data", str(image_folder), "--steps", "2", "--batch-size", "2", "--val-every", "0",
                "--out", str(tmp_path), "--checkpoint", str(tmp_path / "ck.pt"), "--no-progress", "--threads", "1"])
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.rand(3), expected_next)  # the global random stream goes on where it was
    tiny = np.float32(1e-40)  # a subnormal float32: flushed to zero if denormals were still flushed
    assert torch.tensor([tiny]) * 1 != 0


SCHEDULE = {"lr": 1.0, "warmup_steps": 10, "steps": 100}


def checkpoint_of(steps: int, extended_at=None) -> dict:
    return {"schedule": json.dumps({"steps": steps, "extended_at": extended_at})}


def test_an_interrupted_run_resumes_on_the_same_learning_rate_schedule():
    extended_at = train.resumed_schedule(checkpoint_of(100), 60, SCHEDULE)
    assert extended_at is None
    assert [train.learning_rate(s, SCHEDULE, extended_at) for s in range(60, 100)] == \
        [train.learning_rate(s, SCHEDULE) for s in range(60, 100)]


def test_more_steps_on_resume_continue_the_decay_instead_of_jumping_back_up():
    longer = {**SCHEDULE, "steps": 200}
    # A finished 100-step run given 200: the old code restarted halfway up the longer cosine (0.54 of the peak).
    assert train.learning_rate(100, longer) > 0.5
    done = train.resumed_schedule(checkpoint_of(100), 100, longer)
    assert max(train.learning_rate(s, longer, done) for s in range(100, 200)) == pytest.approx(train.LR_FLOOR)
    # Stopped at step 50 of 100 and given 200: continuous at 50, decreasing, at the floor by 200.
    halfway = train.resumed_schedule(checkpoint_of(100), 50, longer)
    rates = [train.learning_rate(s, longer, halfway) for s in range(50, 201)]
    assert rates[0] == pytest.approx(train.learning_rate(50, SCHEDULE))
    assert all(a >= b for a, b in zip(rates, rates[1:])) and rates[-1] == pytest.approx(train.LR_FLOOR)
    # Extended twice: the second bend starts where the first schedule had got to.
    again = train.resumed_schedule(checkpoint_of(200, list(halfway)), 120, {**SCHEDULE, "steps": 300})
    assert again[1] == pytest.approx(train.learning_rate(120, longer, halfway))


def test_a_resumed_run_records_its_schedule_in_the_checkpoint(image_folder, tmp_path):
    config = tmp_path / "short-warmup.json"
    config.write_text(json.dumps({"warmup_steps": 1}))
    train.main(base_args(image_folder, tmp_path, 2) + ["--config", str(config)])
    assert json.loads(torch.load(tmp_path / "ck.pt", weights_only=True)["schedule"]) == {"steps": 2, "extended_at": None}
    train.main(base_args(image_folder, tmp_path, 4) + ["--config", str(config), "--resume"])
    schedule = json.loads(torch.load(tmp_path / "ck.pt", weights_only=True)["schedule"])
    assert schedule["steps"] == 4 and schedule["extended_at"][0] == 2

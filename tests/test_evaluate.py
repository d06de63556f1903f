import json

import numpy as np
import pytest
import torch

import autoencoder as ae
from autoencoder import baselines, bench, evaluate, manifest
from autoencoder.data import decode_image, list_images, split_train_val
from conftest import SHARED_DATA, needs_shared, write_images


@pytest.fixture(scope="module")
def eval_folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("eval"), 2, size=(200, 176), seed=5)


def test_eval_on_two_tiny_images(use_weights, eval_folder, tmp_path):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    results = evaluate.main(["--data", str(eval_folder), "--json", str(out_json), "--markdown", str(out_md)])
    assert json.loads(out_json.read_text()) == results
    assert results["images"] == 2
    assert [m["id"] for m in results["models"]] == ["conv-c4", "dense-d64"]
    assert results["image_names"] == [f.name for f in list_images(eval_folder)]
    for row in results["models"]:
        assert 5 < row["psnr"] < 60 and 0 < row["bpp_8bit"] < 24
        assert len(row["psnr_per_image"]) == 2
        assert np.mean(row["psnr_per_image"]) == pytest.approx(row["psnr"], abs=1e-3)  # the mean is of these
        assert row["ms_ssim_8bit"] is None  # 192×128 after cropping to whole tiles: too small for MS-SSIM
    conv = results["models"][0]
    assert conv["bpp_8bit"] == pytest.approx(4 * 8 / 64 + 8 * 4 * 4 / (192 * 128), abs=1e-5)  # payload + side info
    pca = [r["psnr"] for r in results["block_pca"]]
    assert pca == sorted(pca)  # more coefficients, better reconstruction
    assert evaluate.baseline_names(results) == list(baselines.CODECS)  # every codec, at its own ladder
    for codec, described in baselines.CODECS.items():
        rows = results[codec]
        assert [r["quality"] for r in rows] == list(described.qualities)
        assert [r["bpp"] for r in rows] == sorted(r["bpp"] for r in rows)
        assert rows[-1]["psnr"] > rows[0]["psnr"] and rows[0]["encode_s"] > 0
        assert results["baselines"][codec] == baselines.describe(codec)
    table = out_md.read_text()
    assert "| conv-c4 | 48× |" in table and "block-PCA" in table and "| JPEG | 5 |" in table and "| JPEG XL | 95 |" in table


def test_eval_with_latent_refinement_and_no_codecs(use_weights, eval_folder, tmp_path):
    out_md = tmp_path / "r.md"
    results = evaluate.main(["--data", str(eval_folder), "--models", "conv-c4", "--max-images", "1",
                             "--refine-steps", "3", "--qualities", "--markdown", str(out_md)])
    row = results["models"][0]
    assert results["refine_steps"] == 3 and evaluate.baseline_names(results) == [] and 5 < row["psnr_refined"] < 60
    table = out_md.read_text()
    assert "Latent refinement (3 Adam steps" in table and "| conv-c4 | " in table.split("Latent refinement")[1]
    assert "JPEG" not in table


def test_eval_on_the_images_training_holds_out(use_weights, tmp_path):
    """--held-out N scores exactly the images `train --val-every N` validates on."""
    folder = write_images(tmp_path / "photos", 5, size=(72, 64), seed=3)
    out_md = tmp_path / "r.md"
    results = evaluate.main(["--data", str(folder), "--held-out", "2", "--models", "conv-c4", "--pca", "none",
                             "--qualities", "--markdown", str(out_md), "--update-manifest"])
    assert results["image_names"] == [f.name for f in split_train_val(list_images(folder), 2)[1]]
    assert results["images"] == 2 and results["held_out"] == 2
    assert "that `train --val-every 2` holds out" in out_md.read_text()
    stored = manifest.model_info("conv-c4")
    assert stored.scores_on("photos_held_out").metrics["images"] == 2 and "photos" not in stored.scores


def test_table_counts_the_images_a_model_loses_to_block_pca(use_weights):
    """A mean gain can hide images where the linear code does better: the table says how many."""
    model = {"id": "conv-c4", "ratio": 48, "bpp_8bit": 0.5, "psnr": 30.0, "psnr_8bit": 30.0, "ssim_8bit": 0.9,
             "ms_ssim_8bit": None, "psnr_per_image": [32.0, 28.0, 30.0]}
    pca = {"channels": 4, "ratio": 48, "psnr": 29.0, "ssim": 0.8, "ms_ssim": None, "psnr_per_image": [29.0, 29.25, 28.75]}
    results = {"images": 3, "data": "x", "models": [model], "block_pca": [pca], "jpeg": [], "webp": []}
    assert "| 29.00 | +1.00 | 1 of 3 (worst -1.25) |" in evaluate.markdown(results)
    model["psnr_per_image"] = [29.5, 29.5, 31.0]
    assert "| 29.00 | +1.00 | 0 of 3 |" in evaluate.markdown(results)


def test_update_manifest_and_readme_splice(use_weights, eval_folder, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\n"
                      "<!-- training:start -->\n<!-- training:end -->\noutro\n")
    evaluate.main(["--data", str(eval_folder), "--models", "conv-c4", "--pca", "none", "--max-images", "1",
                   "--readme", str(readme), "--update-manifest"])
    text = readme.read_text()
    assert "old" not in text and "| conv-c4 | 48× |" in text and text.startswith("intro") and text.endswith("outro\n")
    assert "| conv-c4 | " in text.split("<!-- training:start -->")[1] and "Total training time" in text
    stored = manifest.model_info("conv-c4").scores_on(eval_folder.name).metrics
    assert stored["images"] == 1 and stored["psnr"] > 5 and "psnr_per_image" not in stored  # the JSON keeps those


def test_the_manifest_stores_a_rows_scores_not_what_describes_the_model(use_weights):
    row = {"id": "conv-c4", "prior": "hyperprior", "lmbda": 0.01, "latent_channels": 4, "ladder": True,
           "psnr": 30.0, "bpp": 0.5, "psnr_per_image": [30.0]}
    entry = evaluate.scored_entry(manifest.model_info("conv-c4"), "somewhere", row, images=1)
    assert entry.scores_on("somewhere").metrics == {"images": 1, "psnr": 30.0, "bpp": 0.5}
    assert entry.scores_on("somewhere").rate == 0.5


def test_stitching_tiles_is_exact():
    image = np.random.default_rng(0).integers(0, 256, (128, 192, 3), dtype=np.uint8)
    from autoencoder.data import tiles, to_tensor
    from autoencoder.pipeline import _stitch
    assert torch.equal(_stitch(tiles(image, 64), 128, 192), to_tensor(image))


def test_pillow_codecs_and_byte_budget(tmp_path):
    image = decode_image(list_images(write_images(tmp_path, 1, size=(96, 64)))[0])
    ladder = baselines.codec_ladder(image, "webp", (10, 90))
    assert ladder[0].num_bytes < ladder[1].num_bytes and ladder[0].decoded.shape == image.shape
    budget = ladder[1].num_bytes
    best = baselines.best_within_bytes(image, "jpeg", budget)
    assert best is not None and best.num_bytes <= budget
    worse = baselines.pillow_roundtrip(image, "jpeg", min(95, best.quality + 1))
    assert best.quality == 95 or worse.num_bytes > budget  # the highest quality that fits
    assert baselines.best_within_bytes(image, "jpeg", 10) is None


def test_bench_runs_on_tiny_weights(use_weights, tmp_path):
    rows = bench.main(["--repeats", "1", "--codecs", "jpeg", "jxl", "--json", str(tmp_path / "b.json")])
    assert {r["id"] for r in rows} == {"conv-c4", "dense-d64", "JPEG", "JPEG XL"}
    for row in (r for r in rows if "codec" in r):  # Pillow's codecs at their best file within 1 bpp of a 768×512 photo
        assert 0.5 < row["bpp"] <= 1.0 and row["encode_s"] > 0 and row["decode_s"] > 0 and 25 < row["psnr"] < 50
        assert row["settings"] == baselines.describe(row["codec"])
    conv, dense = (next(r for r in rows if r["id"] == i) for i in ("conv-c4", "dense-d64"))
    # conv models are timed at every size, dense models at the one size they take
    assert {k for k in conv if k.startswith("roundtrip_")} == {"roundtrip_64_s", "roundtrip_512_s", "roundtrip_1024_s"}
    assert {k for k in dense if k.startswith("roundtrip_")} == {"roundtrip_64_s"}
    assert conv["roundtrip_1024_s"] > conv["roundtrip_64_s"]  # 256× the pixels cannot be as fast
    assert conv["parameters"] == sum(p.numel() for p in ae.load_pretrained("conv-c4").parameters())
    assert json.loads((tmp_path / "b.json").read_text())["rows"] == rows


def test_bench_training_predicts_reproduction_time(tmp_path):
    config = tmp_path / "tiny.json"
    options = {"id": "tiny", "family": "conv", "data": "unused", "steps": 600, "batch_size": 2, "crop": 32,
               "model": {"latent_channels": 4, "width": 8, "depth": 1}}
    config.write_text(json.dumps(options))
    rows = bench.main(["--training", "--configs", str(config), "--precision", "float32", "--repeats", "1"])
    assert rows[0]["id"] == "tiny" and rows[0]["precision"] == "float32" and rows[0]["steps"] == 600
    assert rows[0]["minutes"] == pytest.approx(rows[0]["step_s"] * 10, abs=0.06)  # 600 steps = 10 × step_s minutes
    config.write_text(json.dumps({**options, "steps": 10**9}))  # years of training: over any time budget
    with pytest.raises(SystemExit):
        bench.main(["--training", "--configs", str(config), "--precision", "float32", "--repeats", "1", "--check"])


@pytest.mark.slow
@needs_shared
def test_manifest_kodak_numbers_are_reproducible():
    """The Kodak PSNR stored in the manifest is what eval measures now (for the smallest model)."""
    entries = [e for e in manifest.model_entries() if e.scores_on("kodak").metrics and not e.kind.entropy_coded]
    if not entries:
        pytest.skip("the shipped manifest has no Kodak metrics yet")
    entry = entries[0]
    results = evaluate.evaluate(str(SHARED_DATA / "kodak"), [entry.id], None, qualities=(), progress=False)
    assert results["models"][0]["psnr"] == pytest.approx(entry.scores_on("kodak").metrics["psnr"], abs=0.01)

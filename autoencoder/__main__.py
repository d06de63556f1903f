"""python -m autoencoder COMMAND …: each command is a function main(argv) in one module."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {  # name: (module, function, what it does)
    "train": ("autoencoder.train", "main", "train one model on a folder of images"),
    "eval": ("autoencoder.evaluate", "main", "score every model and the baselines on a folder of images"),
    "compress": ("autoencoder.compress", "compress_main", "images → .aez files with a codec model"),
    "decompress": ("autoencoder.compress", "decompress_main", ".aez files → PNG images"),
    "bench": ("autoencoder.bench", "main", "speed and memory of every model on this machine"),
    "fit-pca": ("autoencoder.pca", "main", "fit the block-PCA baseline on a folder of images"),
    "uses": ("autoencoder.uses", "main", "denoising, anomaly scores and latent interpolation"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m autoencoder COMMAND [options]\n\ncommands:")
        for name, (_, _, text) in COMMANDS.items():
            print(f"  {name:10} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, function, _ = COMMANDS[argv[0]]
    status = getattr(importlib.import_module(module), function)(argv[1:])
    return status if isinstance(status, int) else 0  # train and eval return their records


def console() -> None:
    """The `autoencoder` command that `pip install .` puts on the PATH (pyproject.toml)."""
    sys.exit(main())


if __name__ == "__main__":
    console()

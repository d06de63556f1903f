"""python -m autoencoder {train,eval,bench,fit-pca} …: each command is a module with main(argv)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": ("autoencoder.train", "train one model on a folder of images"),
    "eval": ("autoencoder.evaluate", "score every model and the baselines on a folder of images"),
    "bench": ("autoencoder.bench", "speed and memory of every model on this machine"),
    "fit-pca": ("autoencoder.baselines", "fit the block-PCA baseline on a folder of images"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m autoencoder COMMAND [options]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:8} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    module.main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m autoencoder COMMAND …: each command is a function main(argv) in one module.
Whatever escapes a command is one sentence on stderr (exit 2), Ctrl-C one line (exit 130):
no command shows a traceback."""

from __future__ import annotations

import importlib
import os
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
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: no command {argv[0]!r}; the commands are below", file=sys.stderr)
        print("usage: python -m autoencoder COMMAND [options]\n\ncommands:")
        for name, (_, _, text) in COMMANDS.items():
            print(f"  {name:10} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, function, _ = COMMANDS[argv[0]]
    try:
        status = getattr(importlib.import_module(module), function)(argv[1:])
    except KeyboardInterrupt:
        print(f"{argv[0]}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the output went to a pipe that closed (| head): nothing left to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (Python flushes it at exit; the pipe would fail again)
        return 1
    except Exception as e:  # noqa: BLE001 (the last resort: one sentence instead of a traceback)
        words = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or "no details"
        where = f" ({e.filename})" if isinstance(e, OSError) and e.filename else ""
        print(f"error: {argv[0]} stopped: {words}{where} [{type(e).__name__}]", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0  # train and eval return their records


def console() -> None:
    """The `autoencoder` command that `pip install .` puts on the PATH (pyproject.toml)."""
    sys.exit(main())


if __name__ == "__main__":
    console()

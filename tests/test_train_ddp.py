"""Codec training under DDP: two gloo processes on halves of a batch make the same updates as one
process on the whole batch, the rate term and the entropy model's parameters included."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from autoencoder import train
from autoencoder.models import CodecAutoencoder, CodecConfig

STEPS, WORLD, GLOBAL_BATCH = 3, 2, 4


@contextmanager
def no_rate_noise():
    """The rate term's uniform noise (models.latent_bits) at its mean, 0. It is a step's one
    random draw, and a batch split over processes draws it differently from one process: without
    it the two runs see the same numbers. Gradients still flow through the rate as in training."""
    original = torch.Tensor.uniform_
    torch.Tensor.uniform_ = lambda self, low=0.0, high=1.0, **_: self.fill_((low + high) / 2)
    try:
        yield
    finally:
        torch.Tensor.uniform_ = original


def train_codec(rank: int, world: int, distributed: bool) -> tuple[list[float], dict]:
    """STEPS updates of a tiny hyperprior codec on this rank's share of each global batch."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = CodecAutoencoder(CodecConfig(latent_channels=4, width=8, depth=1, hyper_channels=4, hyper_width=8)).train()
    optimizer = train.make_optimizer(model, {**train.DEFAULTS, "lr": 1e-3})
    stepped = train.trainee(model, distributed)
    batches = torch.rand(STEPS, GLOBAL_BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    share = GLOBAL_BATCH // world
    losses = []
    with no_rate_noise():
        for batch in batches:
            x = batch[rank * share : (rank + 1) * share]
            losses.append(train.training_step(stepped, optimizer, x, False, lmbda=0.01).item())
    return losses, {k: v.clone() for k, v in model.state_dict().items()}


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        losses, state = train_codec(rank, WORLD, distributed=True)
        torch.save({"losses": losses, "state": state}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two processes start torch: ~20 s on 2 busy cores
def test_two_gloo_processes_train_a_codec_as_one_process_with_the_whole_batch(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    alone_losses, alone = train_codec(0, 1, distributed=False)

    torch.manual_seed(0)
    start = CodecAutoencoder(CodecConfig(latent_channels=4, width=8, depth=1, hyper_channels=4, hyper_width=8))
    parameters = [name for name, _ in start.named_parameters()]
    assert all(not torch.equal(alone[k], p) for k, p in start.state_dict().items() if k in parameters)  # all moved
    assert any(k.startswith("hyper_prior.") for k in parameters)  # the entropy model's own density among them
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), f"ranks differ in {key}"  # synced, bit for bit
        assert torch.allclose(value.double(), alone[key].double(), rtol=1e-4, atol=1e-6), key
    # Each rank's loss is the mean over its half, so their mean is the loss of the whole batch.
    mean_losses = [sum(r["losses"][i] for r in ranks) / WORLD for i in range(STEPS)]
    assert all(abs(a - b) <= 1e-5 * abs(b) for a, b in zip(mean_losses, alone_losses)), (mean_losses, alone_losses)
    assert ranks[0]["losses"] != ranks[1]["losses"]  # the halves differ: the sync is what made the weights agree

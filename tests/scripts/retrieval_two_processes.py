"""Run under `accelerate launch --num_processes 2`: each process scores half of a batch with the other half's
embeddings gathered (with gradients); rank 0 writes its loss, the mean loss and the averaged gradients beside
the one-process loss and gradients of the whole batch."""

import json
import sys

import torch
import torch.distributed as dist
from accelerate import PartialState

from geolib.retrieval.loss import contrastive_loss
from geolib.retrieval.model import new_model

state = PartialState(cpu=True)
rank, world = state.process_index, state.num_processes
encoder = new_model(seed=0)
model = encoder.model
generator = torch.Generator().manual_seed(1)
tiles = torch.rand(8, 3, 64, 64, generator=generator)
tokens = torch.randint(1, 49000, (8, 77), generator=generator)

# the whole batch in one process
image, text, scale = model(tiles, tokens)
reference = contrastive_loss(image, text, scale, gather=False)
reference.backward()
reference_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
model.zero_grad()

# this process's half, the other half gathered
half = slice(rank * 4, rank * 4 + 4)
image, text, scale = model(tiles[half], tokens[half])
loss = contrastive_loss(image, text, scale)
loss.backward()
mean_loss = loss.detach().clone()
dist.all_reduce(mean_loss)
worst = 0.0
for name, parameter in model.named_parameters():
    if parameter.grad is None:
        continue
    grad = parameter.grad.clone()
    dist.all_reduce(grad)  # what data-parallel training averages
    worst = max(worst, (grad / world - reference_grads[name]).abs().max().item())
if rank == 0:
    with open(sys.argv[1], "w") as file:
        json.dump(
            {
                "world": world,
                "reference": reference.item(),
                "mean": mean_loss.item() / world,
                "local": loss.item(),
                "max_grad_difference": worst,
            },
            file,
        )

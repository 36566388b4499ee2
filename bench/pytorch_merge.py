"""The reference for `npm run bench:train`: the same merge model in PyTorch (CPU, OpenBLAS).

Embedding 256, LSTM 256, Dense 256 relu, Dense V, dropout 0.5 on the image and the embedding, Adam,
batch 64 of captions 12 tokens long, random 1,280-d features. Prints one JSON line with
tokensPerSecond. Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (bench/train.ts does).
"""
import sys

import torch
from torch import nn

from pytorch_timing import time_training

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 12
torch.set_num_threads(threads)
torch.manual_seed(0)
V, F, E, U, D, B, T = 2533, 1280, 256, 256, 256, 64, 12


class Merge(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Sequential(nn.Dropout(0.5), nn.Linear(F, U), nn.ReLU())
        self.embed = nn.Embedding(V, E)
        self.drop = nn.Dropout(0.5)
        self.lstm = nn.LSTM(E, U, batch_first=True)
        self.decoder = nn.Sequential(nn.Linear(U, D), nn.ReLU(), nn.Linear(D, V))

    def forward(self, feats, tokens):
        h, _ = self.lstm(self.drop(self.embed(tokens)))
        return self.decoder(h + self.image(feats)[:, None, :])


model = Merge()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
feats = torch.rand(B, F)
tokens = torch.randint(4, V, (B, T))
targets = torch.randint(4, V, (B, T))


def loss_of():
    logits = model(feats, tokens)
    return loss_fn(logits.reshape(-1, V), targets.reshape(-1))


time_training(loss_of, model, opt, threads, steps, B * T)

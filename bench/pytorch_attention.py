"""The reference for `npm run bench:train -- --arch attention`: the same soft-attention decoder in PyTorch
(CPU, OpenBLAS), as src/model/arch/attention.ts defines it.

Show, Attend and Tell: 49 regions of 1,280 channels; initial h, c = tanh(dense(mean region)); at each
step additive attention (keys = regions·W + b once per image, query = h·U, e = w·tanh(keys + query),
α = softmax(e)), a gate β = σ(dense(h)), an LSTM cell reading [dropout(embedding); β·context], dropout,
the output layer; cross-entropy with label smoothing 0.1 plus the doubly stochastic penalty
λ·Σ_regions(1 − Σ_t α)²; Adam; gradient clipping 5. Random features, captions 12 tokens long.

Usage: python3 pytorch_attention.py THREADS STEPS BATCH EMBED UNITS ATTENTION
Prints one JSON line with tokensPerSecond. Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
(bench/train.ts does).
"""
import sys

import torch
from torch import nn

from pytorch_timing import time_training

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 12
B = int(sys.argv[3]) if len(sys.argv) > 3 else 32
E = int(sys.argv[4]) if len(sys.argv) > 4 else 256
U = int(sys.argv[5]) if len(sys.argv) > 5 else 384
A = int(sys.argv[6]) if len(sys.argv) > 6 else 256
torch.set_num_threads(threads)
torch.manual_seed(0)
V, C, R, T = 2533, 1280, 49, 12


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.init_h = nn.Linear(C, U)
        self.init_c = nn.Linear(C, U)
        self.keys = nn.Linear(C, A)
        self.query = nn.Linear(U, A, bias=False)
        self.score = nn.Linear(A, 1, bias=False)
        self.gate = nn.Linear(U, 1)
        self.embed = nn.Embedding(V, E)
        self.cell = nn.LSTMCell(E + C, U)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(U, V)

    def forward(self, regions, tokens):
        mean = regions.mean(1)
        h, c = torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))
        keys = self.keys(regions)  # [B, R, A], once per image
        words = self.drop(self.embed(tokens))
        outputs, alphas = [], []
        for t in range(tokens.shape[1]):
            energy = self.score(torch.tanh(keys + self.query(h)[:, None, :])).squeeze(2)
            alpha = torch.softmax(energy, dim=1)
            context = torch.bmm(alpha[:, None, :], regions).squeeze(1)
            beta = torch.sigmoid(self.gate(h))
            h, c = self.cell(torch.cat([words[:, t], beta * context], dim=1), (h, c))
            outputs.append(self.drop(h))
            alphas.append(alpha)
        return self.out(torch.stack(outputs, 1)), torch.stack(alphas, 1)


model = Attention()
opt = torch.optim.Adam(model.parameters(), lr=4e-4)
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
regions = torch.rand(B, R, C)
tokens = torch.randint(4, V, (B, T))
targets = torch.randint(4, V, (B, T))


def loss_of():
    logits, alphas = model(regions, tokens)
    penalty = ((1 - alphas.sum(1)) ** 2).sum(1).mean()
    return loss_fn(logits.reshape(-1, V), targets.reshape(-1)) + penalty


time_training(loss_of, model, opt, threads, steps, B * T)

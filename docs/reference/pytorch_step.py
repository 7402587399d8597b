#!/usr/bin/env python3
"""Training-step time of a PyTorch eager reference of Leviathan's models, for side-by-side speed checks.

The model is the one `./leviathan bench` trains at the same options: a MetaFormer with pre-norm blocks
(LayerNorm -> token mixer -> residual, LayerNorm -> GELU MLP of width 4C -> residual), learned token and
position embeddings (N(0, 0.02^2)), a final LayerNorm and the token embedding tied as the output layer;
AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on matrices), gradient clipping at norm 1.0, random tokens
of a 65-symbol vocabulary. Token mixers:

  attention   fused q/k/v projection with biases, causal softmax over 4 heads, output projection
  aft-simple  sigmoid(q) * cumsum(exp(k) v) / cumsum(exp(k)), keys shifted by their max over time
  aft-local   the masked T x T form: weights exp(k_t' + w[t, t']) with w = U V^T inside the window of 32,
              0 outside it, causal
  mlgru       the recurrence as a plain loop over time, full precision (no ternary weights)

Needs PyTorch (`pip install torch`; docs/results.md used 2.13.0+cpu). Usage (one configuration per process,
like bench):
  python3 pytorch_step.py --mixer attention --context 64 --batch 12 --width 128 --layers 4 \
      --warmup 3 --steps 30 --threads 2

Prints one CSV line: mixer,context,batch,width,layers,step_ms_median,tokens_per_sec,first_step_ms,peak_rss_mb
"""
import argparse
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(c, 3 * c)
        self.out = nn.Linear(c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        a = scores.masked_fill(mask, float("-inf")).softmax(-1)
        return self.out((a @ v).transpose(1, 2).reshape(b, t, c))


class AftSimple(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.qkv = nn.Linear(c, 3 * c, bias=False)
        self.out = nn.Linear(c, c, bias=False)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        ek = torch.exp(k - k.amax(dim=1, keepdim=True).detach())
        y = torch.sigmoid(q) * torch.cumsum(ek * v, dim=1) / torch.cumsum(ek, dim=1)
        return self.out(y)


class AftLocal(nn.Module):
    def __init__(self, c, context, window=32, rank=64):
        super().__init__()
        self.qkv = nn.Linear(c, 3 * c, bias=False)
        self.out = nn.Linear(c, c, bias=False)
        self.u = nn.Parameter(torch.randn(context, rank) * 0.01)
        self.v = nn.Parameter(torch.randn(context, rank) * 0.01)
        idx = torch.arange(context)
        lag = idx[:, None] - idx[None, :]
        self.register_buffer("inside", (lag >= 0) & (lag < window))
        self.register_buffer("causal", lag >= 0)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        w = (self.u[:t] @ self.v[:t].T) * self.inside[:t, :t]
        w = w.masked_fill(~self.causal[:t, :t], float("-inf"))
        ew = torch.exp(w - w.detach().amax())
        ek = torch.exp(k - k.amax(dim=1, keepdim=True).detach())
        num = ew @ (ek * v)
        den = ew @ ek
        return self.out(torch.sigmoid(q) * num / den)


class Mlgru(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fcg = nn.Linear(c, 3 * c, bias=False)
        self.out = nn.Linear(c, c, bias=False)

    def forward(self, x):
        f, cand, g = self.fcg(x).chunk(3, dim=-1)
        f = torch.sigmoid(f)
        u = (1 - f) * F.silu(cand)
        h = torch.zeros_like(x[:, 0])
        hs = []
        for i in range(x.shape[1]):
            h = f[:, i] * h + u[:, i]
            hs.append(h)
        return self.out(torch.sigmoid(g) * torch.stack(hs, dim=1))


class Block(nn.Module):
    def __init__(self, mixer, c, context):
        super().__init__()
        self.n1 = nn.LayerNorm(c)
        self.n2 = nn.LayerNorm(c)
        self.mix = {"attention": lambda: Attention(c, 4), "aft-simple": lambda: AftSimple(c),
                    "aft-local": lambda: AftLocal(c, context), "mlgru": lambda: Mlgru(c)}[mixer]()
        self.fc = nn.Linear(c, 4 * c)
        self.proj = nn.Linear(4 * c, c)

    def forward(self, x):
        x = x + self.mix(self.n1(x))
        return x + self.proj(F.gelu(self.fc(self.n2(x))))


class Model(nn.Module):
    def __init__(self, mixer, vocab, c, context, layers):
        super().__init__()
        self.wte = nn.Embedding(vocab, c)
        self.wpe = nn.Embedding(context, c)
        self.blocks = nn.ModuleList(Block(mixer, c, context) for _ in range(layers))
        self.norm = nn.LayerNorm(c)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.norm(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixer", default="attention")
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    vocab = 65
    model = Model(args.mixer, vocab, args.width, args.context, args.layers)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))
    times = []
    first = None
    for step in range(args.warmup + args.steps):
        idx = torch.randint(vocab, (args.batch, args.context))
        targets = torch.randint(vocab, (args.batch, args.context))
        start = time.perf_counter()
        loss = model(idx, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed = (time.perf_counter() - start) * 1000
        if step == 0:
            first = elapsed
        if step >= args.warmup:
            times.append(elapsed)
    median = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.mixer},{args.context},{args.batch},{args.width},{args.layers},{median:.3f},"
          f"{args.batch * args.context / median * 1000:.1f},{first:.1f},{rss:.1f}")


if __name__ == "__main__":
    main()

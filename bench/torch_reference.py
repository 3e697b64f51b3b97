"""A plain PyTorch version of the same EnGAN step, for side-by-side speed comparisons.

Not part of the package (PyTorch is not a dependency): bench/bench_speed.py runs it when
torch is importable. Same networks (3 x 512 MLPs, LeakyReLU(0.2) in E and T, ReLU in G),
same step (n_critic energy updates with the score penalty on real data, then one joint G/T
update with the per-dimension shuffle), same Adam settings, fresh toy data per critic step.
"""

import math
import time

import torch
from torch import nn


def mlp(n_in, n_out, width, act):
  layers, d = [], n_in
  for _ in range(3):
    layers += [nn.Linear(d, width), act()]
    d = width
  return nn.Sequential(*layers, nn.Linear(d, n_out))


def gaussians25(n):
  centres = torch.tensor([[2.0 * i, 2.0 * j] for i in range(-2, 3) for j in range(-2, 3)])
  idx = torch.randint(0, 25, (n,))
  return (centres[idx] + 0.05 * torch.randn(n, 2)) / 2.828


def steps_per_second(steps=100, warmup=10, batch=256, n_critic=5, width=512, latent=2,
                     lam=0.1, threads=2):
  torch.set_num_threads(threads)
  leaky = lambda: nn.LeakyReLU(0.2)
  energy, generator = mlp(2, 1, width, leaky), mlp(latent, 2, width, nn.ReLU)
  statistics = mlp(2 + latent, 1, width, leaky)
  adam = lambda m: torch.optim.Adam(m.parameters(), 1e-4, betas=(0.5, 0.9))
  opt_e, opt_g, opt_t = adam(energy), adam(generator), adam(statistics)

  def step():
    for _ in range(n_critic):
      x = gaussians25(batch).requires_grad_(True)
      with torch.no_grad():
        fake = generator(torch.randn(batch, latent))
      e_real = energy(x).squeeze(-1)
      (grad,) = torch.autograd.grad(e_real.sum(), x, create_graph=True)
      loss = e_real.mean() - energy(fake).mean() + lam * grad.pow(2).sum(1).mean()
      opt_e.zero_grad()
      loss.backward()
      opt_e.step()
    z = torch.randn(batch, latent)
    z_marginal = torch.stack([z[torch.randperm(batch), j] for j in range(latent)], 1)
    x = generator(z)
    t_joint = statistics(torch.cat([x, z], 1))
    t_marginal = statistics(torch.cat([x, z_marginal], 1))
    l_h = nn.functional.softplus(-t_joint).mean() + nn.functional.softplus(t_marginal).mean()
    loss = energy(x).mean() + l_h
    opt_g.zero_grad()
    opt_t.zero_grad()
    loss.backward()  # E(G(z)) does not depend on T: T's gradient is that of L_H
    opt_g.step()
    opt_t.step()
    opt_e.zero_grad()  # E is not updated by the generator step

  for _ in range(warmup):
    step()
  start = time.perf_counter()
  for _ in range(steps):
    step()
  return steps / (time.perf_counter() - start)


if __name__ == "__main__":
  rate = steps_per_second()
  assert math.isfinite(rate)
  print(f"plain PyTorch EnGAN step: {rate:.2f} generator steps/s")

"""Plain PyTorch versions of the EnGAN step and of latent MALA, for side-by-side speed.

Not part of the package (PyTorch is not a dependency): the benches import it when torch
is importable. Same networks as engan_tf's "mlp512" (3 x 512 MLPs, LeakyReLU(0.2) in E
and T, ReLU in G), eager PyTorch as a user would write it (no torch.compile).

  TorchEnGAN: the training step of Algorithm 1: n_critic energy updates with the score
    penalty on real data (a fresh toy minibatch each), then one joint G/T update with the
    per-dimension shuffle; Adam(1e-4, 0.5, 0.9).
  TorchLatentMALA: the latent MALA chain of engan_tf.mcmc.latent_mala (U(z) = E(G(z)),
    proposal z - alpha grad U + sqrt(2 alpha) eps, Metropolis-Hastings accept/reject per
    chain).

  python bench/torch_reference.py --threads=1    # a quick stand-alone rate of each
"""

import argparse
import time

import torch
from torch import nn


def mlp(n_in, n_out, width, act):
  layers, d = [], n_in
  for _ in range(3):
    layers += [nn.Linear(d, width), act()]
    d = width
  return nn.Sequential(*layers, nn.Linear(d, n_out))


def leaky():
  return nn.LeakyReLU(0.2)


def gaussians25(n):
  centres = torch.tensor([[2.0 * i, 2.0 * j] for i in range(-2, 3) for j in range(-2, 3)])
  idx = torch.randint(0, 25, (n,))
  return (centres[idx] + 0.05 * torch.randn(n, 2)) / 2.828


class TorchEnGAN:
  """The toy EnGAN training step; `seconds(n)` times n generator steps.

  bf16=True runs the networks under torch.autocast("cpu", torch.bfloat16) (float32
  weights and optimizer), PyTorch's counterpart of Keras' mixed_bfloat16 policy.
  """

  def __init__(self, batch=256, n_critic=5, width=512, latent=2, lam=0.1, bf16=False):
    self.batch, self.n_critic, self.latent, self.lam = batch, n_critic, latent, lam
    self.bf16 = bf16
    self.energy, self.generator = mlp(2, 1, width, leaky), mlp(latent, 2, width, nn.ReLU)
    self.statistics = mlp(2 + latent, 1, width, leaky)
    adam = lambda m: torch.optim.Adam(m.parameters(), 1e-4, betas=(0.5, 0.9))
    self.opt_e, self.opt_g, self.opt_t = (adam(self.energy), adam(self.generator),
                                          adam(self.statistics))

  def step(self):
    batch, latent = self.batch, self.latent
    for _ in range(self.n_critic):
      x = gaussians25(batch).requires_grad_(True)
      with torch.no_grad():
        fake = self.generator(torch.randn(batch, latent))
      e_real = self.energy(x).squeeze(-1)
      (grad,) = torch.autograd.grad(e_real.sum(), x, create_graph=True)
      loss = e_real.mean() - self.energy(fake).mean() + self.lam * grad.pow(2).sum(1).mean()
      self.opt_e.zero_grad()
      loss.backward()
      self.opt_e.step()
    z = torch.randn(batch, latent)
    z_marginal = torch.stack([z[torch.randperm(batch), j] for j in range(latent)], 1)
    x = self.generator(z)
    t_joint = self.statistics(torch.cat([x, z], 1))
    t_marginal = self.statistics(torch.cat([x, z_marginal], 1))
    l_h = nn.functional.softplus(-t_joint).mean() + nn.functional.softplus(t_marginal).mean()
    loss = self.energy(x).mean() + l_h
    self.opt_g.zero_grad()
    self.opt_t.zero_grad()
    loss.backward()  # E(G(z)) does not depend on T: T's gradient is that of L_H
    self.opt_g.step()
    self.opt_t.step()
    self.opt_e.zero_grad()  # E is not updated by the generator step

  def seconds(self, steps):
    """Wall seconds of `steps` generator steps."""
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
      for _ in range(steps):
        self.step()
    return time.perf_counter() - start


def toy_networks(latent=2, width=512):
  """(E, G) of engan_tf's "mlp512" for 2-D data."""
  return mlp(2, 1, width, leaky), mlp(latent, 2, width, nn.ReLU)


class _Reshape(nn.Module):
  def __init__(self, *shape):
    super().__init__()
    self.shape = shape

  def forward(self, x):
    return x.reshape(x.shape[0], *self.shape)


def dcgan28_networks(latent=100, dim=64, channels=1):
  """(E, G) of engan_tf's "dcgan28" (engan_tf/networks/dcgan.py) in NCHW, G in eval mode.

  Same layer sizes (E: 4 x conv 5x5 stride 2 with dim..8dim channels, 28 -> 14 -> 7 -> 4
  -> 2, LeakyReLU(0.2), linear; G: linear to 2x2x8dim, BN, ReLU, transposed convs 5x5
  stride 2 to 4, 7, 14, 28 with BN + ReLU, tanh); the padding of Keras' "same" differs
  by one row at the border, which does not change the work.
  """
  layers, c_in = [], channels
  for mult in (1, 2, 4, 8):
    layers += [nn.Conv2d(c_in, dim * mult, 5, stride=2, padding=2), leaky()]
    c_in = dim * mult
  energy = nn.Sequential(*layers, nn.Flatten(), nn.Linear(2 * 2 * 8 * dim, 1))
  layers = [nn.Linear(latent, 2 * 2 * 8 * dim), _Reshape(8 * dim, 2, 2),
            nn.BatchNorm2d(8 * dim), nn.ReLU()]
  c_in = 8 * dim
  for mult, out_pad in ((4, 1), (2, 0), (1, 1)):  # 2 -> 4 -> 7 -> 14
    layers += [nn.ConvTranspose2d(c_in, dim * mult, 5, stride=2, padding=2,
                                  output_padding=out_pad), nn.BatchNorm2d(dim * mult), nn.ReLU()]
    c_in = dim * mult
  layers += [nn.ConvTranspose2d(c_in, channels, 5, stride=2, padding=2, output_padding=1),
             nn.Tanh()]  # 14 -> 28
  return energy, nn.Sequential(*layers).eval()


class TorchLatentMALA:
  """Latent MALA on U(z) = E(G(z)) for z [chains, latent]; `seconds(n)` times n steps."""

  def __init__(self, energy, generator, z, alpha=0.01):
    self.energy, self.generator = energy, generator
    for p in list(energy.parameters()) + list(generator.parameters()):
      p.requires_grad_(False)
    self.alpha = alpha
    self.z = z

  def _u_and_grad(self, z):
    z = z.detach().requires_grad_(True)
    u = self.energy(self.generator(z)).reshape(-1)
    (grad,) = torch.autograd.grad(u.sum(), z)
    return u.detach(), grad

  def seconds(self, steps):
    """Wall seconds of `steps` MALA transitions of every chain."""
    start = time.perf_counter()
    alpha, z = self.alpha, self.z
    u, grad = self._u_and_grad(z)
    for _ in range(steps):
      mean = z - alpha * grad
      proposal = mean + (2 * alpha) ** 0.5 * torch.randn_like(z)
      u_new, grad_new = self._u_and_grad(proposal)
      back = z - (proposal - alpha * grad_new)
      # log q(z | z') - log q(z' | z) for q(a | b) = N(a; b - alpha grad U(b), 2 alpha I)
      log_q_ratio = ((proposal - mean).pow(2).sum(1) - back.pow(2).sum(1)) / (4 * alpha)
      accept = torch.rand_like(u).log() < u - u_new + log_q_ratio
      z = torch.where(accept[:, None], proposal, z)
      u = torch.where(accept, u_new, u)
      grad = torch.where(accept[:, None], grad_new, grad)
    self.z = z
    return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--threads", type=int, default=1)
  parser.add_argument("--steps", type=int, default=50)
  args = parser.parse_args()
  torch.set_num_threads(args.threads)
  engan = TorchEnGAN()
  engan.seconds(5)  # warm-up
  print(f"plain PyTorch EnGAN step: {args.steps / engan.seconds(args.steps):.2f} "
        "generator steps/s")
  mala = TorchLatentMALA(*toy_networks(), torch.randn(10000, 2))
  mala.seconds(2)
  print(f"plain PyTorch latent MALA (toy, 10,000 chains): "
        f"{10000 * 20 / mala.seconds(20):,.0f} chain-steps/s")


if __name__ == "__main__":
  main()

"""Plain PyTorch versions of the EnGAN step and of latent MALA, for side-by-side speed.

Not part of the package (PyTorch is not a dependency): the benches import it when torch
is importable. Same networks as engan_tf's "mlp512" (3 x 512 MLPs, LeakyReLU(0.2) in E
and T, ReLU in G), "sngan32" and "dcgan28", eager PyTorch as a user would write it (NCHW,
no torch.compile).

  TorchEnGAN: the training step of Algorithm 1 (toy_engan: mlp512 on 25gaussians;
    image_engan: sngan32 or dcgan28 on images): n_critic energy updates with the score
    penalty on real data (a fresh minibatch each), then one joint G/T update with the
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


class Statistics(nn.Module):
  """T(x, z) = head(concat(features(x), z))."""

  def __init__(self, features, head):
    super().__init__()
    self.features, self.head = features, head

  def forward(self, x, z):
    return self.head(torch.cat([self.features(x), z], 1))


class TorchEnGAN:
  """The EnGAN training step of Algorithm 1; `seconds(n)` times n generator steps.

  n_critic energy updates with the score penalty on real data (a fresh minibatch from
  `sample_real(batch)` each), then one joint G/T update with the per-dimension shuffle;
  Adam(1e-4, 0.5, 0.9). bf16=True runs the networks under torch.autocast("cpu",
  torch.bfloat16) (float32 weights and optimizer), PyTorch's counterpart of Keras'
  mixed_bfloat16 policy. `toy_engan` and `image_engan` build it for engan_tf's networks.
  """

  def __init__(self, energy, generator, statistics, sample_real, latent, batch=256,
               n_critic=5, lam=0.1, bf16=False):
    self.batch, self.n_critic, self.latent, self.lam = batch, n_critic, latent, lam
    self.bf16, self.sample_real = bf16, sample_real
    self.energy, self.generator, self.statistics = energy, generator.train(), statistics
    adam = lambda m: torch.optim.Adam(m.parameters(), 1e-4, betas=(0.5, 0.9))
    self.opt_e, self.opt_g, self.opt_t = (adam(self.energy), adam(self.generator),
                                          adam(self.statistics))

  def step(self):
    batch, latent = self.batch, self.latent
    for _ in range(self.n_critic):
      x = self.sample_real(batch).requires_grad_(True)
      with torch.no_grad():
        fake = self.generator(torch.randn(batch, latent))
      e_real = self.energy(x).reshape(-1)
      (grad,) = torch.autograd.grad(e_real.sum(), x, create_graph=True)
      score_norm = grad.pow(2).reshape(batch, -1).sum(1)
      loss = e_real.mean() - self.energy(fake).mean() + self.lam * score_norm.mean()
      self.opt_e.zero_grad()
      loss.backward()
      self.opt_e.step()
    z = torch.randn(batch, latent)
    z_marginal = torch.gather(z, 0, torch.argsort(torch.rand(batch, latent), dim=0))
    x = self.generator(z)
    t_joint = self.statistics(x, z)
    t_marginal = self.statistics(x, z_marginal)
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


def toy_engan(batch=256, n_critic=5, width=512, latent=2, lam=0.1, bf16=False):
  """TorchEnGAN of engan_tf's "mlp512" on 25gaussians."""
  energy, generator = toy_networks(latent, width)
  statistics = Statistics(nn.Identity(), mlp(2 + latent, 1, width, leaky))
  return TorchEnGAN(energy, generator, statistics, gaussians25, latent, batch, n_critic, lam,
                    bf16)


def image_engan(networks, data_shape, dim, latent, batch=64, n_critic=5, lam=10.0,
                bf16=False, pool=1024):
  """TorchEnGAN of engan_tf's "sngan32" or "dcgan28" on images in [-1, 1] of data_shape
  (h, w, c), drawn from a fixed pool of `pool` random images (no input pipeline)."""
  h, w, c = data_shape
  build = {"sngan32": sngan32_networks, "dcgan28": dcgan28_networks}[networks]
  energy, generator, statistics = build(latent, dim, c, with_statistics=True)
  images = torch.rand(pool, c, h, w) * 2 - 1
  sample_real = lambda n: images[torch.randint(0, pool, (n,))]
  return TorchEnGAN(energy, generator, statistics, sample_real, latent, batch, n_critic, lam,
                    bf16)


def toy_networks(latent=2, width=512):
  """(E, G) of engan_tf's "mlp512" for 2-D data."""
  return mlp(2, 1, width, leaky), mlp(latent, 2, width, nn.ReLU)


class _Reshape(nn.Module):
  def __init__(self, *shape):
    super().__init__()
    self.shape = shape

  def forward(self, x):
    return x.reshape(x.shape[0], *self.shape)


def _conv_trunk(plan, channels, slope):
  """Conv + LeakyReLU(slope) per (kernel, stride, out, padding) of plan, then flatten."""
  layers, c_in = [], channels
  for kernel, stride, c_out, padding in plan:
    layers += [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding),
               nn.LeakyReLU(slope)]
    c_in = c_out
  return nn.Sequential(*layers, nn.Flatten())


def dcgan28_networks(latent=100, dim=64, channels=1, with_statistics=False):
  """(E, G[, T]) of engan_tf's "dcgan28" (engan_tf/networks/dcgan.py) in NCHW, G in eval mode.

  Same layer sizes (E: 4 x conv 5x5 stride 2 with dim..8dim channels, 28 -> 14 -> 7 -> 4
  -> 2, LeakyReLU(0.2), linear; G: linear to 2x2x8dim, BN, ReLU, transposed convs 5x5
  stride 2 to 4, 7, 14, 28 with BN + ReLU, tanh; T: E's trunk (own weights), linear to
  latent, concat z, 8dim LeakyReLU(0.2), linear); the padding of Keras' "same" differs by
  one row at the border, which does not change the work.
  """
  plan = [(5, 2, dim * mult, 2) for mult in (1, 2, 4, 8)]
  features = 2 * 2 * 8 * dim
  energy = nn.Sequential(_conv_trunk(plan, channels, 0.2), nn.Linear(features, 1))
  layers = [nn.Linear(latent, features), _Reshape(8 * dim, 2, 2),
            nn.BatchNorm2d(8 * dim), nn.ReLU()]
  c_in = 8 * dim
  for mult, out_pad in ((4, 1), (2, 0), (1, 1)):  # 2 -> 4 -> 7 -> 14
    layers += [nn.ConvTranspose2d(c_in, dim * mult, 5, stride=2, padding=2,
                                  output_padding=out_pad), nn.BatchNorm2d(dim * mult), nn.ReLU()]
    c_in = dim * mult
  layers += [nn.ConvTranspose2d(c_in, channels, 5, stride=2, padding=2, output_padding=1),
             nn.Tanh()]  # 14 -> 28
  generator = nn.Sequential(*layers).eval()
  if not with_statistics:
    return energy, generator
  statistics = Statistics(
      nn.Sequential(_conv_trunk(plan, channels, 0.2), nn.Linear(features, latent)),
      nn.Sequential(nn.Linear(2 * latent, 8 * dim), nn.LeakyReLU(0.2), nn.Linear(8 * dim, 1)))
  return energy, generator, statistics


def sngan32_networks(latent=128, dim=64, channels=3, with_statistics=False):
  """(E, G[, T]) of engan_tf's "sngan32" (engan_tf/networks/sngan.py, Miyato et al.'s standard
  CNN) in NCHW: E: conv 3x3/1 dim, 4x4/2 dim, 3x3/1 2dim, 4x4/2 2dim, 3x3/1 4dim, 4x4/2 4dim,
  3x3/1 8dim (LeakyReLU 0.1), linear; G: linear to 4x4x8dim, BN, ReLU, transposed convs
  4x4/2 to 4dim, 2dim, dim (BN, ReLU), conv 3x3 to C, tanh; T: E's trunk (own weights),
  concat z, 8dim LeakyReLU(0.1), linear. G in eval mode."""
  plan = [(3, 1, dim, 1), (4, 2, dim, 1), (3, 1, 2 * dim, 1), (4, 2, 2 * dim, 1),
          (3, 1, 4 * dim, 1), (4, 2, 4 * dim, 1), (3, 1, 8 * dim, 1)]
  features = 4 * 4 * 8 * dim
  energy = nn.Sequential(_conv_trunk(plan, channels, 0.1), nn.Linear(features, 1))
  layers = [nn.Linear(latent, features), _Reshape(8 * dim, 4, 4), nn.BatchNorm2d(8 * dim),
            nn.ReLU()]
  c_in = 8 * dim
  for c_out in (4 * dim, 2 * dim, dim):  # 4 -> 8 -> 16 -> 32
    layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out),
               nn.ReLU()]
    c_in = c_out
  layers += [nn.Conv2d(dim, channels, 3, padding=1), nn.Tanh()]
  generator = nn.Sequential(*layers).eval()
  if not with_statistics:
    return energy, generator
  statistics = Statistics(
      _conv_trunk(plan, channels, 0.1),
      nn.Sequential(nn.Linear(features + latent, 8 * dim), nn.LeakyReLU(0.1),
                    nn.Linear(8 * dim, 1)))
  return energy, generator, statistics


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
  engan = toy_engan()
  engan.seconds(5)  # warm-up
  print(f"plain PyTorch EnGAN step: {args.steps / engan.seconds(args.steps):.2f} "
        "generator steps/s")
  mala = TorchLatentMALA(*toy_networks(), torch.randn(10000, 2))
  mala.seconds(2)
  print(f"plain PyTorch latent MALA (toy, 10,000 chains): "
        f"{10000 * 20 / mala.seconds(20):,.0f} chain-steps/s")


if __name__ == "__main__":
  main()

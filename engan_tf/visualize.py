"""Pictures for people: density maps with samples for 2-D data, sample grids for images.

Everything renders to uint8 RGB arrays with numpy and is written with `tf.io.encode_png`,
so the same picture goes to TensorBoard (`tf.summary.image`) and to a PNG file.
"""

import numpy as np
import tensorflow as tf

# A few anchors of matplotlib's "viridis", linearly interpolated.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                    np.float64)


def colormap(values):
  """values in [0, 1] -> uint8 RGB, viridis-like."""
  v = np.clip(np.asarray(values, np.float64), 0, 1) * (len(_VIRIDIS) - 1)
  lo = np.floor(v).astype(int).clip(0, len(_VIRIDIS) - 2)
  frac = (v - lo)[..., None]
  return ((1 - frac) * _VIRIDIS[lo] + frac * _VIRIDIS[lo + 1]).astype(np.uint8)


def density_picture(energy_fn, samples=None, centers=None, half_width=2.5, size=384):
  """exp(-E) on [-half_width, half_width]^2 (normalised to its max) with samples on top.

  Samples are red dots, mode centres (if given) white crosses. Row 0 is the top (+y).
  """
  c = np.linspace(-half_width, half_width, size)
  xx, yy = np.meshgrid(c, c[::-1])  # image rows go down, y goes up
  pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)
  energy = np.concatenate([
      energy_fn(tf.constant(pts[i:i + 65536]), training=False).numpy()
      for i in range(0, len(pts), 65536)
  ])
  density = np.exp(-(energy - energy.min())).reshape(size, size)
  img = colormap(density)

  def to_pixel(p):
    p = np.asarray(p)
    col = np.round((p[:, 0] + half_width) / (2 * half_width) * (size - 1)).astype(int)
    row = np.round((half_width - p[:, 1]) / (2 * half_width) * (size - 1)).astype(int)
    keep = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    return row[keep], col[keep]

  if samples is not None:
    r, cc = to_pixel(samples)
    img[r, cc] = (230, 30, 30)
  if centers is not None:
    r, cc = to_pixel(centers)
    for d in range(-3, 4):
      img[np.clip(r + d, 0, size - 1), cc] = 255
      img[r, np.clip(cc + d, 0, size - 1)] = 255
  return img


def image_grid(images, columns=None):
  """[n, h, w, c] images in [-1, 1] (or uint8) -> one uint8 RGB grid."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = np.clip((images + 1.0) * 127.5, 0, 255).astype(np.uint8)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  elif images.shape[-1] not in (3,):  # e.g. StackedMNIST: show the first 3 channels
    images = images[..., :3]
  n, h, w, c = images.shape
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  grid = np.zeros((rows * (h + 2), columns * (w + 2), c), np.uint8)
  for i, im in enumerate(images):
    r, col = divmod(i, columns)
    grid[r * (h + 2) + 1:r * (h + 2) + 1 + h, col * (w + 2) + 1:col * (w + 2) + 1 + w] = im
  return grid


def save_png(image, path):
  """Writes a uint8 [h, w, 3] array as PNG, atomically (temp file, then rename)."""
  tmp = f"{path}.tmp"
  tf.io.write_file(tmp, tf.io.encode_png(np.asarray(image, np.uint8)))
  tf.io.gfile.rename(tmp, path, overwrite=True)

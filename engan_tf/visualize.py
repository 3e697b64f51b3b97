"""Pictures for people: density maps of 2-D data, sample grids, anomaly-score histograms.

Every picture is a uint8 RGB array, written with `tf.io.encode_png`, so the same picture
goes to TensorBoard (`tf.summary.image`) and to a PNG file in the model_dir:

  density_picture   the learned density exp(-E(x))/Z on a square of data coordinates,
                    Z ~ sum over the grid of exp(-E) * cell area (a Riemann sum over the
                    shown square); generator samples (red), the true mode centres (white
                    crosses); axes in data coordinates, a colour bar of exp(-E)/Z, a legend
                    and a title (the step and the evaluation's metrics)
  image_grid        generator samples side by side, under a caption (the step)
  score_histogram   anomaly scores of the test set, normal and anomalous rows apart, on a
                    log10 axis when every score is positive, with the threshold line

The rasters are numpy; the text, axes and legends are drawn with Pillow (a dependency, via
TensorBoard and declared in setup.py). Without Pillow the pictures are the bare rasters.
"""

import numpy as np
import tensorflow as tf

# A few anchors of matplotlib's "viridis", linearly interpolated.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                    np.float64)
_SAMPLE_RGB = (230, 30, 30)
_WHITE, _BLACK, _GREY = (255, 255, 255), (0, 0, 0), (110, 110, 110)
_NORMAL_RGB, _ANOMALY_RGB, _THRESHOLD_RGB = (59, 110, 200), (220, 90, 40), (20, 20, 20)


def colormap(values):
  """values in [0, 1] -> uint8 RGB, viridis-like."""
  v = np.clip(np.asarray(values, np.float64), 0, 1) * (len(_VIRIDIS) - 1)
  lo = np.floor(v).astype(int).clip(0, len(_VIRIDIS) - 2)
  frac = (v - lo)[..., None]
  return ((1 - frac) * _VIRIDIS[lo] + frac * _VIRIDIS[lo + 1]).astype(np.uint8)


def _pil():
  """(Image, ImageDraw, ImageFont) of Pillow, or None without it (bare rasters then)."""
  try:
    from PIL import Image, ImageDraw, ImageFont  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return Image, ImageDraw, ImageFont


def _font(image_font, size):
  try:
    return image_font.load_default(size=size)
  except TypeError:  # Pillow < 10.1: one bitmap size
    return image_font.load_default()


def _tick_label(value):
  return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


class _Canvas:
  """A white canvas with a raster at (left, top): axes, ticks and text around it."""

  def __init__(self, pil, raster, left=52, top=42, right=20, bottom=40):
    image_cls, image_draw, image_font = pil
    self._image_cls, self._image_draw = image_cls, image_draw
    height, width = raster.shape[:2]
    self.left, self.top, self.width, self.height = left, top, width, height
    self.image = image_cls.new("RGB", (left + width + right, top + height + bottom), _WHITE)
    self.image.paste(image_cls.fromarray(np.asarray(raster, np.uint8)), (left, top))
    self.draw = image_draw.Draw(self.image)
    self.font, self.small = _font(image_font, 13), _font(image_font, 11)

  def frame(self):
    self.draw.rectangle([self.left - 1, self.top - 1, self.left + self.width,
                         self.top + self.height], outline=_BLACK)

  def x_ticks(self, values, to_pixel, label=None):
    y = self.top + self.height
    for value in values:
      x = self.left + to_pixel(value)
      self.draw.line([x, y, x, y + 4], fill=_BLACK)
      self.draw.text((x, y + 6), _tick_label(value), fill=_BLACK, font=self.small, anchor="ma")
    if label:
      self.draw.text((self.left + self.width // 2, y + 22), label, fill=_BLACK,
                     font=self.small, anchor="ma")

  def y_ticks(self, values, to_pixel, label=None):
    for value in values:
      y = self.top + to_pixel(value)
      self.draw.line([self.left - 5, y, self.left - 1, y], fill=_BLACK)
      self.draw.text((self.left - 7, y), _tick_label(value), fill=_BLACK, font=self.small,
                     anchor="rm")
    if label:
      self.draw.text((4, self.top - 15), label, fill=_BLACK, font=self.small)

  def title(self, text):
    """The title above the raster; a title wider than the picture widens it (white right
    margin), so no text is cut off."""
    if not text:
      return
    needed = int(np.ceil(self.left + self.draw.textlength(text, font=self.font))) + 6
    if needed > self.image.width:
      wider = self._image_cls.new("RGB", (needed, self.image.height), _WHITE)
      wider.paste(self.image, (0, 0))
      self.image, self.draw = wider, self._image_draw.Draw(wider)
    self.draw.text((self.left, 5), text, fill=_BLACK, font=self.font)

  def legend(self, entries, x, y):
    """entries: [(kind "dot" | "cross" | "box" | "line", rgb, text)] at (x, y) downwards."""
    for i, (kind, rgb, text) in enumerate(entries):
      cy = y + 8 + 16 * i
      if kind == "dot":
        self.draw.ellipse([x + 3, cy - 3, x + 9, cy + 3], fill=rgb)
      elif kind == "cross":
        self.draw.line([x + 1, cy, x + 11, cy], fill=rgb, width=2)
        self.draw.line([x + 6, cy - 5, x + 6, cy + 5], fill=rgb, width=2)
      elif kind == "box":
        self.draw.rectangle([x + 1, cy - 5, x + 11, cy + 5], fill=rgb)
      else:
        self.draw.line([x + 6, cy - 6, x + 6, cy + 6], fill=rgb, width=2)
      self.draw.text((x + 16, cy), text, fill=_BLACK, font=self.small, anchor="lm")

  def array(self):
    return np.asarray(self.image, np.uint8)


def density_picture(energy_fn, samples=None, centers=None, half_width=2.5, size=384,
                    title=None):
  """exp(-E)/Z on [-half_width, half_width]^2 with samples and mode centres on top.

  Samples are red dots, mode centres white crosses. Row 0 of the raster is the top (+y).
  `title` (e.g. the step and metrics) goes above; with Pillow the picture also has axes in
  data coordinates, a colour bar and a legend.
  """
  c = np.linspace(-half_width, half_width, size)
  xx, yy = np.meshgrid(c, c[::-1])  # image rows go down, y goes up
  pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)
  energy = np.concatenate([
      energy_fn(tf.constant(pts[i:i + 65536]), training=False).numpy()
      for i in range(0, len(pts), 65536)
  ]).astype(np.float64)
  unnormalised = np.exp(-(energy - energy.min())).reshape(size, size)
  cell = (2 * half_width / (size - 1))**2
  # exp(-E)/Z with Z over the shown square; the colours span [0, max].
  density = unnormalised / (unnormalised.sum() * cell)
  img = colormap(unnormalised)

  def to_pixel(p):
    p = np.asarray(p)
    col = np.round((p[:, 0] + half_width) / (2 * half_width) * (size - 1)).astype(int)
    row = np.round((half_width - p[:, 1]) / (2 * half_width) * (size - 1)).astype(int)
    keep = (col >= 0) & (col < size) & (row >= 0) & (row < size)
    return row[keep], col[keep]

  if samples is not None:
    r, cc = to_pixel(samples)
    img[r, cc] = _SAMPLE_RGB
  if centers is not None:
    r, cc = to_pixel(centers)
    for d in range(-3, 4):
      img[np.clip(r + d, 0, size - 1), cc] = 255
      img[r, np.clip(cc + d, 0, size - 1)] = 255
  pil = _pil()
  if pil is None:
    return img

  canvas = _Canvas(pil, img, right=96)
  canvas.frame()
  ticks = np.arange(np.ceil(-half_width), np.floor(half_width) + 1)
  canvas.x_ticks(ticks, lambda v: (v + half_width) / (2 * half_width) * (size - 1), "x1")
  canvas.y_ticks(ticks, lambda v: (half_width - v) / (2 * half_width) * (size - 1), "x2")
  canvas.title(title)
  # The colour bar: exp(-E)/Z from 0 (bottom) to its maximum (top).
  bar_left = canvas.left + size + 14
  bar = colormap(np.linspace(1, 0, size))[:, None, :].repeat(14, axis=1)
  canvas.image.paste(pil[0].fromarray(bar), (bar_left, canvas.top))
  canvas.draw.rectangle([bar_left - 1, canvas.top - 1, bar_left + 14, canvas.top + size],
                        outline=_BLACK)
  top = float(density.max())
  for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
    y = canvas.top + (1 - frac) * (size - 1)
    canvas.draw.line([bar_left + 14, y, bar_left + 18, y], fill=_BLACK)
    canvas.draw.text((bar_left + 20, y), _tick_label(frac * top), fill=_BLACK,
                     font=canvas.small, anchor="lm")
  canvas.draw.text((bar_left - 2, canvas.top + size + 6), "exp(-E)/Z", fill=_BLACK,
                   font=canvas.small)
  entries = [("dot", _SAMPLE_RGB, "samples G(z)")]
  if centers is not None:
    entries.append(("cross", _WHITE, "true mode centres"))
  x0, y0 = canvas.left + 6, canvas.top + 6
  canvas.draw.rectangle([x0, y0, x0 + 132, y0 + 16 * len(entries) + 4], fill=(30, 30, 30))
  for i, (kind, rgb, text) in enumerate(entries):
    cy = y0 + 10 + 16 * i
    if kind == "dot":
      canvas.draw.ellipse([x0 + 5, cy - 3, x0 + 11, cy + 3], fill=rgb)
    else:
      canvas.draw.line([x0 + 3, cy, x0 + 13, cy], fill=rgb, width=2)
      canvas.draw.line([x0 + 8, cy - 5, x0 + 8, cy + 5], fill=rgb, width=2)
    canvas.draw.text((x0 + 18, cy), text, fill=_WHITE, font=canvas.small, anchor="lm")
  return canvas.array()


def toy_title(step, metrics):
  """'step S  modes M/N  high quality H%  distance to data D  log-lik L' from toy metrics
  (those present)."""
  parts = [] if step is None else [f"step {step}"]
  if "modes_covered" in metrics:
    parts.append(f"modes {metrics['modes_covered']}/{metrics.get('num_modes', '?')}")
  if "high_quality_fraction" in metrics:
    parts.append(f"high quality {100 * metrics['high_quality_fraction']:.0f}%")
  if "nearest_true_distance" in metrics:
    parts.append(f"distance to data {metrics['nearest_true_distance']:.4f}")
  if "log_likelihood" in metrics:
    parts.append(f"log-lik {metrics['log_likelihood']:.2f}")
  return "   ".join(parts)


def image_grid(images, columns=None, caption=None):
  """[n, h, w, c] images in [-1, 1] (or uint8) -> one uint8 RGB grid, captioned (Pillow)."""
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
  pil = _pil()
  if not caption or pil is None:
    return grid
  canvas = _Canvas(pil, grid, left=4, top=22, right=4, bottom=4)
  canvas.draw.text((4, 4), caption, fill=_BLACK, font=canvas.font)
  return canvas.array()


def score_histogram(scores, labels, threshold, name="score", title=None, bins=60,
                    width=480, height=240):
  """Histogram of anomaly scores: normal rows (labels 0) and anomalies (1) apart, as
  fractions of their own class; `labels` None: one histogram of all rows. The threshold is
  a vertical line. Scores are on a log10 axis when every finite score is positive."""
  scores = np.asarray(scores, np.float64)
  keep = np.isfinite(scores)
  log = bool(keep.any() and (scores[keep] > 0).all())
  values = np.log10(scores[keep]) if log else scores[keep]
  labels = None if labels is None else np.asarray(labels)[keep]
  t = None if threshold is None or not np.isfinite(threshold) else float(threshold)
  t_value = None if t is None else (np.log10(t) if log and t > 0 else (None if log else t))
  lo, hi = np.percentile(values, [0.5, 99.5]) if len(values) else (0.0, 1.0)
  if t_value is not None:
    lo, hi = min(lo, t_value), max(hi, t_value)
  hi = hi if hi > lo else lo + 1.0
  edges = np.linspace(lo, hi, bins + 1)
  groups = ([("box", _NORMAL_RGB, "normal", values)] if labels is None else
            [("box", _NORMAL_RGB, "normal", values[labels == 0]),
             ("box", _ANOMALY_RGB, "anomalous", values[labels == 1])])
  counts = [np.histogram(np.clip(v, lo, hi), edges)[0] / max(len(v), 1)
            for _, _, _, v in groups]
  top = max(float(c.max()) for c in counts) or 1.0
  raster = np.full((height, width, 3), 255, np.uint8)
  bin_width = width / bins
  for (_, rgb, _, _), count in zip(groups, counts):
    for i, value in enumerate(count):
      bar = int(round(value / top * (height - 4)))
      if bar:
        x0, x1 = int(i * bin_width), max(int((i + 1) * bin_width) - 1, int(i * bin_width) + 1)
        region = raster[height - bar:, x0:x1]
        # Overlapping classes mix: each bar blends half its colour in.
        region[:] = (region.astype(np.int32) + np.array(rgb)) // 2
  to_x = lambda v: (v - lo) / (hi - lo) * (width - 1)
  if t_value is not None:
    raster[:, int(round(to_x(t_value)))] = _THRESHOLD_RGB
  pil = _pil()
  if pil is None:
    return raster
  canvas = _Canvas(pil, raster, left=52, bottom=44)
  canvas.frame()
  ticks = np.linspace(lo, hi, 6)
  canvas.x_ticks(ticks, to_x, f"log10 {name}" if log else name)
  canvas.y_ticks(np.linspace(0, top, 3), lambda v: (1 - v / top) * (height - 1),
                 "share of the class's rows")
  canvas.title(title)
  entries = [(kind, rgb, f"{text} ({len(v):,})") for kind, rgb, text, v in groups]
  if t_value is not None:
    entries.append(("line", _THRESHOLD_RGB, f"threshold {t:.4g}"))
  x0 = canvas.left + width - 150
  canvas.draw.rectangle([x0, canvas.top + 4, x0 + 144, canvas.top + 8 + 16 * len(entries)],
                        fill=_WHITE, outline=_GREY)
  canvas.legend(entries, x0 + 4, canvas.top + 4)
  return canvas.array()


def save_png(image, path):
  """Writes a uint8 [h, w, 3] array as PNG, atomically (temp file, then rename)."""
  tmp = f"{path}.tmp"
  tf.io.write_file(tmp, tf.io.encode_png(np.asarray(image, np.uint8)))
  tf.io.gfile.rename(tmp, path, overwrite=True)

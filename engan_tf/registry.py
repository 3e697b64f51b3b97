"""A name -> builder table: how data sets, networks and evaluators plug in by name."""


class Registry:
  """`@registry.register("name")` adds a builder; `registry.get("name")` looks it up.

  Example:
    >>> DATASETS = Registry("dataset")
    >>> @DATASETS.register("toy")
    ... def load_toy(**options): ...
    >>> DATASETS.get("toy") is load_toy, DATASETS.names()
    (True, ['toy'])
  """

  def __init__(self, kind):
    self.kind = kind
    self._builders = {}

  def register(self, name):

    def wrap(builder):
      if name in self._builders:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      self._builders[name] = builder
      return builder

    return wrap

  def names(self):
    return sorted(self._builders)

  def get(self, name):
    if name not in self._builders:
      raise ValueError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}")
    return self._builders[name]

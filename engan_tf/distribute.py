"""Where a run executes: the tf.distribute strategy, the chief, per-worker files and data.

`make_strategy(name)` gives the strategy for --strategy; `is_chief` tells the one worker
that writes the run's files; `writable_dir` is where a worker may write; and
`distributed_dataset` feeds one input pipeline per worker.

Example:
  >>> from engan_tf import build, config as config_lib, data
  >>> source = data.load_dataset("8gaussians")
  >>> config = build.resolve(config_lib.TrainConfig(dataset="8gaussians"), source)
  >>> strategy = make_strategy("mirrored")   # all local GPUs, or the logical CPUs
  >>> with strategy.scope():
  ...   model = build.build_model(config, source)
  >>> is_chief(strategy), model.distribute_strategy is strategy   # variables mirrored
  (True, True)
"""

import os

import tensorflow as tf

from engan_tf.config import STRATEGIES


def make_strategy(name):
  """The tf.distribute strategy for --strategy.

  multi_worker_mirrored reads the cluster from the TF_CONFIG environment variable, as
  TensorFlow documents (every worker runs the same command with its own TF_CONFIG); tpu
  resolves the TPU from the environment (TPU VMs, Colab).
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if tf.config.list_logical_devices("GPU"):
      return tf.distribute.MirroredStrategy()  # all local GPUs, NCCL all-reduce
    # No GPU: one replica per logical CPU device (tests split the CPU in two), reduced on
    # one device: collective ops would need program-wide unique keys across strategies.
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
  if name == "multi_worker_mirrored":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker_mirrored needs the TF_CONFIG environment "
                       "variable (see README, 'Training on several machines')")
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
      raise ValueError(f"--strategy=tpu found no TPU on this machine ({e})") from e
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def is_chief(strategy):
  """True on the one worker that writes the run's files (always, without a cluster)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def writable_dir(model_dir, strategy):
  """model_dir on the chief; a private temporary directory on the other workers.

  Every worker of a MultiWorkerMirroredStrategy must take part in a save (the variables'
  values are gathered collectively), but only the chief's copy is kept (TensorFlow's
  multi-worker checkpointing recipe).
  """
  if is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return os.path.join(model_dir, "workertemp", f"{resolver.task_type}_{resolver.task_id}")


def distributed_dataset(source, config, strategy, start):
  """The training data for `strategy`; with several input pipelines, one shard each.

  Each pipeline (one per worker) builds the same stream at the per-worker batch size and
  keeps every k-th element, so workers never see the same minibatch.
  """
  seed = config.seed + start  # a resumed run draws a different (reproducible) stream
  if strategy.extended._in_multi_worker_mode():  # pylint: disable=protected-access
    def dataset_fn(ctx):
      per_replica = ctx.get_per_replica_batch_size(config.batch_size)
      ds = source.train_dataset(per_replica, config.n_critic, seed)
      return ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    return strategy.distribute_datasets_from_function(dataset_fn)
  return source.train_dataset(config.batch_size, config.n_critic, seed)

"""KDD Cup 1999 (10 percent) in the anomaly-detection protocol of Zong et al. / Zenati et al.

  --dataset=kddcup99 --data_dir=DIR   (DIR holds kddcup.data_10_percent.gz, or DIR/kddcup99/)

The file is a header-less CSV with a known schema (41 features + label, 494,021 rows), so
it goes through the same machinery as a user's CSV (`engan_tf.data.tabular`):

  * one-hot of protocol_type, service, flag, land, logged_in, is_host_login,
    is_guest_login (vocabularies from the whole file) + the 34 numeric columns -> 121
    features, laid out as the reference's pandas get_dummies (numeric columns in file
    order, then each one-hot block in sorted value order);
  * a 50/50 random split (split seed 42, independent of the training seed, so every run
    sees the same test set): 247,010 training / 247,011 test rows;
  * training keeps only the records whose label is not `normal.`: here `normal.` traffic
    is the 20% minority and is the anomaly class;
  * min-max scaling fit on the training rows, and applied to train and test (the reference
    computed the scaler and discarded its output);
  * test: the whole other half, with anomalies capped at rho = 0.2 (here all 48.6k normal
    records of the half are kept, so their share is 19.7%).

When the file is missing it is downloaded from the canonical UCI address and its sha256
checked.

Example (reads, or downloads, the 10% file: not run by the doctests):
  >>> from engan_tf.data import load_dataset
  >>> source = load_dataset("kddcup99", data_dir="/data")  # doctest: +SKIP
  >>> source.anomaly.x_test.shape, round(source.anomaly.test_anomaly_share, 3)  # doctest: +SKIP
  ((247011, 121), 0.197)
"""

import os

import tensorflow as tf

from engan_tf import data as data_lib
from engan_tf.data import tabular

FILENAME = "kddcup.data_10_percent.gz"
URL = "http://kdd.ics.uci.edu/databases/kddcup99/kddcup.data_10_percent.gz"
SHA256 = "8045aca0d84e70e622d1148d7df782496f6333bf6eb979a1b0837c42a9fd9561"
ANOMALY_LABEL = "normal."

COLUMNS = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate", "label")
CATEGORICAL = ("protocol_type", "service", "flag", "land", "logged_in", "is_host_login",
               "is_guest_login")
SCHEMA = tabular.TableSchema(COLUMNS, CATEGORICAL, "label")


def find_or_download(data_dir=None):
  """The path of kddcup.data_10_percent.gz in data_dir (or data_dir/kddcup99), else fetched.

  The download goes to data_dir (default ~/.engan_tf/kddcup99). A local copy and a download
  are both checked by sha256: a truncated or different file is named, not read.
  """
  candidates = [os.path.join(d, FILENAME) for d in
                ([data_dir, os.path.join(data_dir, "kddcup99")] if data_dir else [])]
  for path in candidates:
    if tf.io.gfile.exists(path):
      return _checked(path)
  target_dir = data_dir or os.path.join(os.path.expanduser("~"), ".engan_tf", "kddcup99")
  path = os.path.join(target_dir, FILENAME)
  if not tf.io.gfile.exists(path):
    tf.io.gfile.makedirs(target_dir)
    try:
      path = tf.keras.utils.get_file(FILENAME, URL, cache_dir=target_dir, cache_subdir="")
    except Exception as e:  # pylint: disable=broad-except
      raise FileNotFoundError(
          f"{FILENAME} is not in {data_dir!r} and downloading {URL} failed ({e}). Put the file "
          f"in --data_dir.") from e
  return _checked(path)


def _checked(path):
  digest = tabular.sha256_of(path)
  if digest != SHA256:
    raise ValueError(f"{path} has sha256 {digest}, expected {SHA256}: a truncated, corrupt "
                     f"or different file; replace it with the original {FILENAME} (or delete "
                     f"it to download it again)")
  return path


def read(data_dir=None):
  """(schema, columns, is_anomaly) of the whole file (494,021 rows)."""
  path = find_or_download(data_dir)
  schema, columns = tabular.read_csv(path, schema=SCHEMA)
  is_anomaly = tabular.binary_labels(columns["label"], path, "label", anomaly_value=ANOMALY_LABEL)
  return schema, columns, is_anomaly


def source_from_table(schema, columns, is_anomaly, split_seed=42, test_anomaly_share=0.2,
                      validation_share=0.0, preprocessing=None, development_split=False):
  """The kddcup99 `DataSource` of an already parsed file (see `read`)."""
  return tabular.tabular_source("kddcup99", schema, columns, is_anomaly, split_seed=split_seed,
                                test_anomaly_share=test_anomaly_share, default_latent_dim=32,
                                validation_share=validation_share, preprocessing=preprocessing,
                                development_split=development_split,
                                file_fingerprint={"path": FILENAME, "sha256": SHA256,
                                                  "rows": len(is_anomaly)})


@data_lib.register_dataset("kddcup99")
def load_kddcup99(data_dir=None, seed=0, split_seed=42, test_anomaly_share=0.2,
                  validation_share=0.0, preprocessing=None, development_split=False, **unused):
  del seed, unused  # the split is fixed by split_seed, the same for every training seed
  return source_from_table(*read(data_dir), split_seed=split_seed,
                           test_anomaly_share=test_anomaly_share,
                           validation_share=validation_share, preprocessing=preprocessing,
                           development_split=development_split)

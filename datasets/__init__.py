"""TFDS builders of tfmusictag, one folder per dataset (installed as ``tfmusictag.datasets``).

The repository keeps this folder at the top level, as the design card asks, but installs it
under ``tfmusictag`` so it never shadows Hugging Face's ``datasets`` package.

Importing this package registers the builders with TFDS::

    import tensorflow_datasets as tfds
    import tfmusictag.datasets
    tfds.builder("demo_catalog/tiny")
"""

from tfmusictag.datasets.demo_catalog import demo_catalog_dataset_builder  # noqa: F401
from tfmusictag.datasets.tagged_catalog import tagged_catalog_dataset_builder  # noqa: F401
from tfmusictag.datasets.magnatagatune import magnatagatune_dataset_builder  # noqa: F401

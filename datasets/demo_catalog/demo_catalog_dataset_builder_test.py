"""TFDS's own builder test: generates the `tiny` config and checks its splits."""

import tensorflow_datasets as tfds

from tfmusictag.datasets.demo_catalog import demo_catalog_dataset_builder


class DemoCatalogTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = demo_catalog_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
    SPLITS = {"train": 9, "validation": 2, "test": 1}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()

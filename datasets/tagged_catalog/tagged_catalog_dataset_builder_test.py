"""TFDS's builder test on `dummy_data/` (made by make_dummy_data.py) used as the manual dir."""

import tensorflow_datasets as tfds

from tfmusictag.datasets.tagged_catalog import tagged_catalog_dataset_builder


class TaggedCatalogTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = tagged_catalog_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["default"]
    SPLITS = {"train": 6, "validation": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()

"""Run the TFDS builder tests that live beside each builder (folder-per-dataset layout)."""

from tfmusictag.datasets.demo_catalog.demo_catalog_dataset_builder_test import DemoCatalogTest  # noqa: F401

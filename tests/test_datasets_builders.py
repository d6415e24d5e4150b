"""Run the TFDS builder tests that live beside each builder (folder-per-dataset layout)."""

from tfmusictag.datasets.demo_catalog.demo_catalog_dataset_builder_test import DemoCatalogTest  # noqa: F401
from tfmusictag.datasets.tagged_catalog.tagged_catalog_dataset_builder_test import TaggedCatalogTest  # noqa: F401
from tfmusictag.datasets.magnatagatune.magnatagatune_dataset_builder_test import (  # noqa: F401
    MagnaTagATuneClipsTest, MagnaTagATuneSongsTest)

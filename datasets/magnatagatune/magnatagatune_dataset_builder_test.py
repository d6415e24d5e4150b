"""TFDS's builder test on `dummy_data/` (made by make_dummy_data.py) as the manual dir."""

import tensorflow_datasets as tfds

from tfmusictag.datasets.magnatagatune import magnatagatune_dataset_builder


class MagnaTagATuneClipsTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = magnatagatune_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["clips"]
    # 11 clips: 0 (3), 5 (1), 6 (the empty one, skipped), b (1) → 5; c (3); d (1) + f (2) → 3
    SPLITS = {"train": 5, "validation": 3, "test": 3}
    SKIP_CHECKSUMS = True


class MagnaTagATuneSongsTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = magnatagatune_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["songs"]
    # songs: train 0:(1+1), 5:1, b:1 (the empty song has no readable clip) → 4; c: 1; d: 1, f: 1 → 2
    SPLITS = {"train": 4, "validation": 1, "test": 2}
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()

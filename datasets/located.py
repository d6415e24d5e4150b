"""Shared by every builder: TFDS finds a builder's folder from the builder's own file.

TFDS derives a builder's folder (README, ``checksums.tsv``, ``dummy_data/``) by joining the
module's dotted name onto the folder of its top-level package. The builders here are installed as
``tfmusictag.datasets.*`` from the repository's top-level ``datasets/`` (setuptools' ``package_dir``),
so that join points at ``tfmusictag/datasets/...``, which does not exist in a checkout. The
builder's own source file is always right, in a checkout and in an installed wheel alike.
"""

import inspect

import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import py_utils


class Located:
    """Mixin (before ``tfds.core.GeneratorBasedBuilder``): ``code_path`` and ``pkg_dir_path`` from
    the file that defines the builder class."""

    @py_utils.classproperty
    @classmethod
    def code_path(cls):
        return tfds.core.Path(inspect.getfile(cls))

    @classmethod
    def _get_pkg_dir_path(cls):
        return tfds.core.Path(inspect.getfile(cls)).parent

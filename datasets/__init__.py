"""TFDS builders of tfmusictag, one folder per dataset (installed as ``tfmusictag.datasets``).

The repository keeps this folder at its top level (one folder per pipeline part) but installs it
under ``tfmusictag`` so it never shadows Hugging Face's ``datasets`` package.

Run from the root of a checkout, Python could also import this folder as a top-level ``datasets``;
it then hands the name over to the installed Hugging Face ``datasets`` (or fails as if none were
here), so it never shadows it.

Importing this package registers the builders with TFDS::

    import tensorflow_datasets as tfds
    import tfmusictag.datasets
    tfds.builder("demo_catalog/tiny")
"""

if __name__ == "datasets":  # imported as a top-level package from a checkout's root: not ours to answer
    import importlib.machinery as _machinery
    import importlib.util as _util
    import os as _os
    import sys as _sys

    _here = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    _path = [p for p in _sys.path if _os.path.abspath(p or _os.getcwd()) != _here]
    _spec = _machinery.PathFinder.find_spec("datasets", _path)
    if _spec is None:
        del _sys.modules["datasets"]
        raise ModuleNotFoundError("No module named 'datasets' (this checkout's datasets/ folder is "
                                  "tfmusictag.datasets)", name="datasets")
    _module = _util.module_from_spec(_spec)
    _sys.modules["datasets"] = _module
    _spec.loader.exec_module(_module)
else:
    from tfmusictag.datasets.demo_catalog import demo_catalog_dataset_builder  # noqa: F401
    from tfmusictag.datasets.tagged_catalog import tagged_catalog_dataset_builder  # noqa: F401
    from tfmusictag.datasets.magnatagatune import magnatagatune_dataset_builder  # noqa: F401

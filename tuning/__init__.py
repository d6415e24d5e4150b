"""KerasTuner hypermodels of tfmusictag (installed as ``tfmusictag.tuning``).

The repository keeps this folder at its top level (one folder per pipeline part) but installs it
under ``tfmusictag`` so no top-level package named ``tuning`` is created.

See :mod:`tfmusictag.tuning.hypermodels`: the thesis's H/Z, T/p and learning-rate searches.
"""

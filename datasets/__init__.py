"""TFDS builders of tfmusictag, one folder per dataset (installed as ``tfmusictag.datasets``).

The repository keeps this folder at the top level, as the design card asks, but installs it
under ``tfmusictag`` so it never shadows Hugging Face's ``datasets`` package.
"""

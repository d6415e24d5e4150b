"""A user's tagged music catalog as a TFDS dataset (see README.md)."""

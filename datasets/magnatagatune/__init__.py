"""MagnaTagATune (the thesis's source task) as a TFDS dataset (see README.md)."""

"""Shared by the builders that can generate through Apache Beam (MagnaTagATune, tagged_catalog)."""

import tensorflow_datasets as tfds


class BeamSwitch:
    """Mixin: generate locally by default, through Beam when the ``DownloadConfig`` names a runner.

    ``tfds.download.DownloadConfig(beam_runner=...)`` (or ``beam_options``) selects Beam, e.g.
    ``apache_beam.runners.DirectRunner()`` here or a Dataflow/Flink runner for catalogs larger than
    one machine; ``_generate_examples`` asks :meth:`use_beam`.
    """

    def _download_and_prepare(self, dl_manager, download_config=None, **kwargs):
        self._use_beam = bool(download_config and (download_config.beam_runner or download_config.beam_options))
        return super()._download_and_prepare(dl_manager, download_config=download_config, **kwargs)

    def use_beam(self) -> bool:
        return getattr(self, "_use_beam", False)

    @staticmethod
    def beam():
        return tfds.core.lazy_imports.apache_beam

"""Reference outputs of the ORIGINAL musicnn package, for tfmusictag's parity tests.

Runs only in musicnn's own environment (TensorFlow 2.15, numpy < 2), never in tfmusictag's;
``make musicnn-reference`` builds it in ``.venv-musicnn`` (pinned: tensorflow-cpu 2.15.1, numpy
1.26.4, librosa 0.11.0, soundfile 0.14.0, soxr 1.1.0, musicnn 0.1.0)::

    make musicnn-reference
    .venv-musicnn/bin/python tests/reference/musicnn_reference.py OUT.npz AUDIO [AUDIO ...]

For every audio file and model it stores ``<stem>/<model>/taggram`` (patches × 50, what
``musicnn.extractor.extractor`` returns), ``<stem>/<model>/penultimate`` (musicnn models) and
``<stem>/log_mel`` (the first 400 frames of ``musicnn.extractor.batch_data``'s spectrogram),
plus the versions used. ``tests/fixtures/musicnn_reference.npz`` was made from
``tests/fixtures/demo_excerpt_22k.flac`` (12 s of a demo-catalog track, 22.05 kHz mono) with this
script, ``tests/fixtures/musicnn_reference_bensound.npz`` (taggrams only) from the four MP3 clips in
``../shared/pretrained/choi2016/audio/``.
"""

import os
import sys

import numpy as np

MODELS = ("MTT_musicnn", "MTT_vgg", "MSD_musicnn")


def main(out, paths):
    import librosa
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn.extractor import batch_data, extractor

    arrays = {"versions": np.array([f"tensorflow {tf.__version__}", f"librosa {librosa.__version__}",
                                    f"numpy {np.__version__}"])}
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        _, spec = batch_data(path, 187, 187)
        arrays[f"{stem}/log_mel"] = spec[:400].astype(np.float32)
        for model in MODELS:
            taggram, tags, features = extractor(path, model=model, extract_features=True)
            arrays[f"{stem}/{model}/taggram"] = np.asarray(taggram, np.float32)
            if "penultimate" in features:
                arrays[f"{stem}/{model}/penultimate"] = np.asarray(features["penultimate"], np.float32)
            assert list(tags) == list(config.MTT_LABELS if model.startswith("MTT") else config.MSD_LABELS)
            print(stem, model, taggram.shape, file=sys.stderr)
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

"""Tag files with Essentia's ``TensorflowPredictMusiCNN`` (runs in Essentia's own environment; for
``bench_musicnn.py --essentia_python``).

Usage: <essentia venv>/bin/python benchmarks/_essentia_worker.py GRAPH.pb OUT.npz FILE [FILE ...]

The model is loaded once; each file is decoded and resampled to 16 kHz mono by ``MonoLoader`` and
tagged on non-overlapping 3 s patches (``patchHopSize=187``, musicnn's own) in batches of 64.
Writes every file's taggram (patches × 50).
"""

import sys

import numpy as np


def main(graph, out, paths):
    from essentia.standard import MonoLoader, TensorflowPredictMusiCNN

    model = TensorflowPredictMusiCNN(graphFilename=graph, patchHopSize=187, batchSize=64,
                                     isTrainingName="model/Placeholder_1")  # fed False
    arrays = {}
    for i, path in enumerate(paths):
        audio = MonoLoader(filename=path, sampleRate=16000, resampleQuality=4)()
        arrays[f"taggram_{i}"] = np.asarray(model(audio), np.float32)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])

"""Model cards of the pretrained taggers: what each model is, was trained on, scored and may be used for.

One card per name of :func:`tfmusictag.pretrained.names` — the facts a user weighs before tagging a
collection with a model (as Essentia's and KerasHub's model pages give them): the network, its input,
the data and tags it learnt, the scores its authors published on their test set, its licence and
the work to cite, and how it decides tags here. The documentation's model page renders these cards
beside the model's speed and memory measured here (``benchmarks/results/``).
"""

from __future__ import annotations

from typing import Dict

from tfmusictag.pretrained.musicnn import MSD_LABELS, MTT_LABELS

__all__ = ["CARDS"]

_MUSICNN = {"licence": "ISC (musicnn, Jordi Pons)", "weights": "the musicnn 0.1.0 sdist on PyPI "
            "(`python -m tfmusictag.pretrained download musicnn`)",
            "citation": "Pons, J. and Serra, X. (2019). musicnn: pre-trained convolutional neural networks for music "
                        "audio tagging. ISMIR late-breaking demo.",
            "input": "16 kHz mono; 96 mel bands, FFT 512, hop 256, log10(10000·x + 1); 3 s patches (187 frames)"}
_MTT = ("MagnaTagATune (25,863 clips of 29 s, the 50 most frequent tags; the common split: folders 0–b "
        "train, c validation, d–f test)")
_MSD = "the Million Song Dataset (last.fm tags of 30 s previews; the 50 most frequent tags)"
_CHOI = {"licence": "MIT (Keunwoo Choi)", "weights": "Choi's HDF5 files on GitHub "
         "(`python -m tfmusictag.pretrained download choi2016`, or `--from=<folder>`)",
         "input": "12 kHz mono; 96 mel bands (Slaney), FFT 512, hop 256, decibels of the squared mel power "
                  "(80 dB range); 29.12 s segments (1366 frames)"}

#: name → card: ``network``, ``input``, ``trained_on``, ``tags`` (the vocabulary, in output order),
#: ``published`` (the authors' scores on their test set), ``licence``, ``citation``, ``weights``.
CARDS: Dict[str, Dict] = {
    "MTT_musicnn": {**_MUSICNN, "network": "musicnn: musically motivated front end (timbral and temporal "
                    "filters), 1-D mid end with residual connections, temporal mean and max pooling, dense back "
                    "end", "trained_on": _MTT, "tags": MTT_LABELS,
                    "published": "MagnaTagATune test set: ROC-AUC 0.9067, PR-AUC 0.3831 (its `experiment.result`)"},
    "MTT_vgg": {**_MUSICNN, "network": "a VGG-like CNN of 5 blocks of 3×3 convolutions and pooling, one sigmoid "
                "layer", "trained_on": _MTT, "tags": MTT_LABELS,
                "published": "MagnaTagATune test set: ROC-AUC 0.9030, PR-AUC 0.3823 (its `experiment.result`)"},
    "MSD_musicnn": {**_MUSICNN, "network": "musicnn, the same network as MTT_musicnn", "trained_on": _MSD,
                    "tags": MSD_LABELS,
                    "published": "Million Song Dataset test set: ROC-AUC 0.8802, PR-AUC 0.2891 (its `experiment.result`)"},
    "MSD_vgg": {**_MUSICNN, "network": "the VGG-like CNN (as MTT_vgg)", "trained_on": _MSD, "tags": MSD_LABELS,
                "published": "Million Song Dataset test set: ROC-AUC 0.8768, PR-AUC 0.2819 (its `experiment.result`)"},
    "choi2016_cnn": {**_CHOI, "network": "the thesis's Algorithm 20: 5 blocks of 3×3 convolution, batch norm, ELU "
                     "and max pooling (32/128/128/192/256 filters), one sigmoid layer", "trained_on": _MSD,
                     "tags": MSD_LABELS,
                     "published": "Million Song Dataset: ROC-AUC 0.851 (FCN-4, Choi et al. 2016)",
                     "citation": "Choi, K., Fazekas, G. and Sandler, M. (2016). Automatic tagging using deep "
                                 "convolutional neural networks. ISMIR."},
    "choi2016_crnn": {**_CHOI, "network": "Choi's CRNN: 4 blocks of 3×3 convolution and pooling, then 2 GRU layers "
                      "over time, one sigmoid layer", "trained_on": _MSD, "tags": MSD_LABELS,
                      "published": "Million Song Dataset: see Choi et al. 2017 (the CRNN against CNNs of the same "
                                   "size)",
                      "citation": "Choi, K., Fazekas, G., Sandler, M. and Cho, K. (2017). Convolutional recurrent "
                                  "neural networks for music classification. ICASSP."},
}

"""Signal constants of the thesis (Table 4.1) in one place.

"Analyses of Convolutional Neural Networks for Automatic tagging of music tracks", Section 4.3.1,
Table 4.1: 12 kHz, Hamming window of 512 samples (42 ms), hop 256, FFT 512, 96 mel bins.
Segments of 29.12 s (1366 frames) follow Section 4.3.3 ("There are 1366 STFT frames for 29.1 s
of 12 kHz sampled signal"); with centred frames, 1366 frames are exactly 29.12 s
(1 + 349440 // 256 = 1366), the input size of Choi et al.'s CNN (Algorithm 20).
"""

SAMPLE_RATE = 12000
FRAME_LENGTH = 512
HOP_LENGTH = 256
FFT_LENGTH = 512
N_MELS = 96
N_MFCC = 90  # Section 4.3.2: 90 MFCCs from 96 mel bands
SEGMENT_FRAMES = 1366
SEGMENT_SECONDS = 29.12
LOG_FLOOR = 1e-10  # amin: ln(1e-10) ≈ -23.03 is the value of digital silence

#: The model that tags when none is named: musicnn's MagnaTagATune model (50 tags a musician uses:
#: genres, instruments, moods, voices; downloaded once, :mod:`tfmusictag.pretrained`).
DEFAULT_MODEL = "MTT_musicnn"

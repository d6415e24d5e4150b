"""Compose and render whole demo tracks whose tags are known exactly.

Each track is an arrangement in one of six styles (house, techno, jazzy, ballad, orchestral,
pop): a key and mode, a tempo, a chord progression, and 2–8 sections in which instruments enter
and leave. It is written as General MIDI with ``pretty_midi`` and rendered offline with
``tinysoundfont`` through the GM soundfont that ships inside the ``pretty_midi`` wheel
(``TimGM6mb.sf2``), so real instrument timbres come from PyPI packages alone.

The tags are computed from what was generated, using the thesis's target vocabulary where it
fits (Appendix B.1): instruments (``piano``, ``keys``, ``strings``, ``flute``, ``horns``,
``choir``, ``voices``, ``bass``, ``melody``), rhythm (``kick``, ``drums``, ``tztz`` = open
hi-hats on the off-beats, ``steady`` = drums in every section), tempo (``fast`` ≥ 126 BPM,
``slow`` ≤ 85 BPM), dynamics (``soft``, ``energy``), style (``house``/``techno`` =
four-on-the-floor at 118–126 / 128–140 BPM, ``jazzy`` = swung eighths) and mode (``dark`` =
minor, ``happy`` = major). An instrument tag is true when the instrument plays in at least one
section, so many tags hold for part of a track only; the per-section tags are returned too.

Usage::

    python -m tfmusictag.datasets.demo_catalog.compose --seed 3 --seconds 120 --out demo.flac
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
from typing import Dict, List, Tuple

import numpy as np

TAGS = ("piano", "keys", "strings", "flute", "horns", "choir", "voices", "bass", "melody", "kick", "drums",
        "tztz", "steady", "fast", "slow", "soft", "energy", "house", "techno", "jazzy", "dark", "happy")

# General MIDI programs (0-based) per instrument role, and the tag each one carries.
PROGRAMS = {
    "piano": (0, "piano"), "epiano": (4, "keys"), "organ": (16, "keys"), "strings": (48, "strings"),
    "choir": (52, "choir"), "voice": (53, "voices"), "trumpet": (56, "horns"), "horn": (60, "horns"),
    "flute": (73, "flute"), "synth_lead": (80, None), "acoustic_bass": (32, "bass"), "finger_bass": (33, "bass"),
    "synth_bass": (38, "bass"), "pad": (89, None),
}
KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT, RIDE = 36, 38, 39, 42, 46, 51

STYLES = {
    #            tempo range,  four-on-floor, swing, p(minor), chord voices,                  bass,            leads,                                  p(drums), velocity
    "house":      ((118, 126), True,  False, 0.5, ("piano", "epiano", "organ", "strings"), "finger_bass", ("voice", "piano", "flute", "synth_lead"), 0.85, (80, 105)),
    "techno":     ((128, 140), True,  False, 0.9, ("pad", "organ", "strings"),             "synth_bass",  ("synth_lead", "voice"),                 0.9, (90, 120)),
    "jazzy":      ((92, 150),  False, True,  0.4, ("piano", "epiano"),                     "acoustic_bass", ("trumpet", "flute", "piano"),          0.8, (60, 95)),
    "ballad":     ((60, 84),   False, False, 0.5, ("piano", "strings", "epiano"),          "acoustic_bass", ("flute", "voice", "piano"),            0.25, (35, 70)),
    "orchestral": ((70, 110),  False, False, 0.5, ("strings",),                            "acoustic_bass", ("horn", "flute", "trumpet", "choir"),  0.3, (50, 115)),
    "pop":        ((96, 124),  False, False, 0.4, ("piano", "epiano", "strings"),          "finger_bass", ("voice", "flute", "synth_lead"),       0.9, (70, 100)),
}

MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = {"major": ((0, 5, 3, 4), (0, 3, 4, 3), (0, 4, 5, 3), (1, 4, 0, 0)),
                "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2))}


@dataclasses.dataclass
class Track:
    """A rendered track: stereo float32 audio, its tags and the tags of each section."""

    audio: np.ndarray
    sample_rate: int
    tags: Tuple[str, ...]
    sections: List[Dict]
    style: str
    tempo: float
    midi: object  # pretty_midi.PrettyMIDI


def _soundfont_path() -> str:
    import pretty_midi

    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


def compose(seed: int, seconds: float, style: str = None):
    """Compose one arrangement; returns ``(pretty_midi.PrettyMIDI, info)`` with tags computed."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    style = style or str(rng.choice(sorted(STYLES)))
    (lo, hi), four_floor, swing, p_minor, chord_set, bass_name, lead_set, p_drums, (v_lo, v_hi) = STYLES[style]
    tempo = float(rng.uniform(lo, hi))
    minor = bool(rng.random() < p_minor)
    scale = MINOR if minor else MAJOR
    root = 48 + int(rng.integers(0, 12))
    progression = PROGRESSIONS["minor" if minor else "major"][int(rng.integers(0, 4))]
    level = int(rng.integers(v_lo, v_hi + 1))  # overall dynamics of the track
    beat = 60.0 / tempo
    bar = 4 * beat
    n_bars = max(2, int(round(seconds / bar)))

    # Sections: 2–8 blocks of bars, each with its own set of active parts.
    n_sections = int(np.clip(round(seconds / 30.0) + rng.integers(0, 2), 2, 8))
    cuts = np.sort(rng.choice(np.arange(1, n_bars), size=min(n_sections - 1, n_bars - 1), replace=False))
    bounds = list(zip([0, *cuts], [*cuts, n_bars]))
    chord_name = str(rng.choice(chord_set))
    extra_pool = [n for n in ("strings", "choir", "flute", "horn", "pad") if n != chord_name]
    lead_name = str(rng.choice(lead_set))
    has_bass = rng.random() < (0.5 if style in ("ballad", "orchestral") else 0.95)

    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    parts = {}

    def part(name):
        if name not in parts:
            parts[name] = pretty_midi.Instrument(program=PROGRAMS[name][0], name=name)
        return parts[name]

    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")

    def note(inst, pitch, start, dur, vel):
        vel = int(np.clip(vel + rng.integers(-6, 7), 1, 127))
        inst.notes.append(pretty_midi.Note(velocity=vel, pitch=int(pitch), start=float(start),
                                           end=float(start + max(dur, 0.05))))

    def offbeat(t):  # swung eighths land 2/3 of the way through the beat
        return t + (2 / 3 if swing else 0.5) * beat

    sections = []
    for s_idx, (b0, b1) in enumerate(bounds):
        active = {"chords"}
        if has_bass and (rng.random() < 0.9 or s_idx > 0):
            active.add("bass")
        if rng.random() < p_drums and not (s_idx == 0 and len(bounds) > 2 and rng.random() < 0.5):
            active.add("drums")
        if rng.random() < 0.6:
            active.add("lead")
        if rng.random() < 0.35:
            active.add(str(rng.choice(extra_pool)))
        sec_tags = set()
        for b in range(b0, b1):
            t0 = b * bar
            degree = progression[b % len(progression)]
            chord = [root + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
            # chords: sustained for strings/pads/organ, rhythmic for piano/keys
            inst = part(chord_name)
            if chord_name in ("strings", "pad", "organ"):
                for p in chord:
                    note(inst, p + 12, t0, bar * 0.98, level - 10)
            else:
                hits = (0, 1.5, 2, 3.5) if style in ("house", "pop") else (0, 2)
                for h in hits:
                    for p in chord:
                        note(inst, p + 12, t0 + h * beat, beat * 0.9, level - 5)
            if PROGRAMS[chord_name][1]:
                sec_tags.add(PROGRAMS[chord_name][1])
            if "bass" in active:
                inst = part(bass_name)
                low = chord[0] - 12
                if four_floor:
                    for k in range(4):
                        note(inst, low, offbeat(t0 + k * beat), beat * 0.45, level)
                elif swing:  # walking bass
                    for k in range(4):
                        note(inst, low + scale[int(rng.integers(0, 5))], t0 + k * beat, beat * 0.9, level)
                else:
                    note(inst, low, t0, beat * 1.8, level)
                    note(inst, low + 7, t0 + 2 * beat, beat * 1.8, level)
                sec_tags.add("bass")
            if "lead" in active:
                inst = part(lead_name)
                pos = int(rng.integers(0, 7))
                step = 0.5 if style in ("techno", "house", "jazzy") else 1.0
                t = 0.0
                while t < 4:
                    pos = int(np.clip(pos + rng.integers(-2, 3), 0, 13))
                    pitch = root + 12 + scale[pos % 7] + 12 * (pos // 7)
                    start = t0 + (offbeat(t0 + int(t) * beat) - t0 if (swing and t % 1) else t * beat)
                    note(inst, pitch, start, step * beat * 0.9, level + 5)
                    t += step
                sec_tags.add("melody")
                if PROGRAMS[lead_name][1]:
                    sec_tags.add(PROGRAMS[lead_name][1])
            for extra in ("strings", "choir", "flute", "horn", "pad"):
                if extra in active and extra != chord_name:
                    inst = part(extra)
                    for p in chord[:2] if extra in ("flute", "horn") else chord:
                        note(inst, p + (24 if extra == "flute" else 12), t0, bar * 0.98, level - 15)
                    if PROGRAMS[extra][1]:
                        sec_tags.add(PROGRAMS[extra][1])
            if "drums" in active:
                for k in range(4):
                    tb = t0 + k * beat
                    if four_floor or k in (0, 2):
                        note(drums, KICK, tb, 0.1, level + 10)
                    if k in (1, 3):
                        note(drums, CLAP if four_floor else SNARE, tb, 0.1, level - (25 if swing else 0))
                    if four_floor:
                        note(drums, OPEN_HAT, offbeat(tb), 0.15, level - 10)
                    elif swing:
                        note(drums, RIDE, tb, 0.2, level - 15)
                        note(drums, RIDE, offbeat(tb), 0.2, level - 25)
                    else:
                        note(drums, CLOSED_HAT, tb, 0.05, level - 20)
                        note(drums, CLOSED_HAT, offbeat(tb), 0.05, level - 25)
                sec_tags |= {"kick", "drums"} | ({"tztz"} if four_floor else set())
        sections.append({"start": round(b0 * bar, 3), "end": round(b1 * bar, 3), "tags": sorted(sec_tags)})

    midi.instruments.extend(parts.values())
    if drums.notes:
        midi.instruments.append(drums)

    tags = set().union(*(set(s["tags"]) for s in sections))
    if drums.notes and all("drums" in s["tags"] for s in sections):
        tags.add("steady")
    if tempo >= 126:
        tags.add("fast")
    if tempo <= 85:
        tags.add("slow")
    if level <= 60:
        tags.add("soft")
    if level >= 95 and drums.notes:
        tags.add("energy")
    if style in ("house", "techno"):
        tags.add(style)
    if swing:
        tags.add("jazzy")
    tags.add("dark" if minor else "happy")
    tags.discard(None)
    info = {"style": style, "tempo": round(tempo, 2), "mode": "minor" if minor else "major",
            "tags": sorted(tags), "sections": sections}
    return midi, info


def render(midi, seconds: float, sample_rate: int = 22050, soundfont: str = None) -> np.ndarray:
    """Render a ``pretty_midi.PrettyMIDI`` to stereo float32 ``(frames, 2)`` with tinysoundfont."""
    try:
        import tinysoundfont
    except ImportError:
        raise ImportError("rendering the demo catalog needs tinysoundfont: "
                          "pip install --no-deps tinysoundfont==0.3.7 (its pyaudio dependency is not needed)") from None

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(soundfont or _soundfont_path())
    events = []
    channel = 0
    for inst in midi.instruments:
        if inst.is_drum:
            chan = 9
            synth.program_select(chan, sfid, 128, 0, True)
        else:
            chan = channel if channel < 9 else channel + 1
            channel += 1
            synth.program_select(chan, sfid, 0, inst.program)
        for n in inst.notes:
            events.append((n.start, 1, chan, n.pitch, n.velocity))
            events.append((n.end, 0, chan, n.pitch, 0))
    events.sort(key=lambda e: (e[0], e[1]))
    total = int(seconds * sample_rate)
    out = np.zeros((total, 2), np.float32)
    pos = 0
    for t, on, chan, pitch, vel in events:
        target = min(int(t * sample_rate), total)
        if target > pos:
            out[pos:target] = np.frombuffer(synth.generate(target - pos), np.float32).reshape(-1, 2)
            pos = target
        if pos >= total:
            break
        if on:
            synth.noteon(chan, pitch, vel)
        else:
            synth.noteoff(chan, pitch)
    if pos < total:
        out[pos:] = np.frombuffer(synth.generate(total - pos), np.float32).reshape(-1, 2)
    # tinysoundfont's mix can exceed 1.0: scale loud tracks down, keep soft ones soft.
    peak = float(np.abs(out).max())
    return out * (0.9 / max(peak, 1.0))


def make_track(seed: int, seconds: float, sample_rate: int = 22050, style: str = None) -> Track:
    midi, info = compose(seed, seconds, style)
    audio = render(midi, seconds, sample_rate)
    return Track(audio, sample_rate, tuple(info["tags"]), info["sections"], info["style"], info["tempo"], midi)


FORMATS = {"flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III"),
           "wav": ("WAV", "PCM_16")}
#: Extra encoder settings per format. MP3 at a constant 320 kbit/s: with libsndfile's default
#: (variable bitrate) about one track in 28 makes libmpg123 print "part2_3_length too large"
#: when decoded, which a successful demo must not show; none of 28 did at 320 kbit/s.
ENCODER_OPTIONS = {"mp3": {"bitrate_mode": "CONSTANT", "compression_level": 0.0}}


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Encode stereo float32 audio as ``fmt`` bytes (written in blocks: libsndfile's Ogg writer
    has crashed on single large writes)."""
    import soundfile as sf

    buf = io.BytesIO()
    major, subtype = FORMATS[fmt]
    options = ENCODER_OPTIONS.get(fmt, {})
    with sf.SoundFile(buf, "w", sample_rate, audio.shape[1], subtype, format=major, **options) as f:
        for i in range(0, len(audio), 1 << 15):
            f.write(audio[i:i + (1 << 15)])
    return buf.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compose and render one demo track with known tags.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--style", choices=sorted(STYLES), default=None)
    ap.add_argument("--sample_rate", type=int, default=22050)
    ap.add_argument("--out", required=True, help="output file (.flac, .ogg, .mp3 or .wav)")
    args = ap.parse_args(argv)
    track = make_track(args.seed, args.seconds, args.sample_rate, args.style)
    fmt = os.path.splitext(args.out)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        ap.error(f"--out must end in one of {sorted(FORMATS)}; received {args.out!r}")
    with open(args.out, "wb") as f:
        f.write(encode(track.audio, track.sample_rate, fmt))
    print(json.dumps({"file": args.out, "style": track.style, "tempo": track.tempo, "tags": list(track.tags),
                      "sections": track.sections}, indent=1))


if __name__ == "__main__":
    main()

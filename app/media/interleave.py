"""Video and audio packets in, one stream in decode-time order out (pure: no clock, no threads).

Theory: the service wants the blocks of a fragment in timecode order across tracks, and refuses a
fragment that lacks frames of a declared track (4011, kvs-protocol.md §4). Fragments are cut on video
key frames, so video leads:
- an audio packet goes out once a video packet at a later time is waiting (on equal times video goes
  first, so a fragment starts with its key frame and no audio of the previous fragment sits at its start);
- a video packet goes out once audio has reached its time, or audio has ended, or the video waiting
  spans more than ``max_wait_ms`` (the bounded wait: a microphone that stalls must not stall the stream);
- where audio is missing up to a released video packet (it stalled, ended early, or starts late) the
  gap is filled with silent frames, so every fragment has audio and the audio timeline stays
  continuous. Audio that turns up later for a time already covered is dropped and counted.
Times are ms (the fragmenter's units); audio frames have a fixed duration (AAC: 1024 samples).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from app.media.frames import AUDIO_TRACK, VIDEO_TRACK, EncodedPacket

MAX_PENDING_AUDIO = 4000  # ~85 s of AAC at 48 kHz: past that (video stalled for good) the oldest go


@dataclass
class InterleaveStats:
    filled: int = 0  # silent frames inserted
    dropped: int = 0  # audio frames for times already covered, or past the end of the video


class Interleaver:
    def __init__(self, *, frame_ms: float, silence: Callable[[int], EncodedPacket] | None,
                 max_wait_ms: int = 1000) -> None:
        """``silence(timestamp_ms)`` makes one silent audio frame; ``frame_ms`` is an audio frame's duration."""
        self.frame_ms = frame_ms
        self.max_wait_ms = max_wait_ms
        self._silence = silence
        self._video: deque[EncodedPacket] = deque()
        self._audio: deque[EncodedPacket] = deque()
        self._audio_ended = False
        self._audio_end: float | None = None  # where the audio sent so far ends (ms)
        self._last_audio: int | None = None  # timestamp of the last audio frame sent
        self._first_video: int | None = None
        self._last_video: int | None = None
        self._shown_until: int | None = None  # the latest presentation time of the video sent
        self.stats = InterleaveStats()

    def push(self, packet: EncodedPacket) -> list[EncodedPacket]:
        if packet.track == VIDEO_TRACK:
            self._video.append(packet)
        elif packet.track == AUDIO_TRACK:
            if self._audio_ended:
                raise ValueError("audio packet after the end of audio")
            self._audio.append(packet)
            if len(self._audio) > MAX_PENDING_AUDIO:
                self._audio.popleft()
                self.stats.dropped += 1
        else:
            raise ValueError(f"track {packet.track} is neither video nor audio")
        return self._drain()

    def end_audio(self) -> list[EncodedPacket]:
        """No more audio will come (the file's audio ended, the microphone is gone): silence from here on."""
        self._audio_ended = True
        return self._drain()

    def finish(self, tail_ms: float = 0.0) -> list[EncodedPacket]:
        """Video ended: everything goes out. Audio covers the picture up to ``tail_ms`` after the last video frame
        (that frame's duration), with silence if it ended sooner, and stops there, so the last fragment's two
        tracks end within one audio frame of each other."""
        self._audio_ended = True
        out = self._drain()
        end = None if self._shown_until is None else self._shown_until + tail_ms  # B-frames: not the last decoded
        while self._audio:
            a = self._audio.popleft()
            if end is not None and a.dts_ms < end and self._fits(a):
                out.append(self._sent_audio(a))
            else:
                self.stats.dropped += 1
        if end is not None:
            out += self._fill(end)
        return out

    @property
    def pending(self) -> int:
        return len(self._video) + len(self._audio)

    # -- internals ---------------------------------------------------------------------------------

    def _drain(self) -> list[EncodedPacket]:
        out: list[EncodedPacket] = []
        while self._video:
            v = self._video[0]
            vt = self._video_time(v)
            if self._audio and self._audio[0].dts_ms < vt:
                a = self._audio.popleft()
                if self._fits(a):
                    out.append(self._sent_audio(a))
                else:
                    self.stats.dropped += 1
                continue
            waited = self._video[-1].dts_ms - v.dts_ms
            if not (self._audio or self._audio_ended or waited >= self.max_wait_ms):
                break  # audio may still bring frames from before this video packet
            out += self._fill(vt)
            self._video.popleft()
            if self._first_video is None:
                self._first_video = vt
            self._last_video = vt
            self._shown_until = max(v.timestamp_ms, self._shown_until or v.timestamp_ms)
            out.append(v)
        return out

    def _video_time(self, v: EncodedPacket) -> int:
        """Where a video packet sits on the shared time line: its decode time, except that a key frame starts a
        fragment at its presentation time. With B-frames (a recording sent as it is) a key frame is decoded
        before it is shown; audio from between the two belongs to the fragment before it. Never goes back."""
        t = v.timestamp_ms if v.keyframe else v.dts_ms
        return t if self._last_video is None else max(t, self._last_video)

    def _fits(self, a: EncodedPacket) -> bool:
        """Audio for a time already covered (by silence, or after video that went ahead) is dropped."""
        if self._last_audio is not None and a.dts_ms <= self._last_audio:
            return False
        if self._last_video is not None and a.dts_ms < self._last_video:
            return False
        return self._audio_end is None or a.dts_ms >= self._audio_end - self.frame_ms / 2

    def _sent_audio(self, a: EncodedPacket) -> EncodedPacket:
        self._last_audio = a.dts_ms
        self._audio_end = a.dts_ms + self.frame_ms
        return a

    def _fill(self, until: float) -> list[EncodedPacket]:
        """Silent frames from where audio ends up to ``until`` (the video packet about to go out), stopping
        short of the next real audio frame."""
        if self._silence is None:
            return []
        start = self._audio_end if self._audio_end is not None else self._first_video
        if start is None:
            return []  # nothing sent yet: the first video packet starts the timeline
        limit = self._audio[0].dts_ms if self._audio else None
        out = []
        while start < until and (limit is None or start + self.frame_ms <= limit):
            ts = round(start)
            if self._last_audio is not None and ts <= self._last_audio:
                ts = self._last_audio + 1
            out.append(self._silence(ts))
            self._last_audio = ts
            start += self.frame_ms
            self._audio_end = start
            self.stats.filled += 1
        return out

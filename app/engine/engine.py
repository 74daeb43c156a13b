"""Engine: source -> encoder -> fragmenter -> buffer -> uploader, on worker threads.

``prepare()`` does everything that can fail on the user's input before any byte is sent (open the
source, find credentials, find or create the stream); ``start()`` runs the pipeline; ``stop()``
stops capture and lets the rest drain (the encoder is flushed, the last fragment sent, its acks
awaited); ``force_stop()`` drops the connection at once. Front ends get every EngineEvent through one
callback, called from worker threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from app.engine.buffer import DEFAULT_MAX_BYTES, DEFAULT_MAX_SECONDS, BufferedFragment, FragmentBuffer
from app.engine.events import (
    AudioLevel,
    EngineEvent,
    EngineMessage,
    EngineStopped,
    FragmentProgress,
    FragmentUpdate,
    PreviewFrame,
    StatsSample,
)
from app.engine.spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_BYTES
from app.engine.spool import Spool
from app.engine.uploader import Uploader, UploaderSettings
from app.errors import KvsStudioError, SourceError, StreamNotFound
from app.kvs.control import KvsControl
from app.kvs.ledger import FragmentState
from app.kvs.limits import limiter_for
from app.kvs.metadata import FragmentTags
from app.media.audio import AudioTrackInfo, LevelCallback, LiveAudio, open_live_audio, silent_frame
from app.media.copy_source import CopySource, KeyFramePreview
from app.media.encoder import DEFAULT_BITRATE, H264Encoder
from app.media.frames import AUDIO_TRACK, VIDEO_TRACK, EncodedPacket, RawFrame
from app.media.interleave import Interleaver
from app.media.sources import FrameSource, open_source
from app.media.thumbnail import preview_bgr
from app.mkv.fragmenter import (
    Fragmenter,
    FragmentSealed,
    FrameAdded,
    audio_entry,
    connection_header,
    video_entry,
)

log = logging.getLogger(__name__)
QUEUE_TIMEOUT_S = 0.2  # every blocking put/get wakes this often to see whether the run is over
STOP_GRACE_S = 10.0  # after a stop, how long capture and encoding may take to finish before we leave them
PROGRESS_INTERVAL_S = 0.25  # the open fragment's growth is told at most this often (front ends need no more)
AUDIO_WAIT_LIVE_MS = 1000  # how long video waits for a late microphone before silence stands in for it
AUDIO_WAIT_FILE_MS = 5000  # a file's tracks never stall; this only bounds memory if its audio simply stops
LEVELS_PER_S = 10


@dataclass
class StreamSettings:
    stream: str
    source: str = "testpattern"
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    create: bool = False
    create_retention_hours: int = 24
    fragment_seconds: float = 2.0
    realtime: bool = True
    copy: bool = False  # send a file's H.264 as recorded, without decoding it (app/media/copy_source.py)
    max_rate_mbps: float | None = None  # cap on the upload in MB/s; AWS endpoints are always kept under theirs
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    bitrate_kbps: int | None = None
    preset: str = "veryfast"
    duration_s: float | None = None  # stop a live source after this long
    buffer_bytes: int = DEFAULT_MAX_BYTES
    buffer_seconds: float = DEFAULT_MAX_SECONDS
    preview: bool = False
    uploader: UploaderSettings | None = None
    spool_dir: Path | None = None  # keep unacknowledged fragments on disk across crashes and restarts
    spool_bytes: int = DEFAULT_SPOOL_BYTES
    wait_active_s: float = 120.0  # how long a stream may stay CREATING before we give up
    access_key: str | None = None  # explicit credentials instead of the AWS chain; never logged or saved
    secret_key: str | None = None
    keyring_entry: str | None = None  # name of saved credentials in the OS keyring (app/credentials)
    audio: bool = True  # send the file's (or tone's, microphone's) audio as track 2; False = video only
    tone: bool = False  # live sources: a generated test tone as the audio track
    mic: str | None = None  # live sources: a microphone, by name
    tags: tuple[tuple[str, str], ...] = ()  # fragment metadata on every fragment
    tags_once: tuple[tuple[str, str], ...] = ()  # fragment metadata on the first fragment only

    def __repr__(self) -> str:  # keep the secret out of any log or traceback
        return f"StreamSettings(stream={self.stream!r}, source={self.source!r}, region={self.region!r})"


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window = window_s
        self.times: deque[tuple[float, int]] = deque()

    def add(self, amount: int = 1) -> None:
        self.times.append((time.monotonic(), amount))

    def rate(self) -> float:
        now = time.monotonic()
        while self.times and now - self.times[0][0] > self.window:
            self.times.popleft()
        return sum(a for _, a in self.times) / self.window


class Engine:
    def __init__(self, settings: StreamSettings, on_event: Callable[[EngineEvent], None]) -> None:
        self.settings = settings
        self.on_event = on_event
        self.source: FrameSource | CopySource | None = None
        self.control: KvsControl | None = None
        self.retention_hours = 0
        self.buffer = FragmentBuffer(settings.buffer_bytes, settings.buffer_seconds)
        self.buffer.on_drop = self._on_drop
        self._stop = threading.Event()
        self._stopped_at: float | None = None  # when the run was first asked to stop (monotonic)
        self._forced = False
        self._spool_failed = False
        self._spooled_frames = 0  # frames in fragments an earlier run left in the spool
        self._spool: Spool | None = None
        self._threads: list[threading.Thread] = []
        self._uploader: Uploader | None = None
        self._frames_in = 0
        self._frames_encoded = 0
        self._dropped_frames = 0
        self._capture_rate = _Rate()
        self._encode_rate = _Rate()
        self._errors: list[str] = []
        self._done = threading.Event()
        self._result: EngineStopped | None = None
        self._last_preview = 0.0
        self._last_progress = 0.0
        self._sent_hist: deque[tuple[float, int]] = deque(maxlen=5)
        self.tags = FragmentTags(settings.tags, settings.tags_once)  # thread-safe: edited while streaming
        self.audio_info: AudioTrackInfo | None = None
        self._live_audio: LiveAudio | None = None
        self._audio_q: queue.SimpleQueue[EncodedPacket | None] = queue.SimpleQueue()  # None: audio ended
        self._audio_stop = threading.Event()
        self._last_level = 0.0
        self._level_peak = float("-inf")
        self._mixer: Interleaver | None = None
        self._cuts: set[int] | None = None  # copy mode: which video packets start fragments

    # -- lifecycle -----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Open the source and check the stream; raises KvsStudioError with a user message."""
        s = self.settings
        # Levels are for the window's meter: the CLI (no preview) does not decode copied sound just to measure it.
        self.source = open_run_source(s, self._on_level if s.preview else None)
        try:
            self._open_audio()
            self.control = KvsControl(region=s.region, profile=s.profile, endpoint_url=s.endpoint_url,
                                      access_key=s.access_key, secret_key=s.secret_key,
                                      keyring_entry=s.keyring_entry)
            self.control.credentials()
            try:
                desc = self.control.describe(s.stream)
            except StreamNotFound:
                if not s.create:
                    raise
                self.control.create(s.stream, s.create_retention_hours)
                self._emit(EngineMessage("info", f"Created stream {s.stream} "
                                                 f"({s.create_retention_hours} h retention)."))
                desc = self.control.describe(s.stream)
            if desc.status != "ACTIVE":
                # A new stream is CREATING for a few seconds; the service refuses data until it is ACTIVE.
                self._emit(EngineMessage("info", f"Stream {s.stream} is {desc.status}; waiting until it is ACTIVE."))
                desc = self.control.wait_active(s.stream, s.wait_active_s)
            self.retention_hours = desc.retention_hours
        except BaseException:
            self.source.close()
            raise

    def start(self) -> None:
        if self.source is None or self.control is None:
            self.prepare()
        assert self.source is not None
        assert self.control is not None
        if isinstance(self.source, CopySource):
            header, workers = self._copy_workers(self.source)
        else:
            header, workers = self._encode_workers(self.source)
        if self.audio_info is not None and self._live_audio is None:
            self.source.audio_sink = self._audio_q.put  # type: ignore[union-attr]  # a file's own sound
        if self.settings.spool_dir is not None:
            self._attach_spool(Spool(self.settings.spool_dir, self.settings.stream, self.settings.spool_bytes), header)
        up_settings = self.settings.uploader or UploaderSettings()
        if up_settings.limiter is None:  # the service's caps only where the service is (app/kvs/limits.py)
            up_settings = replace(up_settings, limiter=lambda: limiter_for(self.settings.endpoint_url,
                                                                           self.settings.max_rate_mbps))
        self._uploader = Uploader(buffer=self.buffer, header=header, control=self.control, stream=self.settings.stream,
                                  retention_zero=self.retention_hours == 0, emit=self._emit, settings=up_settings)
        self._threads = [
            *workers,
            threading.Thread(target=self._stats_loop, name="kvs-stats", daemon=True),
            threading.Thread(target=self._supervise, name="kvs-engine", daemon=True),
        ]
        if self._live_audio is not None:
            self._threads.append(threading.Thread(target=self._guard, args=(self._capture_audio,),
                                                  name="kvs-audio", daemon=True))
        self._uploader.start()
        for t in dict.fromkeys(self._threads):  # copy mode's one worker is both capture and encode
            t.start()

    def _encode_workers(self, source: FrameSource) -> tuple[bytes, list[threading.Thread]]:
        """Capture and encode threads, and the connection header for the encoder's output."""
        info = source.info
        width = (self.settings.width or info.width) // 2 * 2
        height = (self.settings.height or info.height) // 2 * 2
        fps = self.settings.fps or info.fps
        if not info.live and self.settings.fps and abs(self.settings.fps - info.fps) > 0.01:
            # Frames are never dropped or repeated from a file, so its own rate is the only true one.
            self._emit(EngineMessage("warning", f"{info.description} keeps its own frame rate ({info.fps:g} fps); "
                                                "the frame rate setting applies to cameras and the test pattern."))
            fps = info.fps
        if not info.live and self.settings.duration_s:
            self._emit(EngineMessage("warning", "A file is always sent whole; the duration setting applies to "
                                                "cameras and the test pattern."))
        bitrate = (self.settings.bitrate_kbps or DEFAULT_BITRATE // 1000) * 1000
        encoder = H264Encoder(width, height, fps, bitrate, self.settings.preset)
        header = self._header(video_entry(encoder.codec_private, width, height, fps))
        frames: queue.Queue[RawFrame] = queue.Queue(maxsize=max(2, int(fps)))  # about 1 s of frames
        return header, [
            threading.Thread(target=self._guard, args=(self._capture, frames), name="kvs-capture", daemon=True),
            threading.Thread(target=self._guard, args=(self._encode, frames, encoder), name="kvs-encode",
                             daemon=True),
        ]

    def _copy_workers(self, source: CopySource) -> tuple[bytes, list[threading.Thread]]:
        """Copy mode: one thread demuxes (paced by the source) and fragments; it stands for both capture and
        encode, so stopping, draining and the supervisor work as for an encoded source."""
        info = source.info
        if self.settings.duration_s:
            self._emit(EngineMessage("warning", "A file is always sent whole; the duration setting applies to "
                                                "cameras and the test pattern."))
        self._emit(EngineMessage("info", f"Sending {source.path.name} as recorded: H.264 {info.width}x{info.height} "
                                         f"at {info.fps:g} fps, {info.duration_s or 0:.1f} s in {source.fragments} "
                                         "fragments cut at its own key frames."))
        header = self._header(video_entry(source.codec_private, info.width, info.height, info.fps))
        copier = threading.Thread(target=self._guard, args=(self._copy, source), name="kvs-copy", daemon=True)
        return header, [copier, copier]

    def _header(self, video: bytes) -> bytes:
        """The connection header: the video track, and the audio track when there is sound."""
        entries = [video]
        if self.audio_info is not None:
            a = self.audio_info
            entries.append(audio_entry(a.codec_private, a.sample_rate, a.channels))
        return connection_header(*entries)

    def _attach_spool(self, spool: Spool, header: bytes) -> None:
        left = spool.load()
        for i, old in enumerate(left):
            self.buffer.add_spooled(i - len(left), old.timecode, old.path, old.size, old.frames, old.header)
            self._spooled_frames += old.frames
            self._emit(FragmentUpdate(i - len(left), old.timecode, FragmentState.QUEUED, old.frames, old.size))
        if left:
            self._emit(EngineMessage("info", f"{len(left)} fragments kept from an earlier run will be sent first."))

        def seal(frag: BufferedFragment) -> Path | None:
            assert frag.data is not None
            try:
                path, evicted = spool.add(frag.timecode, frag.header or header, bytes(frag.data), frag.frames,
                                          keep=lambda tc: tc in self.buffer.protected_timecodes())
            except OSError as exc:  # a full or failing disk must not end a live run: memory still works
                if not self._spool_failed:
                    self._spool_failed = True
                    why = exc.strerror or exc
                    self._emit(EngineMessage("warning", f"Cannot write to the spool {spool.dir} ({why}); "
                                                        "unacknowledged fragments are kept in memory only."))
                return None
            for timecode in evicted:
                self.buffer.lose_copy(timecode, "the spool is full")
            return path

        def release(frag: BufferedFragment, refused: bool) -> None:
            if not refused:
                spool.remove(frag.timecode)
                return
            kept = spool.refuse(frag.timecode)
            if kept is not None:
                self._emit(EngineMessage("info", f"The refused fragment {frag.seq} is kept in {kept.parent}."))

        self.buffer.on_seal = seal
        self.buffer.on_release = release
        self._spool = spool

    def stop(self) -> None:
        """Stop capturing; everything captured is still encoded, sent and awaited."""
        self._request_stop()

    def force_stop(self) -> None:
        """Drop the connection now. The fragment being encoded is never closed early: ending it short on the
        service while its whole copy goes to the spool would make the next run skip the whole one."""
        self._forced = True
        self._request_stop()
        if self._uploader is not None:
            self._uploader.abort()

    def _request_stop(self) -> None:
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
        self._stop.set()

    def _capture_abandoned(self) -> bool:
        """Capture was asked to stop long ago and is still blocked (a camera read that never returns)."""
        return self._stopped_at is not None and time.monotonic() - self._stopped_at > STOP_GRACE_S

    def wait(self, timeout: float | None = None) -> EngineStopped | None:
        self._done.wait(timeout)
        return self._result

    # -- threads --------------------------------------------------------------------------------------

    def _guard(self, fn: Callable[..., None], *args: object) -> None:
        """A worker's top level: any failure ends the run with a message, never silently."""
        try:
            fn(*args)
        except KvsStudioError as exc:
            self._fail(exc.user_message)
        except Exception as exc:
            log.exception("%s crashed", threading.current_thread().name)
            self._fail(f"Internal error in {threading.current_thread().name}: {exc}")

    def _fail(self, message: str) -> None:
        self._errors.append(message)
        self._emit(EngineMessage("error", message))
        self._request_stop()

    def _capture(self, frames: queue.Queue[RawFrame]) -> None:
        assert self.source is not None
        live = self.source.info.live
        try:
            for frame in self.source.frames(self._stop):
                self._frames_in += 1
                self._capture_rate.add()
                self._maybe_preview(frame)
                if live:
                    try:
                        frames.put_nowait(frame)
                    except queue.Full:
                        self._dropped_frames += 1  # live sources drop, counted, rather than fall behind
                    continue
                while not self._stop.is_set():  # files never drop a frame while the run goes on
                    try:
                        frames.put(frame, timeout=QUEUE_TIMEOUT_S)
                        break
                    except queue.Full:
                        continue
        finally:
            self._audio_stop.set()  # live audio ends with the picture
            if self.audio_info is not None and self._live_audio is None:
                self._audio_q.put(None)  # the file's audio ended with it
            self.source.close()

    def _encode(self, frames: queue.Queue[RawFrame], encoder: H264Encoder) -> None:
        fragmenter = Fragmenter(round(self.settings.fragment_seconds * 1000), tags=self.tags.for_next_fragment)
        self._mixer = self._interleaver()
        capture = self._threads[0]
        try:
            while True:
                try:
                    item = frames.get(timeout=QUEUE_TIMEOUT_S)
                except queue.Empty:
                    self._feed(fragmenter, [])  # audio that came meanwhile
                    if not capture.is_alive():
                        break  # capture ended and everything it captured is encoded
                    if self._capture_abandoned():
                        log.warning("capture did not stop within %.0f s; encoding what it gave", STOP_GRACE_S)
                        break
                    continue
                packets = encoder.encode(item, fragmenter.plan_key_frame(item.timestamp_ms))
                self._feed(fragmenter, packets)
            self._feed(fragmenter, encoder.flush())
            fps = self.source.info.fps if self.source is not None else 0.0
            self._finish_audio(fragmenter, 1000 / fps if fps > 0 else 0.0)  # audio may last one more frame
            for ev in fragmenter.finish():
                self._apply(ev)
        finally:
            self.buffer.close_input()

    def _copy(self, source: CopySource) -> None:
        fragmenter = Fragmenter(round(self.settings.fragment_seconds * 1000), tags=self.tags.for_next_fragment)
        self._mixer = self._interleaver()
        self._cuts = set()  # video packets (by index) that start a fragment: the file's own key frames, planned
        preview = KeyFramePreview(source.codec_private) if self.settings.preview else None
        room = threading.Event()
        self.buffer.add_listener(room.set)
        largest = size = 0  # bytes of the largest fragment so far, and of the open one
        audio_open = self.audio_info is not None
        unreadable: KvsStudioError | None = None
        try:
            try:
                for packet, starts in source.packets(self._stop):
                    if starts:
                        largest, size = max(largest, size), 0
                        # A file is read faster than it uploads: wait for acks rather than let the buffer drop.
                        while not self.buffer.has_room(packet.timestamp_ms, 2 * largest) and not self._stop.is_set():
                            room.wait(QUEUE_TIMEOUT_S)
                            room.clear()
                        if self._stop.is_set():
                            break  # stopped while waiting: what is read so far is sent, nothing more starts
                        self._cuts.add(packet.index)
                    size += len(packet.data)
                    self._frames_in += 1
                    self._capture_rate.add()
                    if preview is not None and packet.keyframe:
                        self._maybe_key_preview(preview, packet.data, packet.index)
                    self._feed(fragmenter, [packet])  # with the file's audio demuxed so far, in time order
            except KvsStudioError as exc:
                # The file cannot be read on. What was read is still sent, as when a camera fails: the
                # interleaver may hold up to a few seconds of pictures waiting for their sound.
                unreadable = exc
            if audio_open:
                audio_open = False
                self._audio_q.put(None)  # the file's audio ended with its picture
            self._finish_audio(fragmenter, 1000 / source.info.fps if source.info.fps > 0 else 0.0)
            for ev in fragmenter.finish():
                self._apply(ev)
        finally:
            if audio_open:
                self._audio_q.put(None)
            source.close()
            self.buffer.close_input()
        if unreadable is not None:
            raise unreadable  # the run ends with its message (_guard)

    def _add(self, fragmenter: Fragmenter, packet: EncodedPacket) -> None:
        starts = None  # encoded video: every key frame starts a fragment (the encoder makes them only there)
        if self._cuts is not None and packet.track == VIDEO_TRACK:
            starts = packet.index in self._cuts
            self._cuts.discard(packet.index)
        for ev in fragmenter.add(packet, starts):
            self._apply(ev)

    def _feed(self, fragmenter: Fragmenter, packets: list) -> None:
        """Video packets (and the audio that came meanwhile, in time order) into the fragmenter."""
        if self._mixer is not None:
            packets = self._mix(self._mixer, packets)
        for packet in packets:
            if packet.track == VIDEO_TRACK:
                self._frames_encoded += 1
                self._encode_rate.add()
            self._add(fragmenter, packet)

    # -- audio ----------------------------------------------------------------------------------------

    def _open_audio(self) -> None:
        """Which audio goes with the picture: the file's own, a test tone or a microphone (live sources)."""
        s = self.settings
        assert self.source is not None
        problem = getattr(self.source, "audio_problem", None)
        if problem:
            self._emit(EngineMessage("warning", problem))
        if (s.tone or s.mic) and not self.source.info.live:
            raise SourceError("The test tone and microphones go with a camera or the test pattern; a file sends "
                              "its own sound (or none with --no-audio).")
        if not s.audio:
            return
        file_audio = getattr(self.source, "audio", None)
        if file_audio is not None:
            self.audio_info = file_audio.info
            return
        self._live_audio = open_live_audio(tone=s.tone, mic=s.mic, on_level=self._on_level)
        if self._live_audio is not None:
            self.audio_info = self._live_audio.info

    def _interleaver(self) -> Interleaver | None:
        a = self.audio_info
        if a is None:
            return None
        silence = silent_frame(a.sample_rate, a.channels)
        live = self.source is not None and self.source.info.live
        return Interleaver(frame_ms=a.frame_ms, max_wait_ms=AUDIO_WAIT_LIVE_MS if live else AUDIO_WAIT_FILE_MS,
                           silence=lambda ts: EncodedPacket(-1, ts, True, silence, AUDIO_TRACK))

    def _capture_audio(self) -> None:
        assert self._live_audio is not None
        try:
            for packet in self._live_audio.packets(self._audio_stop):
                self._audio_q.put(packet)
        finally:
            self._audio_q.put(None)
            self._live_audio.close()

    def _mix(self, mixer: Interleaver, video: list[EncodedPacket]) -> list[EncodedPacket]:
        out: list[EncodedPacket] = []
        while True:
            try:
                packet = self._audio_q.get_nowait()
            except queue.Empty:
                break
            out += mixer.end_audio() if packet is None else mixer.push(packet)
        for packet in video:
            out += mixer.push(packet)
        return out

    def _finish_audio(self, fragmenter: Fragmenter, tail_ms: float) -> None:
        """The picture ended: wait (briefly) for the audio to end too, then send what belongs to the picture."""
        mixer = self._mixer
        if mixer is None:
            return
        if self._capture_abandoned():
            self._audio_stop.set()  # capture never reached its own end; the sound must not wait for it
        audio = next((t for t in self._threads if t.name == "kvs-audio"), None)
        if audio is not None:
            audio.join(STOP_GRACE_S)
        self._feed(fragmenter, [])
        for packet in mixer.finish(tail_ms):
            self._add(fragmenter, packet)
        st = mixer.stats
        if st.filled:
            self._emit(EngineMessage("info", f"Audio: {st.filled} silent frames stand in where the sound stopped "
                                             "or came late, so every fragment has both tracks."))
        if st.dropped:
            log.info("audio: %d frames dropped (late, or after the end of the picture)", st.dropped)

    def _on_level(self, dbfs: float) -> None:
        """Per audio block; the meter gets the loudest block of each tenth of a second (a short beep shows)."""
        self._level_peak = max(self._level_peak, dbfs)
        now = time.monotonic()
        if now - self._last_level >= 1 / LEVELS_PER_S:
            self._last_level = now
            peak, self._level_peak = self._level_peak, float("-inf")
            self._emit(AudioLevel(peak))

    # -- tags (any thread) ---------------------------------------------------------------------------

    def set_tag(self, name: str, value: str) -> None:
        """Send ``name=value`` with every fragment from the next one on (TagError if the service would refuse)."""
        self.tags.set(name, value)

    def remove_tag(self, name: str) -> None:
        self.tags.remove(name)

    def tag_next_fragment(self, name: str, value: str) -> None:
        """Send ``name=value`` with the next fragment only."""
        self.tags.add_once(name, value)

    def _apply(self, ev: FrameAdded | FragmentSealed) -> None:
        if isinstance(ev, FrameAdded):
            frag = self.buffer.add_frame(ev.seq, ev.timecode, ev.data, ev.index, counts=ev.track == VIDEO_TRACK,
                                         tags=ev.tags)
            now = time.monotonic()
            if frag is not None and ev.started:
                self._last_progress = now
                self._emit_fragment(frag)
            elif frag is not None and now - self._last_progress >= PROGRESS_INTERVAL_S:
                self._last_progress = now
                self._emit(FragmentProgress(frag.seq, frag.frames, frag.size))
        else:
            self.buffer.seal(ev.seq)
            frag = self.buffer.get(ev.seq)
            if frag is not None:  # its final count, whatever the throttle held back
                self._emit(FragmentProgress(frag.seq, frag.frames, frag.size))

    def _supervise(self) -> None:
        """Wait for the pipeline to finish, and end the run promptly when any part of it cannot go on.
        Whatever happens here, the run ends with a result: front ends wait for it."""
        try:
            self._watch()
        except Exception as exc:
            log.exception("engine supervisor crashed")
            self._errors.append(f"Internal error while stopping: {exc}")
        finally:
            self._finish()

    def _watch(self) -> None:
        up = self._uploader
        assert up is not None
        capture, encode = self._threads[:2]
        forced_at: float | None = None
        while True:
            uploader_done = up.join(0.25)
            if uploader_done and up.error is not None:
                self._request_stop()  # nothing more can be sent: stop capturing; what is sealed stays in the spool
            capture_done = not capture.is_alive() or self._capture_abandoned()
            pipeline_done = capture_done and not encode.is_alive()
            if pipeline_done and (uploader_done or up.error is not None):
                break
            if self._forced and forced_at is None:
                forced_at = time.monotonic()
            if forced_at is not None and time.monotonic() - forced_at > 3.0:
                break  # a forced stop does not wait for the network
            if uploader_done and self._capture_abandoned() and encode.is_alive() \
                    and time.monotonic() - (self._stopped_at or 0) > 2 * STOP_GRACE_S:
                self._errors.append(f"{encode.name} did not stop within {2 * STOP_GRACE_S:.0f} s; left behind")
                break
        if capture.is_alive() and self._capture_abandoned():
            self._errors.append(f"{capture.name} did not stop within {STOP_GRACE_S:.0f} s (the source is not "
                                "answering); left behind")
        if up.error:
            self._errors.append(up.error)

    def _finish(self) -> None:
        up = self._uploader
        lost, kept = self.buffer.abandon_all()
        for frag in lost:  # never sent, or never acknowledged: say so rather than leave them QUEUED
            entry = up.ledger.get(frag.seq) if up is not None and up.join(0) else None  # ours once its owner ended
            if entry is None or entry.state is not FragmentState.ERROR:  # a refused one keeps its error shown
                self._emit(FragmentUpdate(frag.seq, frag.timecode, FragmentState.DROPPED, frag.frames, frag.size))
        if self._spool is not None:
            try:
                self._spool.prune_headers()  # headers whose fragments have all been delivered
            except OSError as exc:
                log.warning("cannot tidy the spool: %s", exc)
        b = self.buffer
        self._result = EngineStopped(produced=b.produced, acknowledged=b.completed, failed=b.failed,
                                     dropped=b.dropped, frames=self._frames_encoded + self._spooled_frames,
                                     kept=len(kept), error=self._errors[0] if self._errors else None)
        if lost:
            log.info("%d fragments were not acknowledged", len(lost))
        self._emit_stats()
        self._emit(self._result)
        self._done.set()

    def _stats_loop(self) -> None:
        while not self._done.wait(1.0):
            self._emit_stats()

    # -- events ---------------------------------------------------------------------------------------

    def _emit(self, event: EngineEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("event handler failed")

    def _emit_fragment(self, frag: BufferedFragment) -> None:
        self._emit(FragmentUpdate(frag.seq, frag.timecode, FragmentState.QUEUED, frag.frames, frag.size,
                                  tags=frag.tags))

    def _on_drop(self, frag: BufferedFragment, reason: str) -> None:
        self._emit(FragmentUpdate(frag.seq, frag.timecode, FragmentState.DROPPED, frag.frames, frag.size))
        self._emit(EngineMessage("warning", f"Fragment {frag.seq} dropped unsent: {reason} "
                                            f"({self.buffer.dropped} so far)."))

    def _emit_stats(self) -> None:
        n, nbytes, seconds = self.buffer.stats()
        up = self._uploader
        sent = up.bytes_sent if up else 0
        self._emit(StatsSample(
            capture_fps=round(self._capture_rate.rate(), 1), encode_fps=round(self._encode_rate.rate(), 1),
            bitrate_bps=self._bitrate(sent), bytes_sent=sent, buffered_fragments=n, buffered_seconds=seconds,
            buffered_bytes=nbytes, last_ack_latency_ms=up.last_ack_latency_ms if up else None,
            dropped_frames=self._dropped_frames, dropped_fragments=self.buffer.dropped,
            last_received_latency_ms=up.last_received_latency_ms if up else None,
            audio_codec=self.audio_info.description if self.audio_info else ""))

    def _bitrate(self, sent: int) -> float:
        now = time.monotonic()
        hist = self._sent_hist
        hist.append((now, sent))
        if len(hist) < 2 or hist[-1][0] - hist[0][0] <= 0:
            return 0.0
        return round((hist[-1][1] - hist[0][1]) * 8 / (hist[-1][0] - hist[0][0]))

    def _maybe_preview(self, frame: RawFrame) -> None:
        if not self.settings.preview:
            return
        now = time.monotonic()
        if now - self._last_preview < 1 / 15:  # the window needs no more than ~15 previews a second
            return
        self._last_preview = now
        self._emit(PreviewFrame(preview_bgr(frame.image), frame.index))

    def _maybe_key_preview(self, preview: KeyFramePreview, data: bytes, index: int) -> None:
        """Copy mode decodes nothing, except a key frame twice a second at most, so the window shows what goes out."""
        now = time.monotonic()
        if now - self._last_preview < 0.5:
            return
        self._last_preview = now
        image = preview.picture(data)
        if image is not None:
            self._emit(PreviewFrame(image, index))


def open_run_source(s: StreamSettings, on_level: LevelCallback | None = None) -> FrameSource | CopySource:
    """The source a run with these settings sends: a file as recorded (``copy``), or frames to encode. The
    window's checks before Start open it this way too, so they refuse what the run would refuse."""
    if s.copy:
        return _open_copy(s, on_level)
    return open_source(s.source, width=s.width, height=s.height, fps=s.fps, realtime=s.realtime,
                       duration_s=s.duration_s, audio=s.audio, on_level=on_level)


def _open_copy(s: StreamSettings, on_level: LevelCallback | None) -> CopySource:
    """A file to send as recorded; settings that would need re-encoding are refused, not ignored."""
    if s.source == "testpattern" or s.source.startswith("camera:"):
        raise SourceError("Upload as recorded (--copy) sends a video file as it is; a camera or the test pattern "
                          "has to be encoded.")
    if s.width or s.height or s.fps or s.bitrate_kbps:
        raise SourceError("A file uploaded as recorded keeps its own size, frame rate and bitrate; leave those "
                          "settings out, or re-encode it (without --copy).")
    return CopySource(s.source, realtime=s.realtime, fragment_ms=round(s.fragment_seconds * 1000), audio=s.audio,
                      on_level=on_level)

"""Sounds prepared ahead of the live player: events compiled and their PCM made in a background thread."""

from __future__ import annotations

import threading
from typing import Callable, Iterable, Iterator

from .timeline import SILENCE, SPEECH, Event


class Prefetcher:
    """Compiles events and prepares their PCM in a background thread, ahead of the scheduler.

    Iterating gives the events in order as soon as each one's sound is ready; `clip(event)` gives its PCM;
    `known()` is every event compiled so far (the screen looks ahead with it).
    """

    def __init__(self, events: Iterable[Event], prepare: Callable[[Event], bytes]):
        self._source = iter(events)
        self._prepare = prepare
        self._events: list[Event] = []
        self._pcm: dict[tuple[str, str | None], bytes] = {}  # by (kind, text): a repeated line is made once
        self._done = False
        self._error: BaseException | None = None
        self._stopped = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="voice-guide-prefetch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            for event in self._source:
                if self._stopped:
                    return
                key = (event.kind, event.text)
                if event.kind != SILENCE and key not in self._pcm:
                    pcm = self._prepare(event)
                    with self._ready:
                        self._pcm[key] = pcm
                with self._ready:
                    self._events.append(event)
                    self._ready.notify_all()
        except BaseException as error:  # handed to the scheduler's thread, which raises it
            with self._ready:
                self._error = error
        finally:
            with self._ready:
                self._done = True
                self._ready.notify_all()

    def __iter__(self) -> Iterator[Event]:
        index = 0
        while True:
            with self._ready:
                while index >= len(self._events) and not self._done:
                    self._ready.wait(0.5)
                if index < len(self._events):
                    event = self._events[index]
                elif self._error is not None and not self._stopped:
                    raise self._error
                else:
                    return
            yield event
            index += 1

    def clip(self, event: Event) -> bytes:
        """The PCM of a sound event (made now if the background has not made it)."""
        with self._ready:
            pcm = self._pcm.get((event.kind, event.text))
        if pcm is None:
            pcm = self._prepare(event)
            with self._ready:
                self._pcm[(event.kind, event.text)] = pcm
        return pcm

    def known(self) -> tuple[tuple[Event, ...], bool]:
        """The events compiled so far, and whether that is all of them."""
        with self._ready:
            return tuple(self._events), self._done and self._error is None

    def stop(self) -> None:
        """Stop preparing (the thread ends after the line it is on)."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()



class ReadyClosing:
    """The closing (end chime and reminders) with its sound, prepared in the background from early in a run,
    so the reminders can be said whatever makes the routine itself stop early.

    `make()` gives the closing's events and their PCM by (kind, text). It starts once the run's first spoken line
    is ready (see first(): until then it would only compete with the line the listener is waiting for), or as
    soon as sounds() asks for it.
    """

    WAIT = 60.0  # seconds at most for its sound, if it is not ready yet (the engine retries a hung line once)

    def __init__(self, make: Callable[[], tuple[tuple[Event, ...], dict]]):
        self._make = make
        self._outcome: list = []
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        """Start making the closing's sound in the background (once; later calls do nothing)."""
        with self._lock:
            if self._started:
                return
            self._started = True

        def work() -> None:
            try:
                self._outcome.append(self._make())
            except BaseException as error:  # noqa: BLE001 - say() finds it; the failure the player reports stands
                self._outcome.append(error)
            finally:
                self._done.set()

        threading.Thread(target=work, name="voice-guide-closing", daemon=True).start()

    def first(self, events: Iterable[Event]) -> Iterator[Event]:
        """`events`, held back after the first spoken line until the closing is ready: the engine makes the
        reminders before the rest of the routine (while the opening line plays, so nobody waits for them).
        Asked for the event after that line, the reader (Prefetcher) has made its sound: the closing starts."""
        waited = False
        for event in events:
            yield event
            if event.kind == SPEECH and not waited:
                self.start()
                self._done.wait(self.WAIT)
                waited = True

    def sounds(self) -> tuple[tuple[Event, ...], dict] | None:
        """The closing's events and PCM, or None when they could not be made (in time)."""
        self.start()
        if not self._done.wait(self.WAIT) or isinstance(self._outcome[0], BaseException):
            return None
        return self._outcome[0]

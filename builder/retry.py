"""The one retry policy: the registry transport, the GitHub client, the Argo Server client and the smoke
checks' container removal all try again through it.

Its shape: an attempt either returns, or raises ``TryAgain`` (a failure another attempt may mend), or raises
anything else (a failure no attempt mends, passed on at once). After failed attempt ``n`` the policy waits
``backoff_s * 2 ** (n - 1)`` (exponential backoff), at least as long as the other side asked (an HTTP
``Retry-After``, RFC 9110 §10.2.3: delay-seconds or an HTTP date; or seconds the caller worked out), never
more than ``max_wait_s`` for what was asked. After ``attempts`` failed attempts it raises the last failure's
``give_up(attempts)``: a ``BuilderError`` whose message says how many attempts were made (the true count,
whoever counts them). What one attempt may take is bounded by its caller (builder/answers.py's ``Deadline``
per request); the policy bounds how many there are and the waits between them.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol, TypeVar

from .errors import BuilderError

MAX_RETRY_AFTER_S = 30.0  # the longest wait a Retry-After may ask of the registry client

T = TypeVar("T")


class Counts(Protocol):
    """Where a policy counts its retries (the registry transport's ``Stats`` is one)."""

    retries: int


@dataclass
class RetryCounts:
    retries: int = 0


class TryAgain(Exception):
    """One attempt failed in a way that another attempt may mend.

    ``give_up(attempts)`` is the error to raise when no attempt is left; ``retry_after`` how long the other
    side asked to wait: a ``Retry-After`` header's text, or seconds (a float) the caller worked out."""

    def __init__(self, give_up: Callable[[int], BuilderError], retry_after: str | float | None = None):
        super().__init__()
        self.give_up = give_up
        self.retry_after = retry_after


@dataclass
class RetryPolicy:
    """How often and how patiently a failed attempt is tried again (see the module's docstring)."""

    attempts: int = 5
    backoff_s: float = 0.2
    stats: Counts = field(default_factory=RetryCounts)
    sleep: Callable[[float], None] = time.sleep
    max_wait_s: float = MAX_RETRY_AFTER_S

    def run(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it returns; each ``TryAgain`` it raises costs one of the attempts."""
        number = 0
        while True:
            number += 1
            try:
                return attempt()
            except TryAgain as failure:
                self.failed(number, failure)

    def failed(self, number: int, failure: TryAgain) -> None:
        """After failed attempt ``number``: raise the final error if it was the last, else wait.
        For a caller that counts its own attempts (a blob read resumed across attempts)."""
        if number >= self.attempts:
            raise failure.give_up(number) from None
        self.stats.retries += 1
        self.sleep(self.delay(number, failure.retry_after))

    def delay(self, number: int, retry_after: str | float | None) -> float:
        delay = self.backoff_s * (2 ** (number - 1))
        asked = float(retry_after) if isinstance(retry_after, (int, float)) else retry_after_s(retry_after)
        return max(delay, min(asked, self.max_wait_s)) if asked is not None else delay


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())

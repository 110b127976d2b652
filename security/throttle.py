"""Sign-in throttling: how many sign-ins an account, an address and a known device may try.

The rule (README, "Security model"), after OWASP's and ASVS 6.3's advice against brute force
that does not hand attackers a way to lock real people out:

- **Per account:** after `account_limit` failed sign-ins on one username within `window`
  seconds (10 in 15 minutes), further attempts answer 429 with `Retry-After` until the oldest
  failure leaves the window, and the password is not even checked. Only one password check
  runs at a time for an account (one sent meanwhile waits its turn, up to 3 s), and its failure
  is counted before the next may start: guesses sent all at once cannot slip past the count.
  Successful sign-ins do not count. A name that is no account is counted the same way, so the
  answer never tells whether it exists.
- **Per address:** after `address_limit` *failed* sign-ins from one client address within the
  window, whatever the usernames (password spraying), that address answers 429 the same way.
  Successes do not count there: a police station's shift signs in behind one address. IPv6
  addresses count by their /64 (one subscriber's whole range).
- **Known devices are not locked out by others:** a browser or phone that has signed in to an
  account before carries a signed "known device" cookie for it. Its attempts on that account
  count against a budget of its own (`account_limit` failures per window, one check at a time, for
  that device) and not against the account's or the address's, so an attacker who keeps the
  account paused from elsewhere does not lock out its owner's own phone.

Counts live in Redis when a Redis URL is configured (every server process shares them), in
memory otherwise (one process); keys are keyed hashes, never the names or addresses as typed.
If the store fails, sign-in goes on unthrottled and the error is logged: the police must still
be able to sign in when Redis is down.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A sign-in refused before its password is checked: for how long, and which count is full."""

    retry_after: int  # seconds
    scope: str  # account, address, device, or busy (another check of the account is under way)


def address_key(address: str) -> str:
    """What an address counts as: itself (IPv4), or its /64 (IPv6: one subscriber's range)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class _Flights:
    """Which accounts (or devices) have a password check under way: one at a time each.

    In Redis when the counts are there (SET NX with a time limit, so a crashed process frees its
    slot), in memory otherwise."""

    HOLD_SECONDS = 10  # far beyond a password check (~0.1 s)

    def __init__(self, storage_uri: str) -> None:
        self._redis = None
        if storage_uri.startswith(("redis://", "rediss://")):
            import redis

            self._redis = redis.Redis.from_url(storage_uri, socket_timeout=2)
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Take `key`'s slot; False when another check holds it."""
        if self._redis is not None:
            return bool(self._redis.set(f"ronda-signin:flight:{key}", b"1", nx=True, ex=self.HOLD_SECONDS))
        now = time.monotonic()
        with self._lock:
            if self._held.get(key, 0) > now:
                return False
            self._held[key] = now + self.HOLD_SECONDS
            return True

    def release(self, key: str) -> None:
        """Give `key`'s slot back."""
        if self._redis is not None:
            self._redis.delete(f"ronda-signin:flight:{key}")
            return
        with self._lock:
            self._held.pop(key, None)


class SignInThrottle:
    """Counts failed sign-ins per account, per known device and per address in a moving window, and
    lets one password check at a time run for each account or device.

    Usage: `attempt()` before the password check (a Refusal, or None and the check's slot taken),
    then `finish()` in every case (the failure counted, the slot given back)."""

    WAIT_SECONDS = 3.0  # for another check of the same account to end

    def __init__(self, storage_uri: str, *, account_limit: int, address_limit: int, window: int, secret: str) -> None:
        options = {"key_prefix": "ronda-signin"} if storage_uri.startswith(("redis://", "rediss://")) else {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
        self._flights = _Flights(storage_uri)
        self._account = RateLimitItemPerSecond(account_limit, window)
        self._address = RateLimitItemPerSecond(address_limit, window)
        self._secret = secret.encode()
        self.window = window

    def _key(self, kind: str, value: str) -> str:
        # Keyed: a name in the store is often a password typed in the wrong box.
        digest = hmac.new(self._secret, f"{kind}:{value}".encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return f"{kind}:{digest[:32]}"

    def _refusal(self, item: RateLimitItem, key: str, scope: str) -> Refusal:
        reset = self._limiter.get_window_stats(item, key).reset_time
        return Refusal(retry_after=max(1, math.ceil(reset - time.time())), scope=scope)

    def _own(self, *, username: str, device: str | None) -> tuple[str, str]:
        """The count an attempt is held to, and its key: its known device's, or its account's."""
        if device is not None:
            return "device", self._key("device", device)
        return "account", self._key("account", username)

    def attempt(self, *, username: str, address: str | None, device: str | None = None) -> Refusal | None:
        """Before the password check: None when it may go ahead (its slot is then taken), the Refusal
        when a count is full. While another check of the same account (or device) is under way it
        waits its turn, up to WAIT_SECONDS (a station's desks signing in at once all get in; a burst
        of guesses is checked one by one, and stops when the count is full)."""
        scope, key = self._own(username=username, device=device)
        place = self._key("address", address_key(address)) if device is None and address else None
        deadline = time.monotonic() + self.WAIT_SECONDS
        try:
            while True:
                if place is not None and not self._limiter.test(self._address, place):
                    return self._refusal(self._address, place, "address")
                if not self._limiter.test(self._account, key):
                    return self._refusal(self._account, key, scope)
                if self._flights.take(key):
                    return None
                if time.monotonic() >= deadline:
                    return Refusal(retry_after=1, scope="busy")
                time.sleep(0.02)  # a greenlet's pause under gevent
        except Exception:
            log.exception("sign-in throttle store failed; this attempt goes on unthrottled")
        return None

    def finish(self, *, username: str, address: str | None, device: str | None = None, failed: bool) -> Refusal | None:
        """After the check: a failure is counted (its account's or device's, and its address's) and
        the slot given back. The Refusal when this failure has just filled a count, to go on the record."""
        scope, key = self._own(username=username, device=device)
        filled = None
        try:
            if failed:
                self._limiter.hit(self._account, key)
                if not self._limiter.test(self._account, key):
                    filled = self._refusal(self._account, key, scope)
                if device is None and address:
                    place = self._key("address", address_key(address))
                    self._limiter.hit(self._address, place)
                    if filled is None and not self._limiter.test(self._address, place):
                        filled = self._refusal(self._address, place, "address")
        except Exception:
            log.exception("sign-in throttle store failed; this failure was not counted")
        finally:
            try:
                self._flights.release(key)
            except Exception:
                log.exception("sign-in throttle store failed; the check's slot frees itself in %s s",
                              _Flights.HOLD_SECONDS)  # fmt: skip
        return filled


def storage_uri(*, configured: str | None, message_queue: str | None) -> str:
    """Where the counts live: the configured store, else the Socket.IO queue's Redis, else memory."""
    if configured:
        return configured
    if message_queue and message_queue.startswith(("redis://", "rediss://")):
        return message_queue
    return "memory://"

"""Sign-in throttling: how many sign-ins an account, an address and a known device may try.

The rule (README, "Security model"), after OWASP's and ASVS 6.3's advice against brute force
that does not hand attackers a way to lock real people out:

- **Per account:** at most `account_limit` sign-in attempts on one username within `window`
  seconds (10 in 15 minutes); further attempts answer 429 with `Retry-After` until the oldest
  leaves the window, and the password is not even checked. An attempt is counted *before* its
  password is checked, so requests sent all at once cannot slip past the count (a successful one
  counts too: a person signs in once a shift). A name that is no account is counted the same
  way, so the answer never tells whether it exists.
- **Per address:** after `address_limit` *failed* sign-ins from one client address within the
  window, whatever the usernames (password spraying), that address answers 429 the same way.
  Successes do not count there: a police station's shift signs in behind one address. IPv6
  addresses count by their /64 (one subscriber's whole range).
- **Known devices are not locked out by others:** a browser or phone that has signed in to an
  account before carries a signed "known device" cookie for it. Its attempts on that account
  count against a budget of its own (`account_limit` per window for that device) and not against
  the account's or the address's, so an attacker who keeps the account paused from elsewhere does
  not lock out its owner's own phone.

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
    scope: str  # account, address or device


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


class SignInThrottle:
    """Counts sign-in attempts per account and per known device, and failures per address, in a moving window."""

    def __init__(self, storage_uri: str, *, account_limit: int, address_limit: int, window: int, secret: str) -> None:
        options = {"key_prefix": "ronda-signin"} if storage_uri.startswith(("redis://", "rediss://")) else {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))
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

    def attempt(self, *, username: str, address: str | None, device: str | None = None) -> Refusal | None:
        """Count this attempt, before its password is checked: None when it may go ahead, the
        Refusal (with how long to wait) when a count is full."""
        try:
            if device is not None:
                key = self._key("device", device)
                return None if self._limiter.hit(self._account, key) else self._refusal(self._account, key, "device")
            if address:
                key = self._key("address", address_key(address))
                if not self._limiter.test(self._address, key):
                    return self._refusal(self._address, key, "address")
            key = self._key("account", username)
            return None if self._limiter.hit(self._account, key) else self._refusal(self._account, key, "account")
        except Exception:
            log.exception("sign-in throttle store failed; this attempt goes on unthrottled")
            return None

    def failed(self, *, username: str, address: str | None, device: str | None = None) -> Refusal | None:
        """Count a failed sign-in against its address; the Refusal when this failure has just filled
        a count (the attempt's own, or the address's), to go on the record."""
        try:
            if device is not None:
                key = self._key("device", device)
                full = not self._limiter.test(self._account, key)
                return self._refusal(self._account, key, "device") if full else None
            if address:
                key = self._key("address", address_key(address))
                self._limiter.hit(self._address, key)
                if not self._limiter.test(self._address, key):
                    return self._refusal(self._address, key, "address")
            key = self._key("account", username)
            return None if self._limiter.test(self._account, key) else self._refusal(self._account, key, "account")
        except Exception:
            log.exception("sign-in throttle store failed; this failure was not counted")
            return None


def storage_uri(*, configured: str | None, message_queue: str | None) -> str:
    """Where the counts live: the configured store, else the Socket.IO queue's Redis, else memory."""
    if configured:
        return configured
    if message_queue and message_queue.startswith(("redis://", "rediss://")):
        return message_queue
    return "memory://"

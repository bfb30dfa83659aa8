"""The errors the p2p layer raises to the node."""

from __future__ import annotations


class P2PError(Exception):
    """Base of every error raised by p2p/."""


class P2PNotRunningError(P2PError):
    """The host is not started (or already stopped)."""


class DialError(P2PError):
    """A peer could not be reached at the given address."""


class MessageTooLargeError(P2PError):
    """A message is over the size bound of its topic or protocol."""


class RequestFailedError(P2PError):
    """A sync request failed: timeout, transport error, refusal or a malformed answer."""

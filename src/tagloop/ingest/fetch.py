"""Server-side download of an image URL that refuses to reach private networks.

A service that fetches URLs for its callers must not become a way into the network it runs in
(SSRF). :func:`fetch_image_url` accepts only ``http`` and ``https`` URLs, resolves the host once,
refuses it when any of its addresses is not public, and then connects to exactly the address it
checked, so DNS cannot answer differently between the check and the connection (rebinding). The
``Host`` header and the TLS certificate check still use the host name from the URL. Each redirect
target is checked the same way.

Only the standard library is used: ``http.client`` with connection classes that connect to a
given address.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from tagloop.errors import ImageTooLarge, ImageUrlInvalid

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_SIZE = 64 * 1024
USER_AGENT = "tagloop-image-fetch"

_CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
_ADVICE = "Use a publicly reachable http(s) image URL, or upload the image bytes instead."


def fetch_image_url(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool,
    allowed_networks: Sequence[IPNetwork] = (),
) -> bytes:
    """Download the body of ``url`` and return it, following at most 3 redirects.

    ``timeout`` bounds the whole download in seconds: every connect and every read gets the time
    that is left, redirects included (name resolution itself cannot be interrupted). A body over
    ``max_bytes`` raises :class:`ImageTooLarge` as soon as it is known: from ``Content-Length``
    before reading, or while reading. With ``allow_private`` False, hosts with any loopback,
    private, link-local, multicast, reserved, unspecified or carrier-grade-NAT address are
    refused, unless the address lies in one of ``allowed_networks`` (an internal image server
    the operator trusts). Every other failure raises :class:`ImageUrlInvalid` with the reason.
    """
    deadline = _Deadline(timeout)
    current = url
    n_redirects = 0
    while True:
        target = _parse_url(current)
        addresses = _resolve(target)
        if not allow_private:
            _check_addresses(target, addresses, allowed_networks)
        logger.debug("fetching %s from %s", target.url, ", ".join(map(str, addresses)))
        answer = _fetch_once(target, addresses, deadline=deadline, max_bytes=max_bytes)
        if answer.location is None:
            logger.debug("fetched %d bytes from %s", len(answer.body), target.url)
            return answer.body
        if n_redirects == MAX_REDIRECTS:
            raise ImageUrlInvalid(
                f"The image URL {url} redirects more than {MAX_REDIRECTS} times. "
                "Use the final URL of the image instead."
            )
        n_redirects += 1
        current = urllib.parse.urljoin(target.url, answer.location)
        logger.debug("HTTP %d from %s redirects to %s", answer.status, target.url, current)


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address a server may fetch from.

    IPv4-mapped (``::ffff:a.b.c.d``) and 6to4 (``2002::/16``) addresses are judged by the IPv4
    address they carry.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public_address(embedded)
    if isinstance(address, ipaddress.IPv4Address) and address in _CARRIER_GRADE_NAT:
        return False
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None
    body: bytes


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left


def _refuse(url: str, reason: str) -> ImageUrlInvalid:
    return ImageUrlInvalid(f"Cannot fetch the image URL {url!r}: {reason}. {_ADVICE}")


def _parse_url(url: str) -> _Target:
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise _refuse(url, "it contains spaces or control characters; percent-encode them")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(url, f"it is not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse(url, f"only http and https URLs are supported, not {scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        raise _refuse(url, "URLs with a user name or password are not supported")
    host = parts.hostname
    if not host:
        raise _refuse(url, "it has no host name")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise _refuse(url, f"the host name is not valid ({exc})") from exc
    if port is None:
        port = 443 if scheme == "https" else 80
    path = _quote(parts.path or "/") + (f"?{_quote(parts.query)}" if parts.query else "")
    return _Target(url=url, scheme=scheme, host=host, port=port, path=path)


def _quote(text: str) -> str:
    """Percent-encode what is not printable ASCII, keeping existing escapes and delimiters."""
    return urllib.parse.quote(text, safe="".join(chr(code) for code in range(0x21, 0x7F)))


def _resolve(target: _Target) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _refuse(target.url, f"the host {target.host} cannot be resolved ({reason})") from exc
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _refuse(target.url, f"the host {target.host} has no IP address")
    return addresses


def _check_addresses(
    target: _Target, addresses: Sequence[IPAddress], allowed_networks: Sequence[IPNetwork]
) -> None:
    for address in addresses:
        if is_public_address(address) or any(address in net for net in allowed_networks):
            continue
        raise _refuse(
            target.url,
            f"the host {target.host} resolves to {address}, which is a private, loopback, "
            "link-local or otherwise non-public address",
        )


def _open_socket(addresses: Sequence[IPAddress], port: int, timeout: float | None) -> socket.socket:
    last_error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            sock = socket.create_connection((str(address), port), timeout=timeout)
        except OSError as exc:
            logger.debug("connecting to %s port %d failed: %s", address, port, exc)
            last_error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last_error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to already checked addresses; the Host header keeps the URL's host."""

    def __init__(
        self, host: str, port: int, *, addresses: Sequence[IPAddress], timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses
        self.raw_sock: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.raw_sock = _open_socket(self.addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Like :class:`_PinnedHTTPConnection`; SNI and the certificate check use the URL's host."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Sequence[IPAddress],
        timeout: float,
        tls_context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=tls_context)
        self.addresses = addresses
        self.tls_context = tls_context
        self.raw_sock: socket.socket | None = None

    def connect(self) -> None:
        sock = _open_socket(self.addresses, self.port, self.timeout)
        try:
            self.sock = self.raw_sock = self.tls_context.wrap_socket(
                sock, server_hostname=self.host
            )
        except BaseException:
            sock.close()
            raise


def _connection(
    target: _Target, addresses: Sequence[IPAddress], timeout: float
) -> _PinnedHTTPConnection | _PinnedHTTPSConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(
            target.host,
            target.port,
            addresses=addresses,
            timeout=timeout,
            tls_context=ssl.create_default_context(),
        )
    return _PinnedHTTPConnection(target.host, target.port, addresses=addresses, timeout=timeout)


def _fetch_once(
    target: _Target, addresses: Sequence[IPAddress], *, deadline: _Deadline, max_bytes: int
) -> _Answer:
    watchdog: _Watchdog | None = None
    try:
        conn = _connection(target, addresses, timeout=deadline.remaining())
        try:
            conn.connect()
            # Per-read timeouts alone let a host that sends a byte now and then keep the fetch
            # alive far past the deadline (http.client reads headers a line at a time): at the
            # deadline the watchdog shuts the socket, which ends any read in progress.
            watchdog = _Watchdog(conn, deadline)
            _arm(conn, deadline)
            conn.request(
                "GET",
                target.path,
                headers={"User-Agent": USER_AGENT, "Accept": "image/*", "Connection": "close"},
            )
            _arm(conn, deadline)
            response = conn.getresponse()
            if response.status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise _refuse(target.url, f"HTTP {response.status} without a Location header")
                return _Answer(response.status, location, b"")
            if not 200 <= response.status < 300:
                raise _refuse(target.url, f"the server answered HTTP {response.status}")
            body = _read_body(target, conn, response, deadline=deadline, max_bytes=max_bytes)
            if watchdog.fired:  # the socket was shut mid-body: what came is not the image
                raise TimeoutError
            return _Answer(response.status, None, body)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            conn.close()
    except TimeoutError as exc:
        raise _refuse(target.url, f"no answer within the {deadline.seconds:g} s timeout") from exc
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        raise _refuse(target.url, f"its TLS certificate is not valid ({reason})") from exc
    except (OSError, http.client.HTTPException) as exc:
        if watchdog is not None and watchdog.fired:
            raise _refuse(
                target.url, f"no answer within the {deadline.seconds:g} s timeout"
            ) from exc
        raise _connection_failed(target, exc) from exc


def _connection_failed(target: _Target, exc: OSError | http.client.HTTPException) -> Exception:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
    return _refuse(target.url, f"the connection failed ({reason})")


class _Watchdog:
    """Shuts the connection's socket down when the deadline passes (unless cancelled first)."""

    def __init__(
        self, conn: _PinnedHTTPConnection | _PinnedHTTPSConnection, deadline: _Deadline
    ) -> None:
        self.conn = conn
        self.fired = False
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self.conn.raw_sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _arm(conn: _PinnedHTTPConnection | _PinnedHTTPSConnection, deadline: _Deadline) -> None:
    """Give the next socket operation only the time left before the deadline."""
    if conn.raw_sock is not None:
        conn.raw_sock.settimeout(deadline.remaining())


def _read_body(
    target: _Target,
    conn: _PinnedHTTPConnection | _PinnedHTTPSConnection,
    response: http.client.HTTPResponse,
    *,
    deadline: _Deadline,
    max_bytes: int,
) -> bytes:
    declared = response.length
    if declared is not None and declared > max_bytes:
        raise ImageTooLarge(
            f"The image at {target.url} is {declared} bytes, over the limit of {max_bytes} "
            "bytes. Send a smaller image."
        )
    chunks: list[bytes] = []
    n_bytes = 0
    while not response.isclosed():  # http.client closes the socket once the body is read
        _arm(conn, deadline)
        # read1: one receive at a time, so the deadline holds even when bytes trickle in; at
        # most one byte past the limit, which is enough to know the body is too large.
        chunk = response.read1(min(CHUNK_SIZE, max_bytes - n_bytes + 1))
        if not chunk:
            break
        n_bytes += len(chunk)
        if n_bytes > max_bytes:
            raise ImageTooLarge(
                f"The image at {target.url} is over the limit of {max_bytes} bytes. "
                "Send a smaller image."
            )
        chunks.append(chunk)
    if declared is not None and n_bytes < declared:
        raise _refuse(
            target.url, f"the server closed the connection after {n_bytes} of {declared} bytes"
        )
    return b"".join(chunks)

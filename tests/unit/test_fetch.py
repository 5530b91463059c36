"""fetch_image_url against a real HTTP(S) server on 127.0.0.1.

Loopback is private, so tests that exercise HTTP itself pass ``allow_private=True``. Tests of the
address policy use ``allow_private=False``; a first hop the policy accepts is made possible with
``allowed_networks=[127.0.0.1/32]``. DNS is faked, where needed, at ``socket.getaddrinfo``.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tagloop.errors import ImageTooLarge, ImageUrlInvalid
from tagloop.ingest.fetch import fetch_image_url, is_public_address

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
LOOPBACK_ONLY = [ipaddress.ip_network("127.0.0.1/32")]
STALL_S = 20.0  # far beyond every bound the tests assert, so a hung read is caught


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stop = threading.Event()
        self.requests: list[tuple[str, str]] = []  # (path, Host header)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _raw(self, head: str, body: bytes = b"") -> None:
        self.wfile.write(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        self.wfile.flush()

    def _stall(self) -> None:
        self.server.stop.wait(STALL_S)

    def do_GET(self) -> None:
        self.close_connection = True
        self.server.requests.append((self.path, self.headers.get("Host", "")))
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        parts = path.strip("/").split("/")
        if path == "/image.png":
            self._raw(f"HTTP/1.0 200 OK\nContent-Length: {len(IMAGE)}\n", IMAGE)
        elif parts[0] == "hops":  # /hops/N: N relative redirects, the last to the image
            n_hops = int(parts[1])
            location = "/image.png" if n_hops == 1 else f"/hops/{n_hops - 1}"
            self._raw(f"HTTP/1.0 302 Found\nLocation: {location}\n")
        elif parts[0] == "status":  # /status/CODE?to=LOCATION
            location = f"Location: {params['to']}\n" if "to" in params else ""
            self._raw(f"HTTP/1.0 {parts[1]} Whatever\n{location}Content-Length: 0\n")
        elif path == "/chunked":
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(IMAGE[i : i + 1000]), IMAGE[i : i + 1000])
                for i in range(0, len(IMAGE), 1000)
            )
            head = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nConnection: close\n"
            self._raw(head, chunks + b"0\r\n\r\n")
        elif path == "/declares-large":  # Content-Length over the limit, then nothing
            self._raw("HTTP/1.0 200 OK\nContent-Length: 10000000\n")
            self._stall()
        elif path == "/stream":  # ?n=N bytes without Content-Length, then the server stalls
            self._raw("HTTP/1.0 200 OK\n", b"x" * int(params["n"]))
            self._stall()
        elif path == "/short":  # promises 1000 bytes, sends 10, closes
            self._raw("HTTP/1.0 200 OK\nContent-Length: 1000\n", b"0123456789")
        elif path == "/slow-headers":
            self._stall()
        elif path == "/drip-headers":  # the status line and headers a byte every 0.1 s
            head = b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 1000
            for byte in head:
                if self.server.stop.wait(0.1):
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        elif path == "/drip":  # one byte every 0.1 s: no single read waits long
            self._raw("HTTP/1.0 200 OK\n")
            for _ in range(int(STALL_S / 0.1)):
                if self.server.stop.wait(0.1):
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
        else:
            self._raw("HTTP/1.0 404 Not Found\nContent-Length: 0\n")


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[_Server]:
    yield from _serve(_Server())


def _fetch(url: str, **kwargs: Any) -> bytes:
    options: dict[str, Any] = {"timeout": 2.0, "max_bytes": 1_000_000, "allow_private": True}
    options.update(kwargs)
    return fetch_image_url(url, **options)


# --- plain HTTP ----------------------------------------------------------------------------


def test_fetches_the_body(server: _Server) -> None:
    assert _fetch(f"http://127.0.0.1:{server.port}/image.png") == IMAGE


def test_decodes_a_chunked_body(server: _Server) -> None:
    assert _fetch(f"http://127.0.0.1:{server.port}/chunked") == IMAGE


def test_sends_the_url_host_in_the_host_header(server: _Server) -> None:
    _fetch(f"http://localhost:{server.port}/image.png")
    assert server.requests == [("/image.png", f"localhost:{server.port}")]


def test_percent_encodes_non_ascii_paths(server: _Server) -> None:
    with pytest.raises(ImageUrlInvalid, match="HTTP 404"):
        _fetch(f"http://127.0.0.1:{server.port}/caf\u00e9.png?q=\u00e9 x".replace(" ", "%20"))
    assert server.requests[0][0] == "/caf%C3%A9.png?q=%C3%A9%20x"


@pytest.mark.parametrize(("path", "code"), [("/missing", 404), ("/status/500", 500)])
def test_refuses_non_2xx_answers(server: _Server, path: str, code: int) -> None:
    with pytest.raises(ImageUrlInvalid, match=f"answered HTTP {code}"):
        _fetch(f"http://127.0.0.1:{server.port}{path}")


def test_reports_a_refused_connection() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ImageUrlInvalid, match="(?i)refused"):
        _fetch(f"http://127.0.0.1:{port}/image.png")


def test_reports_a_connection_closed_before_the_declared_length(server: _Server) -> None:
    with pytest.raises(ImageUrlInvalid, match="after 10 of 1000 bytes"):
        _fetch(f"http://127.0.0.1:{server.port}/short")


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_follows_each_redirect_status(server: _Server, code: int) -> None:
    assert _fetch(f"http://127.0.0.1:{server.port}/status/{code}?to=/image.png") == IMAGE


def test_follows_three_redirects(server: _Server) -> None:
    assert _fetch(f"http://127.0.0.1:{server.port}/hops/3") == IMAGE
    paths = [path for path, _ in server.requests]
    assert paths == ["/hops/3", "/hops/2", "/hops/1", "/image.png"]


def test_refuses_a_fourth_redirect(server: _Server) -> None:
    with pytest.raises(ImageUrlInvalid, match="redirects more than 3 times"):
        _fetch(f"http://127.0.0.1:{server.port}/hops/4")
    assert "/image.png" not in [path for path, _ in server.requests]


def test_refuses_a_redirect_without_location(server: _Server) -> None:
    with pytest.raises(ImageUrlInvalid, match="without a Location header"):
        _fetch(f"http://127.0.0.1:{server.port}/status/302")


def test_refuses_a_redirect_to_another_scheme(server: _Server) -> None:
    with pytest.raises(ImageUrlInvalid, match="only http and https"):
        _fetch(f"http://127.0.0.1:{server.port}/status/302?to=file:///etc/passwd")


# --- size limit ----------------------------------------------------------------------------


def test_accepts_a_body_of_exactly_max_bytes(server: _Server) -> None:
    assert _fetch(f"http://127.0.0.1:{server.port}/image.png", max_bytes=len(IMAGE)) == IMAGE
    assert _fetch(f"http://127.0.0.1:{server.port}/chunked", max_bytes=len(IMAGE)) == IMAGE


def test_refuses_a_declared_length_over_the_limit_before_reading(server: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(ImageTooLarge, match="10000000 bytes"):
        _fetch(f"http://127.0.0.1:{server.port}/declares-large", timeout=15.0)
    assert time.monotonic() - started < 8.0  # did not wait for a body that never comes


def test_refuses_a_chunked_body_over_the_limit(server: _Server) -> None:
    with pytest.raises(ImageTooLarge):
        _fetch(f"http://127.0.0.1:{server.port}/chunked", max_bytes=len(IMAGE) - 1)


def test_stops_reading_as_soon_as_the_body_exceeds_the_limit(server: _Server) -> None:
    # The server sends max_bytes + 1 bytes and then stalls without closing: a reader that
    # waited for the end of the body would time out instead.
    started = time.monotonic()
    with pytest.raises(ImageTooLarge, match="over the limit of 300000 bytes"):
        _fetch(f"http://127.0.0.1:{server.port}/stream?n=300001", max_bytes=300_000, timeout=15.0)
    assert time.monotonic() - started < 8.0


# --- timeouts ------------------------------------------------------------------------------


def test_times_out_waiting_for_the_answer(server: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(ImageUrlInvalid, match="within the 0.5 s timeout"):
        _fetch(f"http://127.0.0.1:{server.port}/slow-headers", timeout=0.5)
    assert time.monotonic() - started < 8.0


def test_timeout_bounds_the_whole_download(server: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(ImageUrlInvalid, match="within the 0.5 s timeout"):
        _fetch(f"http://127.0.0.1:{server.port}/drip", timeout=0.5)
    assert time.monotonic() - started < 8.0


def test_timeout_bounds_headers_sent_a_byte_at_a_time(server: _Server) -> None:
    """A host that drips its status line and headers (each read well within the timeout) is
    cut off at the overall deadline, not after its last byte (the audit saw 20 s for 3 s)."""
    started = time.monotonic()
    with pytest.raises(ImageUrlInvalid, match="within the 0.5 s timeout"):
        _fetch(f"http://127.0.0.1:{server.port}/drip-headers", timeout=0.5)
    assert time.monotonic() - started < 1.5


# --- address policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("100.127.255.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::ffff:100.64.0.1", False),
        ("2002:7f00:1::", False),
        ("::127.0.0.1", False),
        ("64:ff9b::a00:1", False),
    ],
)
def test_is_public_address(address: str, expected: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/image.png",
        "http://localhost:{port}/image.png",
        "http://[::1]:{port}/image.png",
        "http://[::ffff:127.0.0.1]:{port}/image.png",
        "http://0.0.0.0:{port}/image.png",
        "http://10.0.0.1/image.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/image.png",
        "http://224.0.0.1/image.png",
    ],
)
def test_refuses_non_public_hosts_without_connecting(server: _Server, url: str) -> None:
    with pytest.raises(ImageUrlInvalid, match="non-public address"):
        _fetch(url.format(port=server.port), allow_private=False)
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.png", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("data:image/png;base64,AAAA", "only http and https"),
        ("example.com/a.png", "only http and https"),
        ("http://user:secret@example.com/a.png", "user name or password"),
        ("http:///a.png", "no host name"),
        ("http://exa mple.com/a.png", "spaces or control characters"),
        ("http://example.com:99999/a.png", "not a valid URL"),
        ("http://[::1/a.png", "not a valid URL"),
    ],
)
def test_refuses_malformed_urls(url: str, reason: str) -> None:
    with pytest.raises(ImageUrlInvalid, match=reason):
        fetch_image_url(url, timeout=1.0, max_bytes=1000, allow_private=False)


def test_allowed_networks_admit_a_trusted_private_host(server: _Server) -> None:
    url = f"http://127.0.0.1:{server.port}/image.png"
    assert _fetch(url, allow_private=False, allowed_networks=LOOPBACK_ONLY) == IMAGE


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/image.png",
        "http://[::1]:{port}/image.png",
        "https://[::ffff:192.168.0.1]/image.png",
    ],
)
def test_refuses_a_redirect_to_a_non_public_host(server: _Server, location: str) -> None:
    to = urllib.parse.quote(location.format(port=server.port), safe="")
    url = f"http://127.0.0.1:{server.port}/status/302?to={to}"
    with pytest.raises(ImageUrlInvalid, match="non-public address"):
        _fetch(url, allow_private=False, allowed_networks=LOOPBACK_ONLY)
    assert len(server.requests) == 1


def _fake_dns(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]
) -> dict[str, int]:
    """Answer getaddrinfo for the given names, one answer per call; other names go to the OS."""
    real = socket.getaddrinfo
    calls = dict.fromkeys(answers, 0)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        answer = answers[host][min(calls[host], len(answers[host]) - 1)]
        calls[host] += 1
        if not answer:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in answer
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_refuses_a_host_with_any_non_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"mixed.test": [["8.8.8.8", "10.0.0.5"]]})
    with pytest.raises(ImageUrlInvalid, match="resolves to 10.0.0.5"):
        fetch_image_url("http://mixed.test/a.png", timeout=1, max_bytes=10, allow_private=False)


def test_reports_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"nowhere.test": [[]]})
    with pytest.raises(ImageUrlInvalid, match="nowhere.test cannot be resolved"):
        fetch_image_url("http://nowhere.test/a.png", timeout=1, max_bytes=10, allow_private=False)


def test_connects_to_the_checked_address_only(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding DNS answers a trusted address first and an internal one afterwards.
    calls = _fake_dns(monkeypatch, {"images.test": [["127.0.0.1"], ["10.255.255.1"]]})
    url = f"http://images.test:{server.port}/image.png"
    assert _fetch(url, allow_private=False, allowed_networks=LOOPBACK_ONLY) == IMAGE
    assert calls["images.test"] == 1
    assert server.requests == [("/image.png", f"images.test:{server.port}")]


# --- HTTPS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate valid for the name ``localhost`` only (no IP address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[_Server]:
    server = _Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path | None], None]:
    def set_trusted(cert_path: Path | None) -> None:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        if cert_path is None:
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        else:
            monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))

    return set_trusted


def test_https_checks_the_certificate_against_the_url_host(
    tls_server: _Server, certificate: tuple[Path, Path], trust: Callable[[Path | None], None]
) -> None:
    # The connection goes to 127.0.0.1, but the certificate names only "localhost".
    trust(certificate[0])
    assert _fetch(f"https://localhost:{tls_server.port}/image.png") == IMAGE


def test_https_refuses_a_certificate_for_another_host(
    tls_server: _Server, certificate: tuple[Path, Path], trust: Callable[[Path | None], None]
) -> None:
    trust(certificate[0])
    with pytest.raises(ImageUrlInvalid, match="TLS certificate is not valid"):
        _fetch(f"https://127.0.0.1:{tls_server.port}/image.png")


def test_https_refuses_an_untrusted_certificate(
    tls_server: _Server, trust: Callable[[Path | None], None]
) -> None:
    trust(None)
    with pytest.raises(ImageUrlInvalid, match="TLS certificate is not valid"):
        _fetch(f"https://localhost:{tls_server.port}/image.png")

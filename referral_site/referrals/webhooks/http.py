"""One webhook request: resolve, refuse internal addresses, POST, never follow.

The host name is resolved once and the request goes to the address that was
checked (the connection is made to that IP, with the name kept for the Host
header and TLS), so a DNS answer that changes between check and connect cannot
steer it into the internal network.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

#: Bytes of a response body kept in the attempt log.
KEEP_BYTES = 500
USER_AGENT = "referral_site-webhooks/1"


class Refused(Exception):
    """The URL may not be called: bad scheme, unknown host, internal address."""


@dataclass(frozen=True)
class Answer:
    """What one attempt got: its status (None if none), time and body's start."""

    status_code: int | None
    latency_ms: int
    response_start: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Limits:
    """Timeouts (seconds) and the networks allowed despite being internal."""

    connect_timeout: float
    read_timeout: float
    allowed_networks: tuple


def parse_networks(setting: str) -> tuple:
    """REFERRALS_WEBHOOK_ALLOWED_NETWORKS: CIDRs separated by commas or spaces."""
    return tuple(
        ipaddress.ip_network(item, strict=False)
        for item in setting.replace(",", " ").split()
    )


def check_url(url: str) -> None:
    """Refused unless an http(s) URL with a host (the address is checked on sending)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Refused("Use an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise Refused("Leave credentials out of the URL.")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise Refused("The port is not a number from 0 to 65535.") from None


def resolve(host: str, port: int, limits: Limits) -> str:
    """The address to connect to: the first one the name resolves to, if allowed.

    Every address of the name must be allowed: a name that also points inside
    refuses outright, rather than depending on which address comes first.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"The host {host} does not resolve.") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not _allowed(ipaddress.ip_address(address), limits.allowed_networks):
            raise Refused(
                f"{host} resolves to {address}, an internal address "
                "(see REFERRALS_WEBHOOK_ALLOWED_NETWORKS)."
            )
    return addresses[0]


def _allowed(address, allowed_networks) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if any(address in network for network in allowed_networks):
        return True
    return address.is_global and not address.is_multicast


def post(url: str, body: bytes, headers: dict[str, str], limits: Limits) -> Answer:
    """POST once to the checked address; a redirect is an answer, not followed."""
    check_url(url)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(parts.hostname, port, limits)
    pool = _pool(https, address, port, parts.hostname, limits)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{port}"
    started = time.perf_counter()
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers={
                **headers,
                "Host": host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            start = response.read(KEEP_BYTES, decode_content=False)
        finally:
            response.release_conn()
        latency = _ms_since(started)
        return Answer(response.status, latency, start.decode("utf-8", "replace"))
    except urllib3.exceptions.HTTPError as error:
        return Answer(None, _ms_since(started), _describe(error))
    finally:
        pool.close()


def _pool(https: bool, address: str, port: int, hostname: str, limits: Limits):
    timeout = urllib3.Timeout(connect=limits.connect_timeout, read=limits.read_timeout)
    if https:
        return urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            maxsize=1,
            retries=False,
            server_hostname=hostname,
            assert_hostname=hostname,
            cert_reqs="CERT_REQUIRED",
        )
    return urllib3.HTTPConnectionPool(
        address, port, timeout=timeout, maxsize=1, retries=False
    )


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(error: Exception) -> str:
    """Why no answer came, in a line an admin can act on."""
    reason = getattr(error, "reason", None) or error
    # NewConnectionError is a kind of ConnectTimeoutError: asked first.
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "Connection refused or unreachable."
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return "No connection within the connect timeout."
    if isinstance(error, urllib3.exceptions.ReadTimeoutError):
        return "No answer within the read timeout."
    if isinstance(reason, urllib3.exceptions.SSLError):
        return f"TLS failed: {reason}"[:KEEP_BYTES]
    return f"{type(error).__name__}: {error}"[:KEEP_BYTES]

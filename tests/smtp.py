"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1 and a free port."""

import asyncio
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP


class _Handler:
    def __init__(self, server: "SMTPServer") -> None:
        self.server = server

    async def handle_QUIT(self, smtp, session, envelope):
        with self.server.lock:
            self.server.quits += 1
        return "221 Bye"

    async def handle_DATA(self, smtp, session, envelope):
        if self.server.refuse:
            return "451 4.3.0 Try again later"
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self.server.lock:
            self.server.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class SMTPServer:
    """aiosmtpd in a thread of its own; ``received`` holds (recipients, message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        #: Answer DATA with a temporary failure (a server having trouble).
        self.refuse = False
        #: Sessions the client ended with QUIT (the others were dropped).
        self.quits = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> "SMTPServer":
        self.thread.start()
        create = self.loop.create_server(
            lambda: SMTP(_Handler(self)), host="127.0.0.1", port=0
        )
        self.server = asyncio.run_coroutine_threadsafe(create, self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        # asyncio servers are not thread-safe: closing from the test's thread
        # races the loop's own wake-ups, so the loop closes its server itself.
        closed = asyncio.run_coroutine_threadsafe(self._close(), self.loop)
        closed.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _close(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    def messages(
        self, to: str | None = None, subject: str | None = None
    ) -> list[EmailMessage]:
        """The messages received (for one recipient, of one subject), oldest first."""
        with self.lock:
            return [
                m
                for rcpts, m in self.received
                if (to is None or to in rcpts)
                and (subject is None or m["Subject"] == subject)
            ]

    def wait_for(
        self, count: int, timeout: float = 5.0, subject: str | None = None
    ) -> list[EmailMessage]:
        """The messages (of one subject) once at least ``count`` arrived (SMTP hands
        over at once; this only covers the server's thread storing them)."""
        deadline = time.monotonic() + timeout
        while (
            len(self.messages(subject=subject)) < count and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        return self.messages(subject=subject)


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts of a message."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html

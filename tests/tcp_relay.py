"""A loopback TCP relay to a server (PostgreSQL) that a test can cut or freeze."""

import socket
import threading


class TcpRelay:
    """Forwards connections to a target port; ``cut`` drops them, ``freeze`` stalls.

    Cut: every relayed connection is shut down and new ones are refused, as when
    the server goes away. Frozen: connections stay open and bytes are accepted,
    but nothing is forwarded until ``thaw``, as when a server hangs; no TCP
    timeout notices that, since the relay's side keeps acknowledging.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        self._flowing.wait()
        try:
            server = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        with self._lock:
            self.connections += [client, server]
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source, sink):
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                _end(s)

    def cut(self):
        """Drop every relayed connection and refuse new ones."""
        self.up = False
        with self._lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self):
        """Accept connections again (after cut)."""
        self.up = True

    def freeze(self):
        """Stop forwarding bytes; connections stay open."""
        self._flowing.clear()

    def thaw(self):
        """Forward again what waited, and everything after."""
        self._flowing.set()

    def close(self):
        self.thaw()
        self.cut()
        self.listener.close()


def _end(connection: socket.socket) -> None:
    """Shut a relayed socket, then close it.

    close() alone leaves the socket open, and its peer waiting, while the other
    direction's thread is still in recv() on it; shutdown() ends that at once.
    """
    for step in (lambda: connection.shutdown(socket.SHUT_RDWR), connection.close):
        try:
            step()
        except OSError:
            pass

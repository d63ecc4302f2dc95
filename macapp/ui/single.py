"""One Tailor at a time: a second launch hands over to the first, which brings its window forward, and quits.

A local socket named for the user and the data home: the first Tailor listens on it; a later one that reaches it
says "show" and exits, so there is never a second window or a second menu-bar item over the same runs.
"""

import getpass
import hashlib

from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..engine.files import data_home

WAIT_MS = 500


def _name() -> str:
    home = hashlib.sha1(str(data_home().resolve()).encode()).hexdigest()[:12]
    return f"tailor-{getpass.getuser()}-{home}"


def hand_over() -> bool:
    """True when another Tailor is running here and was asked to show its window; then this one should quit."""
    socket = QLocalSocket()
    socket.connectToServer(_name())
    if not socket.waitForConnected(WAIT_MS):
        return False
    socket.write(b"show\n")
    socket.waitForBytesWritten(WAIT_MS)
    socket.disconnectFromServer()
    return True


def listen(on_show, parent) -> QLocalServer:
    """Become the one Tailor: `on_show()` runs whenever a later launch asks for the window."""
    server = QLocalServer(parent)
    QLocalServer.removeServer(_name())  # left behind by a Tailor that crashed
    server.listen(_name())

    def connected():
        while server.hasPendingConnections():
            server.nextPendingConnection().deleteLater()
            on_show()

    server.newConnection.connect(connected)
    return server

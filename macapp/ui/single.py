"""One Tailor at a time: a second launch hands over to the first, which brings its window forward, and quits.

A local socket named for the user and the data home: the first Tailor listens on it before it builds its
window; a later one that reaches it says "show" and exits, so there is never a second window or a second
menu-bar item over the same runs.
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
    """True when another Tailor answered here and was asked to show its window."""
    socket = QLocalSocket()
    socket.connectToServer(_name())
    if not socket.waitForConnected(WAIT_MS):
        return False
    socket.write(b"show\n")
    socket.waitForBytesWritten(WAIT_MS)
    socket.disconnectFromServer()
    return True


class Claim:
    """This process as the one Tailor (`held`), or one that handed over to another and should quit."""

    def __init__(self, parent):
        self.server = QLocalServer(parent)
        self.show = lambda: None  # set once the window exists; a launch before that finds it anyway
        self.server.newConnection.connect(self._connected)
        self.held = self._listen()

    def _listen(self) -> bool:
        if self.server.listen(_name()):
            return True
        if hand_over():
            return False
        QLocalServer.removeServer(_name())  # left behind by a Tailor that crashed: nobody answered on it
        return self.server.listen(_name()) or not hand_over()

    def _connected(self) -> None:
        while self.server.hasPendingConnections():
            self.server.nextPendingConnection().deleteLater()
            self.show()

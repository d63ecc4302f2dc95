"""Tailor's icons, drawn in code: the menu-bar glyphs for each state of a run (black on transparent, as
macOS template images) and the app icon: a thread falling like a loss curve through a needle's eye.

`python -m macapp.ui.icons resources/icons` writes the app icon as the bundle's Tailor.icns.
"""

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QLinearGradient, QPainter, QPainterPath, QPen, QPixmap

TRAY_SIZES = (18, 36)  # points at 1x and 2x: the menu bar's glyph size
STATES = ("idle", "training", "finished", "stopped", "failed")
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}


def _pen(color, width: float) -> QPen:
    return QPen(QBrush(QColor(color)), width, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)


def _glyph(painter: QPainter, state: str, progress: float) -> None:
    """Draw `state` in an 18 x 18 box: a ring filled as far as the run has gone, or a mark cut out of a disc."""
    ink = QColor("black")
    ring = QRectF(2, 2, 14, 14)
    if state == "idle":  # the app icon's thread, falling like a loss curve, and its needle
        painter.setPen(_pen(ink, 1.5))
        thread = QPainterPath(QPointF(2.5, 3))
        thread.cubicTo(QPointF(5, 12), QPointF(8, 13.5), QPointF(16, 14))
        painter.drawPath(thread)
        painter.setPen(_pen(ink, 1.8))
        painter.drawLine(QPointF(12.5, 2.5), QPointF(12.5, 16))
        return
    if state == "training":
        painter.setPen(_pen(ink, 1.6))
        painter.setBrush(Qt.NoBrush)
        painter.drawEllipse(ring)
        painter.setPen(Qt.NoPen)
        painter.setBrush(ink)
        span = max(progress, 1 / 12) * 360
        painter.drawPie(ring.adjusted(2.5, 2.5, -2.5, -2.5), 90 * 16, int(-span * 16))
        return
    painter.setPen(Qt.NoPen)
    painter.setBrush(ink)
    painter.drawEllipse(ring)
    painter.setCompositionMode(QPainter.CompositionMode_Clear)  # the mark is cut out of the disc
    painter.setPen(_pen(ink, 1.8))
    painter.setBrush(Qt.NoBrush)
    if state == "finished":
        painter.drawPolyline([QPointF(5.8, 9.2), QPointF(8.1, 11.5), QPointF(12.3, 6.6)])
    elif state == "stopped":
        painter.setPen(Qt.NoPen)
        painter.setBrush(ink)
        painter.drawRect(QRectF(6.3, 6.3, 5.4, 5.4))
    else:  # failed
        painter.drawLine(QPointF(9, 5.6), QPointF(9, 9.8))
        painter.drawPoint(QPointF(9, 12.4))


def tray_pixmap(state: str, size: int, progress: float = 0.0) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.scale(size / 18, size / 18)
    _glyph(painter, state, progress)
    painter.end()
    return pixmap


def tray_icon(state: str, progress: float = 0.0) -> QIcon:
    """The menu-bar glyph; a mask, so macOS draws it in the menu bar's own colour (light or dark)."""
    icon = QIcon()
    for size in TRAY_SIZES:
        icon.addPixmap(tray_pixmap(state, size, progress))
    icon.setIsMask(True)
    return icon


def app_pixmap(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.scale(size / 100, size / 100)
    tile = QLinearGradient(0, 0, 0, 100)
    tile.setColorAt(0, QColor("#3a7bd5"))
    tile.setColorAt(1, QColor("#1c3f94"))
    painter.setPen(Qt.NoPen)
    painter.setBrush(QBrush(tile))
    painter.drawRoundedRect(QRectF(6, 6, 88, 88), 20, 20)  # the grid macOS icons keep inside their square
    needle = QPainterPath(QPointF(70, 12))  # point up
    needle.lineTo(73.5, 34)
    needle.lineTo(73.5, 82)
    needle.quadTo(70, 88, 66.5, 82)
    needle.lineTo(66.5, 34)
    needle.closeSubpath()
    painter.setPen(Qt.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawPath(needle)
    painter.setBrush(QColor("#24489f"))
    painter.drawRoundedRect(QRectF(68.2, 64, 3.6, 14), 1.8, 1.8)  # its eye
    thread = QPainterPath(QPointF(18, 24))
    thread.cubicTo(QPointF(30, 66), QPointF(45, 71), QPointF(70, 71))
    thread.cubicTo(QPointF(76, 71), QPointF(80, 70), QPointF(84, 66))
    painter.setPen(_pen("#ffd166", 4))
    painter.setBrush(Qt.NoBrush)
    painter.drawPath(thread)
    painter.end()
    return pixmap


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (32, 64, 128, 256):
        icon.addPixmap(app_pixmap(size))
    return icon


def _png(pixmap: QPixmap) -> bytes:
    buffer = QBuffer()
    buffer.open(QBuffer.WriteOnly)
    pixmap.save(buffer, "PNG")
    return bytes(buffer.data())


def icns_bytes() -> bytes:
    """An .icns file: PNG images of each size under their type codes (read by macOS 10.7 and later)."""
    body = b"".join(kind + struct.pack(">I", 8 + len(data)) + data
                    for kind, data in ((kind, _png(app_pixmap(size))) for size, kind in ICNS_TYPES.items()))
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(folder: Path) -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # painting needs one
    app.setApplicationName("Tailor")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Tailor.icns").write_bytes(icns_bytes())
    print(f"wrote {folder / 'Tailor.icns'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "resources/icons")))

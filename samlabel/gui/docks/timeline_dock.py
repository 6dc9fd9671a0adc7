"""TimelineDock: a thin bar under the canvas for a sequence: a slider over the frames with
one mark per frame.

It only draws a :class:`~samlabel.gui.timeline_model.TimelineModel` (the marks are computed
there, without Qt) and turns clicks and drags into ``frameChosen(int index)``. Wiring
(:class:`~samlabel.gui.video_controller.VideoController` does it)::

    dock = TimelineDock(parent=main_window)                  # objectName "timeline_dock"
    dock.set_model(model)                                    # a TimelineModel or None
    dock.set_current(index); dock.marks_changed()            # after the model changed
    dock.frameChosen.connect(main_window.load_index)

Colours: a frame written by propagation is blue, one a person edited orange, a reviewed
one green, an unreadable one grey-red; a red triangle above a frame flags an object lost
there; the current frame has a dark handle, the frame a propagation is computing a yellow
one. The buttons run the window's own actions (first, previous, next, last frame).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from samlabel.gui.timeline_model import FrameState, TimelineModel, frame_at, frame_x, object_name

STATE_COLORS = {
    FrameState.EMPTY: None,
    FrameState.PROPAGATED: QColor(66, 133, 244),
    FrameState.EDITED: QColor(240, 140, 30),
    FrameState.REVIEWED: QColor(46, 160, 67),
    FrameState.UNREADABLE: QColor(170, 90, 90),
}
LOST_COLOR = QColor(210, 35, 35)
COMPUTING_COLOR = QColor(235, 190, 0)
HANDLE_COLOR = QColor(30, 30, 30)
SCRUB_REST_MS = 120  # a drag resting this long on a frame opens it


class TimelineBar(QWidget):
    """The bar: a slot per frame, coloured by its state; lost flags above; the handle."""

    frameChosen = Signal(int)  # a click, the end of a drag, or a drag resting on a frame

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline_bar")
        self.model: TimelineModel | None = None
        self._drag: int | None = None  # the frame under the mouse while dragging
        # scrubbing: a drag that rests on a frame for SCRUB_REST_MS opens it, so the canvas
        # follows the drag without opening every frame the mouse passes over
        self._scrub = QTimer(self)
        self._scrub.setSingleShot(True)
        self._scrub.setInterval(SCRUB_REST_MS)
        self._scrub.timeout.connect(self._scrub_to_drag)
        self.setMouseTracking(True)
        self.setMinimumHeight(30)
        self.setMinimumWidth(240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(400, 30)

    def shown_index(self) -> int:
        """The frame under the handle (the one dragged to, while dragging)."""
        if self._drag is not None:
            return self._drag
        return self.model.current if self.model is not None else -1

    def _track(self) -> QRectF:
        return QRectF(4, 10, max(1, self.width() - 8), self.height() - 14)

    def index_at(self, x: float) -> int:
        track = self._track()
        return frame_at(x - track.left(), track.width(), len(self.model) if self.model is not None else 0)

    # ---------------------------------------------------------------- painting
    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        track = self._track()
        painter.fillRect(track, QColor(228, 228, 228))
        painter.setPen(QPen(QColor(170, 170, 170), 1))
        painter.drawRect(track)
        model = self.model
        if model is None or not len(model):
            painter.end()
            return
        n = len(model)
        w, left = track.width(), track.left()
        for mark in model.marks():
            a, b = frame_x(mark.index, w, n)
            color = STATE_COLORS[mark.state]
            if color is not None:
                painter.fillRect(QRectF(left + a, track.top() + 1, max(1.0, b - a), track.height() - 1), color)
            if mark.lost:
                cx = left + (a + b) / 2
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(LOST_COLOR)
                painter.drawPolygon(QPolygonF([QPointF(cx - 4, 1), QPointF(cx + 4, 1), QPointF(cx, 9)]))
        if model.computing is not None and 0 <= model.computing < n:
            self._handle(painter, track, model.computing, n, COMPUTING_COLOR, 3)
        index = self.shown_index()
        if 0 <= index < n:
            self._handle(painter, track, index, n, HANDLE_COLOR, 2)
        painter.end()

    def _handle(self, painter: QPainter, track: QRectF, index: int, n: int, color: QColor, width: float) -> None:
        a, b = frame_x(index, track.width(), n)
        rect = QRectF(track.left() + a, track.top() - 2, max(width * 2, b - a), track.height() + 4)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(color, width))
        painter.drawRect(rect)

    # ---------------------------------------------------------------- mouse
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.model is None or not len(self.model) or event.button() != Qt.MouseButton.LeftButton:
            return
        self._drag = self.index_at(event.position().x())
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.model is None or not len(self.model):
            return
        if self._drag is not None and not event.buttons() & Qt.MouseButton.LeftButton:
            self._scrub.stop()  # the release went elsewhere (a dialog opened): the drag is over
            self._drag = None
            self.update()
        index = self.index_at(event.position().x())
        mark = self.model.mark(index)
        self.setToolTip(mark.describe(len(self.model)))
        if self._drag is not None and index != self._drag:
            self._drag = index
            self._scrub.start()
            self.update()

    def _scrub_to_drag(self) -> None:
        if self._drag is not None and (self.model is None or self._drag != self.model.current):
            self.frameChosen.emit(self._drag)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        self._scrub.stop()
        if self._drag is None:
            return
        index, self._drag = self._drag, None
        self.update()
        self.frameChosen.emit(index)


class TimelineDock(QDockWidget):
    """The dock: |◀ ◀ [bar] ▶ ▶| and the frame number / total, the objects lost on the
current frame (red), the counts."""

    frameChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None, title: str = "Timeline") -> None:
        super().__init__(title, parent)
        self.setObjectName("timeline_dock")
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        body = QWidget(self)
        row = QHBoxLayout(body)
        row.setContentsMargins(6, 2, 6, 2)
        self.bar = TimelineBar(body)
        self.bar.frameChosen.connect(self.frameChosen)
        self.position_label = QLabel(body)
        self.position_label.setObjectName("timeline_position")
        self.position_label.setMinimumWidth(200)
        self.summary_label = QLabel(body)
        self.summary_label.setObjectName("timeline_summary")
        self.summary_label.setStyleSheet("color: #555;")
        self.lost_label = QLabel(body)  # the objects lost on the current frame
        self.lost_label.setObjectName("timeline_lost")
        self.lost_label.setStyleSheet("color: #c82828; font-weight: bold;")
        self.lost_label.hide()
        self._buttons: list[QToolButton] = []
        self._row = row
        row.addWidget(self.bar, 1)
        row.addWidget(self.position_label)
        row.addWidget(self.lost_label)
        row.addWidget(self.summary_label)
        self.setWidget(body)
        self.setTitleBarWidget(QWidget(self))  # thin: no title bar (View ▸ Timeline hides and shows it)

    def add_buttons(self, before: tuple, after: tuple) -> None:
        """Small buttons running ``before`` actions left of the bar, ``after`` right of it:
        ``(text, action)`` pairs (the action's tooltip is the button's)."""
        for position, actions in ((0, before), (None, after)):
            for k, (text, action) in enumerate(actions):
                button = QToolButton(self.widget())
                button.setText(text)
                button.setToolTip(action.toolTip())
                button.setObjectName(f"timeline_{action.objectName()}")
                button.clicked.connect(action.trigger)
                button.setAutoRaise(True)
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                if position == 0:
                    self._row.insertWidget(k, button)
                else:
                    self._row.insertWidget(self._row.indexOf(self.bar) + 1 + k, button)
                self._buttons.append(button)

    @property
    def model(self) -> TimelineModel | None:
        return self.bar.model

    def set_model(self, model: TimelineModel | None) -> None:
        self.bar.model = model
        self.marks_changed()

    def set_current(self, index: int) -> None:
        if self.bar.model is not None:
            self.bar.model.current = index
        self.marks_changed()

    def marks_changed(self) -> None:
        model = self.bar.model
        self.lost_label.hide()
        if model is None:
            self.position_label.setText("")
            self.summary_label.setText("")
        else:
            self.position_label.setText(model.position_text())
            if 0 <= model.current < len(model) and model.mark(model.current).lost:
                names = ", ".join(object_name(k) for k in model.mark(model.current).lost)
                self.lost_label.setText(f"⚠ lost here: {names}")
                self.lost_label.show()
            text = model.summary()
            if model.computing is not None and 0 <= model.computing < len(model):
                text = f"computing {model.frames[model.computing].name} — {text}"
            self.summary_label.setText(text)
        self.bar.update()

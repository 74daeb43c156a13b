"""SourcePicker: cameras by name (app/ui/devices.py), the test pattern and video files, in one dropdown.

The camera list is read off the UI thread, when the window opens, when the dropdown opens and on ⟳; a
remembered camera is found again by its device path or name, whatever index it has now. ``options`` is
an empty area under the dropdown for per-source settings (e.g. a checkbox for files).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from app.ui.devices import Camera, find_camera, list_cameras
from app.ui.tasks import Task

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 2
TESTPATTERN, FILE = "testpattern", "file"


class SourceCombo(QComboBox):
    about_to_open = Signal()

    def showPopup(self) -> None:
        self.about_to_open.emit()  # the list is read again; items update while the popup is open
        super().showPopup()


class SourcePicker(QWidget):
    cameras_listed = Signal(list)  # list[Camera]

    def __init__(self, parent: QWidget | None = None, lister=list_cameras) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._lister = lister
        self.combo = SourceCombo()
        self.combo.addItem("Test pattern", TESTPATTERN)
        self.combo.addItem("Video file…", FILE)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Look for cameras again")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.refresh_button)
        self.options = QVBoxLayout()  # per-source settings go here (empty for now)
        self.options.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addLayout(self.options)
        self._task: Task | None = None
        self._wanted: tuple[str | None, str | None, str | None] | None = None  # a camera to select once listed
        self.combo.about_to_open.connect(self.refresh)
        self.refresh_button.clicked.connect(self.refresh)

    # -- cameras -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self._task is not None:
            return  # one listing at a time
        task = Task(self._lister, self)
        self._task = task
        task.done.connect(self._listed)
        task.failed.connect(lambda _m: self._listed([]))
        task.start()

    def _listed(self, cameras: object) -> None:
        self._task = None
        self.set_cameras(list(cameras))  # type: ignore[call-overload]

    def set_cameras(self, cameras: list[Camera]) -> None:
        """Replace the camera items, keeping the choice (found again by path or name) when it is still there."""
        current = self.combo.currentData()
        keep = (self.combo.currentData(PATH_ROLE), self.combo.currentData(NAME_ROLE), current) \
            if str(current).startswith("camera:") else None
        self.combo.blockSignals(True)
        for i in reversed(range(self.combo.count())):
            if str(self.combo.itemData(i)).startswith("camera:"):
                self.combo.removeItem(i)
        for pos, cam in enumerate(cameras):
            self.combo.insertItem(pos, cam.name, cam.spec)
            self.combo.setItemData(pos, cam.path, PATH_ROLE)
            self.combo.setItemData(pos, cam.name, NAME_ROLE)
            self.combo.setItemData(pos, f"{cam.name}\n{cam.path or ''} ({cam.backend_name})",
                                   Qt.ItemDataRole.ToolTipRole)
        wanted = self._wanted or keep
        if wanted is not None:
            found = find_camera(cameras, *wanted)
            if found is not None:
                self.combo.setCurrentIndex(self.combo.findData(found.spec))
                self._wanted = None
            elif keep is not None and self._wanted is None:  # the chosen camera went away
                self.combo.setCurrentIndex(self.combo.findData(TESTPATTERN))
        self.combo.blockSignals(False)
        self.cameras_listed.emit(cameras)

    def cameras(self) -> list[str]:
        return [str(self.combo.itemData(i)) for i in range(self.combo.count())
                if str(self.combo.itemData(i)).startswith("camera:")]

    # -- choice ------------------------------------------------------------------------------------

    def select(self, spec: str, path: str | None = None, name: str | None = None) -> None:
        """A remembered source; a camera is selected when the list has it (it may come later)."""
        if spec.startswith("camera:"):
            self._wanted = (path, name, spec)
            i = self.combo.findData(spec)
            if i >= 0 and (path is None or self.combo.itemData(i, PATH_ROLE) == path):
                self.combo.setCurrentIndex(i)
                self._wanted = None
            return
        i = self.combo.findData(spec)
        if i >= 0:
            self.combo.setCurrentIndex(i)

    def spec(self) -> str:
        return str(self.combo.currentData())

    def camera_identity(self) -> tuple[str | None, str | None]:
        return self.combo.currentData(PATH_ROLE), self.combo.currentData(NAME_ROLE)

    def add_file(self, path: str) -> None:
        i = self.combo.findData(path)
        if i < 0:
            self.combo.insertItem(self.combo.count() - 1, f"File: {Path(path).name}", path)
            i = self.combo.findData(path)
        self.combo.setCurrentIndex(i)

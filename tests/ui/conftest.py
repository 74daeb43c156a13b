from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ui.main_window import MainWindow
from tests.ui.windows import close_window, make_window


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    win = make_window(qtbot, tmp_path)
    yield win
    close_window(qtbot, win)

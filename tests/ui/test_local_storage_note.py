"""The window says where the local endpoint keeps its data and how much it keeps (a tooltip on its region item)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from app.localkvs.embedded import EmbeddedEndpoint
from app.ui.destination import LOCAL, DestinationPicker


def test_local_region_item_says_where_the_data_is(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    picker = DestinationPicker(EmbeddedEndpoint(tmp_path / "endpoint-data", max_disk_mb=7))
    qtbot.addWidget(picker)
    assert picker.region.itemData(0) == LOCAL
    tip = picker.region.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert str(tmp_path / "endpoint-data") in tip
    assert "at most 7 MB" in tip

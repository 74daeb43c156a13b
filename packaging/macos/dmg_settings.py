"""dmgbuild settings: the .app beside a link to /Applications, so a user drags one onto the other.

    dmgbuild -s packaging/macos/dmg_settings.py -D app="dist/KVS Studio.app" "KVS Studio" dist/KVS-Studio-<v>.dmg

dmgbuild runs this file with ``defines`` (the -D values) in its namespace.
"""

import os.path

defines = globals().get("defines", {})
application = defines.get("app", "dist/KVS Studio.app")
appname = os.path.basename(application)

format = "ULMO"  # LZMA-compressed, read-only (macOS 10.15+)
filesystem = "APFS"
files = [application]
symlinks = {"Applications": "/Applications"}
badge_icon = os.path.join(os.path.dirname(os.path.abspath(application)), "..", "build", "icons", "kvs-studio.icns")
if not os.path.exists(badge_icon):
    badge_icon = None
icon_locations = {appname: (140, 150), "Applications": (500, 150)}
background = "builtin-arrow"
window_rect = ((200, 120), (640, 360))
default_view = "icon-view"
show_status_bar = False
show_tab_view = False
show_toolbar = False
show_pathbar = False
show_sidebar = False
icon_size = 128
text_size = 13

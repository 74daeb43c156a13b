"""The installer recipes as far as this Linux machine can check them: the Windows installer script compiled
by the real makensis against a stand-in bundle (the real bundle needs a Windows runner), the release
workflow through two linters, the macOS Info.plist and dmgbuild settings, the icons, and the bundle
filter rules."""

from __future__ import annotations

import os
import plistlib
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "packaging"))
import app_info  # noqa: E402
import freeze_rules  # noqa: E402
import make_icons  # noqa: E402


def make_icons_in(out: Path) -> None:
    """As the build scripts run it: a process of its own (its QGuiApplication must not meet pytest-qt's)."""
    subprocess.run([sys.executable, "packaging/make_icons.py", str(out)], cwd=ROOT, check=True, timeout=120,
                   env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


def _tool(name: str) -> str:
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/setup.sh installs it)")
    return path


# -- Windows: NSIS --------------------------------------------------------------------------------------


def _makensis(tmp_path: Path, *defines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("makensis"), "-V2", "-NOCD", *defines, "packaging/windows/kvs-studio.nsi"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_nsis_installer_compiles_around_a_stand_in_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "kvs-studio"  # what PyInstaller makes on Windows: two programs and _internal
    (bundle / "_internal" / "PySide6").mkdir(parents=True)
    (bundle / "kvs-studio.exe").write_bytes(b"MZ console stand-in")
    (bundle / "KVS Studio.exe").write_bytes(b"MZ windowed stand-in")
    (bundle / "_internal" / "PySide6" / "Qt6Core.dll").write_bytes(b"stand-in")
    icons = tmp_path / "icons"
    make_icons_in(icons)
    version = app_info.version()
    setup = tmp_path / f"KVS-Studio-Setup-{version}.exe"
    proc = _makensis(tmp_path, f"-DVERSION={version}", f"-DBUNDLE={bundle}", f"-DICON={icons / 'kvs-studio.ico'}",
                     "-DLICENSE_FILE=LICENSE", f"-DOUTFILE={setup}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert setup.read_bytes()[:2] == b"MZ"
    assert b"NullsoftInst" in setup.read_bytes()  # the NSIS data block's signature
    listing = subprocess.run([_tool("7z"), "l", str(setup)], capture_output=True, text=True, check=True).stdout
    for name in ("kvs-studio.exe", "KVS Studio.exe", "_internal/PySide6/Qt6Core.dll", "Uninstall.exe"):
        assert name in listing, listing
    assert "$PLUGINSDIR/UserInfo.dll" in listing  # MultiUser.nsh asks it whether the user is an administrator


def test_nsis_script_refuses_to_build_without_a_version(tmp_path: Path) -> None:
    proc = _makensis(tmp_path, f"-DBUNDLE={tmp_path}", f"-DOUTFILE={tmp_path / 'x.exe'}")
    assert proc.returncode != 0
    assert "pass /DVERSION" in proc.stdout + proc.stderr


def test_nsis_script_installs_shortcuts_and_an_uninstall_entry() -> None:
    """What a compiled installer does not show to 7z: read from the script itself."""
    nsi = (ROOT / "packaging" / "windows" / "kvs-studio.nsi").read_text()
    assert '"$SMPROGRAMS\\${APPNAME}.lnk"' in nsi
    assert '"$DESKTOP\\${APPNAME}.lnk"' in nsi
    assert "Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\KVS Studio" in nsi
    assert "!include MultiUser.nsh" in nsi
    assert "MULTIUSER_PAGE_INSTALLMODE" in nsi
    assert 'RMDir /r "$INSTDIR"' not in nsi.replace('RMDir /r "$INSTDIR\\_internal"', "")


# -- the release workflow --------------------------------------------------------------------------------


def test_workflow_matches_the_github_actions_schema() -> None:
    proc = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_has_no_zizmor_findings() -> None:
    proc = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(WORKFLOW)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_linters_catch_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.head_commit.message }}\n      - uses: actions/checkout@v4\n"
                   "    timeout: 5\n")
    schema = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)],
                            capture_output=True, text=True)
    assert schema.returncode != 0  # `timeout` is not a job key
    bad.write_text(bad.read_text().replace("    timeout: 5\n", ""))
    audit = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(bad)], capture_output=True, text=True)
    assert audit.returncode != 0
    assert "template-injection" in audit.stdout + audit.stderr


def test_workflow_builds_installs_and_self_tests_each_installer() -> None:
    from ruamel.yaml import YAML

    jobs = YAML(typ="safe").load(WORKFLOW.read_text())["jobs"]
    runners = {name: job["runs-on"] for name, job in jobs.items()}
    assert runners["linux"].startswith("ubuntu")
    assert runners["windows"].startswith("windows")
    assert runners["macos"].startswith("macos")
    for name, job in jobs.items():
        scripts = "\n".join(step.get("run", "") for step in job["steps"])
        assert "self-test" in scripts, name
        assert any(step.get("uses", "").startswith("actions/upload-artifact@") for step in job["steps"]), name
    assert "apt-get install" in "\n".join(s.get("run", "") for s in jobs["linux"]["steps"])
    assert "/S" in "\n".join(s.get("run", "") for s in jobs["windows"]["steps"])
    assert "hdiutil attach" in "\n".join(s.get("run", "") for s in jobs["macos"]["steps"])


# -- macOS -----------------------------------------------------------------------------------------------


def test_mac_info_plist_has_camera_usage_and_a_bundle_id() -> None:
    plist = plistlib.loads(plistlib.dumps(app_info.mac_info_plist()))
    assert "camera" in plist["NSCameraUsageDescription"].lower()
    assert plist["CFBundleShortVersionString"] == app_info.version()
    spec = (ROOT / "packaging" / "kvs-studio.spec").read_text()
    assert "bundle_identifier=app_info.BUNDLE_ID" in spec
    assert "info_plist=app_info.mac_info_plist()" in spec
    parts = app_info.BUNDLE_ID.split(".")
    assert len(parts) >= 3
    assert all(p.replace("-", "").isalnum() for p in parts)


def test_dmg_settings_put_the_app_beside_applications() -> None:
    settings: dict[str, object] = {"defines": {"app": "dist/KVS Studio.app"}}
    exec(compile((ROOT / "packaging" / "macos" / "dmg_settings.py").read_text(), "dmg_settings.py", "exec"), settings)
    assert settings["files"] == ["dist/KVS Studio.app"]
    assert settings["symlinks"] == {"Applications": "/Applications"}
    assert set(settings["icon_locations"]) == {"KVS Studio.app", "Applications"}  # type: ignore[arg-type]
    script = (ROOT / "packaging" / "macos" / "build-macos.sh").read_text()
    assert 'if [ -n "${MACOS_SIGN_IDENTITY:-}" ]' in script
    assert "notarytool submit" in script


# -- icons -----------------------------------------------------------------------------------------------


def test_icons_for_every_platform(tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    make_icons_in(tmp_path)
    for size in make_icons.HICOLOR_SIZES:
        image = QImage(str(tmp_path / "hicolor" / f"{size}x{size}" / "apps" / "kvs-studio.png"))
        assert (image.width(), image.height()) == (size, size)
        assert image.pixelColor(size // 2, size // 2).alpha() == 255  # the drawing, not a transparent square
    ico = (tmp_path / "kvs-studio.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, len(make_icons.ICO_SIZES))
    first_offset = struct.unpack("<I", ico[6 + 12:6 + 16])[0]
    assert ico[first_offset:first_offset + 4] == b"\x89PNG"
    icns = (tmp_path / "kvs-studio.icns").read_bytes()
    assert icns[:4] == b"icns"
    assert struct.unpack(">I", icns[4:8])[0] == len(icns)
    kinds, at = [], 8
    while at < len(icns):
        kind, length = icns[at:at + 4], struct.unpack(">I", icns[at + 4:at + 8])[0]
        assert icns[at + 8:at + 12] == b"\x89PNG"
        kinds.append(kind)
        at += length
    assert at == len(icns)
    assert {b"ic07", b"ic08", b"ic09", b"ic10"} <= set(kinds)


# -- what the bundle leaves out --------------------------------------------------------------------------


@pytest.mark.parametrize(("dest", "kept"), [
    ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
    ("PySide6/plugins/platforms/qwindows.dll", True),
    ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", True),
    ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
    ("PySide6/Qt/plugins/iconengines/libqsvgicon.so", True),
    ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", False),
    ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", False),
    ("PySide6/Qt/translations/qtbase_de.qm", False),
    ("botocore/data/kinesisvideo/2017-09-30/service-2.json.gz", True),
    ("botocore/data/sts/2011-06-15/service-2.json.gz", True),
    ("botocore/data/ec2/2016-11-15/service-2.json.gz", False),
    ("botocore/data/endpoints.json", True),
    ("botocore/cacert.pem", True),
    ("cv2/data/haarcascade_eye.xml", False),
])
def test_bundle_filter(dest: str, kept: bool) -> None:
    assert freeze_rules.keep(dest) is kept


def test_opencv_ffmpeg_aliased_only_to_the_same_major_version() -> None:
    dests = ["opencv_python_headless.libs/libavcodec-c4204469.so.62.28.101",
             "opencv_python_headless.libs/libavformat-4762a711.so.61.1.100",
             "opencv_python_headless.libs/libopenblasp-r0-59ffcd50.3.15.so",
             "av.libs/libavcodec-5e6b81c2.so.62.28.102", "av.libs/libavformat-4639def2.so.62.12.102"]
    assert freeze_rules.ffmpeg_aliases(dests) == {
        "opencv_python_headless.libs/libavcodec-c4204469.so.62.28.101": "av.libs/libavcodec-5e6b81c2.so.62.28.102"}


def test_unreferenced_libraries() -> None:
    needs = {"cv2.so": {"a", "alias"}, "a": {"b"}, "b": set(), "ssl": {"crypto"}, "crypto": set(), "alias": set()}
    assert freeze_rules.unreferenced(needs, {"cv2.so"}) == {"ssl", "crypto"}

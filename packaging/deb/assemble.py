"""Lay out the .deb's file tree from the PyInstaller bundle (run by build-deb.sh with the build venv).

    /opt/kvs-studio/                 the one-folder bundle
    /usr/bin/kvs-studio              -> /opt/kvs-studio/kvs-studio
    /usr/share/applications/kvs-studio.desktop
    /usr/share/icons/hicolor/{scalable,NxN}/apps/kvs-studio.{svg,png}
    /usr/share/doc/kvs-studio/copyright
    DEBIAN/control, DEBIAN/md5sums   (no maintainer scripts: dpkg triggers refresh the icon and menu caches)

Depends is measured, not guessed: every ELF file of the bundle goes through ldd with the bundle's library
path, and the libraries found outside the bundle are mapped to their packages with dpkg -S. A library
found nowhere stops the build.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import app_info  # noqa: E402
import licenses  # noqa: E402

ROOT = HERE.parents[1]
PREFIX = Path("opt") / app_info.COMMAND
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
# Needed though no ELF names them: the system CA store the bundle is pointed at, and the bundled
# libfontconfig's /etc/fonts configuration (which depends on at least one font).
EXTRA_DEPENDS = ["ca-certificates", "fontconfig-config"]


def is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def system_libraries(bundle: Path) -> set[str]:
    """Paths of the libraries outside the bundle that its ELF files load (as the bootloader would)."""
    internal = bundle / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))
    found: set[str] = set()
    missing: set[str] = set()
    for path in sorted(bundle.rglob("*")):
        if not path.is_file() or path.is_symlink() or not is_elf(path):
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for _name, target in re.findall(r"^\s*(\S+) => (.+?) \(0x", out, re.MULTILINE):
            if not Path(target).resolve().is_relative_to(bundle.resolve()):
                found.add(target)
        missing |= {f"{path.relative_to(bundle)}: {m}" for m in re.findall(r"^\s*(\S+) => not found", out, re.M)}
    if missing:
        sys.exit("assemble: libraries found neither in the bundle nor on this system:\n  " + "\n  ".join(missing))
    return found


def owning_package(path: str) -> str:
    candidates = [path, str(Path(path).resolve())]
    candidates += [c.removeprefix("/usr") if c.startswith("/usr/lib") else "/usr" + c for c in list(candidates)]
    for candidate in candidates:
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.split(":", 1)[0].strip()
    sys.exit(f"assemble: no Debian package owns {path}")


def glibc_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True, check=True)
    return out.stdout.split("-")[0]


def depends(bundle: Path) -> list[str]:
    packages = {owning_package(lib) for lib in system_libraries(bundle)} | set(EXTRA_DEPENDS)
    # Binaries need the glibc they were built against (or newer): build on the oldest target release.
    return sorted(f"{p} (>= {glibc_version()})" if p == "libc6" else p for p in packages)


def copy_tree(bundle: Path, icons: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    target = out / PREFIX
    shutil.copytree(bundle, target, symlinks=True)
    # botocore verifies AWS with this file: make it the system store (updated by ca-certificates, and
    # holding any CA the administrator added) instead of a copy frozen at build time.
    cacert = target / "_internal" / "botocore" / "cacert.pem"
    if cacert.exists():
        cacert.unlink()
        cacert.symlink_to(SYSTEM_CA)
    (out / "usr" / "bin").mkdir(parents=True)
    (out / "usr" / "bin" / app_info.COMMAND).symlink_to(Path("/") / PREFIX / app_info.COMMAND)
    share = out / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "kvs-studio.desktop", share / "applications")
    scalable = share / "icons" / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "kvs-studio.svg", scalable)
    shutil.copytree(icons / "hicolor", share / "icons" / "hicolor", dirs_exist_ok=True)
    doc = share / "doc" / app_info.COMMAND
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(licenses.debian_copyright(target), encoding="utf-8")
    for path in out.rglob("*"):  # dpkg keeps modes: no group/world write, directories 755
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)


def installed_size_kib(out: Path) -> int:
    return sum((p.lstat().st_size + 1023) // 1024 for p in out.rglob("*") if p.is_file() or p.is_symlink())


def write_control(out: Path, version: str, arch: str, deps: list[str]) -> None:
    debian = out / "DEBIAN"
    debian.mkdir()
    sums = []
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.is_symlink() and debian not in path.parents:
            sums.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {path.relative_to(out)}\n")
    (debian / "md5sums").write_text("".join(sums), encoding="utf-8")
    (debian / "control").write_text(
        f"Package: {app_info.COMMAND}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {app_info.PUBLISHER} <kvs-studio@users.noreply.github.com>\n"
        f"Installed-Size: {installed_size_kib(out)}\n"
        f"Depends: {', '.join(deps)}\n"
        "Suggests: gnome-keyring | kwalletmanager\n"
        "Section: video\n"
        "Priority: optional\n"
        f"Description: {app_info.SUMMARY}\n"
        " KVS Studio sends a webcam, a video file or a test pattern to Amazon Kinesis Video\n"
        " Streams with the PutMedia API and shows each fragment's acknowledgements. It\n"
        " includes a local KVS-compatible endpoint, so it works offline with no AWS account.\n"
        " .\n"
        " The application is frozen with its own Python, Qt, FFmpeg and OpenCV under\n"
        " /opt/kvs-studio; run `kvs-studio self-test` to check it on this machine.\n",
        encoding="utf-8")
    for path in debian.iterdir():
        path.chmod(0o644)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--icons", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--arch", required=True)
    args = p.parse_args()
    deps = depends(args.bundle)
    copy_tree(args.bundle, args.icons, args.out)
    write_control(args.out, args.version, args.arch, deps)
    print(f"assemble: Depends: {', '.join(deps)}")


if __name__ == "__main__":
    main()

"""keyring finds its backends through the ``keyring.backends`` entry points, which PyInstaller cannot see:
collect every module those entry points name, and keyring's metadata so ``entry_points()`` still lists them
in the frozen app (without it, keyring silently falls back to ``keyring.backends.fail``)."""

from PyInstaller.utils.hooks import collect_entry_point, copy_metadata

datas, hiddenimports = collect_entry_point("keyring.backends")
datas += copy_metadata("keyring")

"""Where Redis appends the writes it persists, for tests of what is (not) written there."""

from __future__ import annotations

from pathlib import Path


def append_only_file(client) -> Path:
    """The file Redis appends writes to now (the manifest's last incremental file)."""
    folder = Path(client.config_get("dir")["dir"]) / client.config_get("appenddirname")["appenddirname"]
    manifest = (folder / f"{client.config_get('appendfilename')['appendfilename']}.manifest").read_text()
    incremental = [line.split()[1] for line in manifest.splitlines() if line.split()[-1] == "i"]
    return folder / incremental[-1]

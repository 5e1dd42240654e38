"""A generation's manifest read and checked before any of its files is: its schema version, settings and stories
settings, and every file it lists (``local.open_generation``, and the one-shot path ``direct``)."""

from __future__ import annotations

from pathlib import Path

from . import schema, store, stories
from .errors import IndexCorrupt, IndexIncompatible
from .settings import Settings
from .version import installed_version

__all__ = ["checked_manifest"]


def checked_manifest(
    path: Path, lease: store.ReaderLease, *, verify: bool, settings: Settings | None,
) -> tuple[dict, Settings]:
    """The manifest of the generation ``lease`` holds in the index at ``path``, and the settings it was built with,
    once its files have been checked against it (with ``verify``, every file's CRC-32; see ``store.verify_files``).

    Raises:
        IndexIncompatible: it was built with another schema version, or other stories settings.
        IndexCorrupt: the manifest, its settings or a file is damaged.
        ValueError: ``settings`` differ from the index's in one that shapes passages.
    """
    manifest = store.read_manifest(path, lease.generation, lease.manifest_crc)
    version = manifest.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise IndexIncompatible(
            f"index at {path} has schema version {version} (built by searchkit "
            f"{manifest.get('searchkit_version')}); this searchkit {installed_version()} reads version "
            f"{schema.SCHEMA_VERSION}: rebuild it with searchkit index --rebuild"
        )
    stories.check_settings(manifest, path)
    try:
        built = Settings.from_dict(manifest.get("settings", {}))
    except ValueError as e:
        raise IndexCorrupt(f"index at {path} has unreadable settings ({e}); {store.rebuild_hint(path)}") from None
    if settings is not None:
        differ = [name for name in Settings.BUILD_FIELDS if getattr(settings, name) != getattr(built, name)]
        if differ:
            raise ValueError(f"settings {', '.join(differ)} shape passages: they must be the index's own ({built})")
    problems = store.verify_files(lease.directory, manifest.get("segment_files", {}), checksums=verify)
    if problems:
        raise IndexCorrupt(f"index at {path} is damaged: {'; '.join(problems)}; {store.rebuild_hint(path)}")
    return manifest, built

"""Installs the import blocker at start-up when this directory is on PYTHONPATH (see import_blocker)."""

import import_blocker

import_blocker.install_from_env()

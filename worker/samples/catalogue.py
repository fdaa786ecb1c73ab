"""Regenerate CATALOGUE.md from the default registry: ``python -m worker.samples.catalogue``."""

from __future__ import annotations

from pathlib import Path

from .registry import catalogue_markdown, default_registry

CATALOGUE_PATH = Path(__file__).with_name("CATALOGUE.md")


def write_catalogue(path: Path = CATALOGUE_PATH) -> None:
    path.write_text(catalogue_markdown(default_registry()))


if __name__ == "__main__":
    write_catalogue()

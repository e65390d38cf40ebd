"""Package discovery: every package under `jaxshop/` and `baselines/` (installed under the
import name `jaxshop_baselines`), found rather than listed, so a new subpackage cannot be
left out of a wheel. Metadata, dependencies and package data live in pyproject.toml."""

from setuptools import find_packages, setup

SOURCES = {"jaxshop": "jaxshop", "jaxshop_baselines": "baselines"}  # import name -> folder


def _packages(name: str, folder: str) -> list[str]:
    return [name, *(f"{name}.{sub}" for sub in find_packages(folder))]


setup(
    package_dir=SOURCES,
    packages=[p for name, folder in SOURCES.items() for p in _packages(name, folder)],
)

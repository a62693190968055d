"""pyproject.toml's runtime dependencies are exactly what the shipped code imports."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Needed though never imported by name: the driver every database URL names, and the library
# geoalchemy2.shape (geo/points.py) imports.
UNIMPORTED_RUNTIME = {"psycopg2-binary", "shapely"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def shipped_sources() -> list[Path]:
    """The packages and modules pyproject.toml ships, plus the gunicorn config `make run` uses."""
    setuptools = project()["tool"]["setuptools"]
    packages = [pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]]
    files = [ROOT / f"{module}.py" for module in setuptools["py-modules"]] + [
        ROOT / "gunicorn.conf.py"
    ]
    return files + [path for package in packages for path in (ROOT / package).rglob("*.py")]


def imported_distributions() -> set[str]:
    own = {path.relative_to(ROOT).parts[0].removesuffix(".py") for path in shipped_sources()}
    modules = set()
    for path in shipped_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - own
    distributions = packages_distributions()
    unknown = {module for module in third_party if module not in distributions}
    assert not unknown, f"imported but installed by no distribution: {unknown}"
    return {canonical(dist) for module in third_party for dist in distributions[module]}


def test_runtime_dependencies_are_exactly_what_the_shipped_code_imports():
    declared = {
        canonical(re.split(r"[<>=!~\[ ;]", requirement)[0])
        for requirement in project()["project"]["dependencies"]
    }
    assert declared == imported_distributions() | UNIMPORTED_RUNTIME

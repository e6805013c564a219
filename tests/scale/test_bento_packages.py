"""The bento's pinned packages cover every package its code imports.

`bentoml containerize` installs in the image only the bento's packages and what they depend
on; the replicas tested in test_dask_training_and_bento.py run in this environment, which has
everything, so a package missing from the list shows only in an image. Checked here from the
installed packages' own metadata: every third-party module the bento's sources import (and
`python_multipart`, which Starlette imports when the console reads a form) comes from a
distribution among the pinned packages or their dependencies.
"""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from training.commands.scale import BENTO_SOURCES, bento_packages

ROOT = Path(__file__).resolve().parents[2]
OWN_PACKAGES = {"features", "models", "serving", "training", "data_samples"}
# imported by a dependency only when a feature riskloop uses runs (Starlette's form parser)
RUN_TIME_IMPORTS = {"python_multipart"}


def _key(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _closure(requirements: list[str]) -> set[str]:
    """The distributions `requirements` install: themselves and their dependencies, with the
    extras asked for, on this platform."""
    environment = default_environment()
    seen: set[tuple[str, frozenset[str]]] = set()
    stack = [Requirement(r) for r in requirements]
    while stack:
        requirement = stack.pop()
        extras = frozenset(requirement.extras)
        if (_key(requirement.name), extras) in seen:
            continue
        seen.add((_key(requirement.name), extras))
        for text in metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(
                marker.evaluate({**environment, "extra": extra}) for extra in (extras or {""})
            ):
                stack.append(dependency)
    return {name for name, _ in seen}


def _imported_modules(files: list[Path]) -> set[str]:
    """Top-level names of the third-party modules `files` import."""
    modules: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - OWN_PACKAGES


def test_the_bento_installs_every_package_its_code_imports() -> None:
    files = sorted(
        {p for pattern in BENTO_SOURCES if pattern.endswith(".py") for p in ROOT.glob(pattern)}
    )
    assert len(files) > 50, files  # the globs reach the sources
    installed = _closure(bento_packages())
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module, [])
        for module in sorted(_imported_modules(files) | RUN_TIME_IMPORTS)
        if not any(_key(dist) in installed for dist in providers.get(module, []))
    }
    assert not missing, (
        f"imported by the bento's code, installed by none of its packages: {missing}"
    )
    # psycopg's binary extra brings its own libpq
    assert "psycopg-binary" in installed

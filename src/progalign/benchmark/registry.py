"""Finding examinees and challenges: built-ins, entry points and ``module:Class`` paths.

Registration is in memory (a decorator), discovery is lazy: the entry-point group
``progalign.plugins`` is loaded the first time a name is not found among the built-ins, and a
``package.module:Class`` path is imported directly.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from progalign.benchmark.protocol import Challenge, Examinee
from progalign.errors import ProgalignError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "progalign.plugins"
_ALGORITHMS: dict[str, type[Examinee]] = {}
_CHALLENGES: dict[str, type[Challenge]] = {}
_loaded = {"builtins": False, "plugins": False}

E = TypeVar("E", bound=type[Examinee])
C = TypeVar("C", bound=type[Challenge])


def algorithm(name: str) -> Callable[[E], E]:
    """Class decorator registering an ``Examinee`` under ``name``."""

    def register(cls: E) -> E:
        if not (isinstance(cls, type) and issubclass(cls, Examinee)):
            raise TypeError(f"@algorithm({name!r}) needs an Examinee subclass, got {cls!r}")
        cls.name = name
        _ALGORITHMS[name] = cls
        return cls

    return register


def challenge(name: str) -> Callable[[C], C]:
    """Class decorator registering a ``Challenge`` under ``name``."""

    def register(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, Challenge)):
            raise TypeError(f"@challenge({name!r}) needs a Challenge subclass, got {cls!r}")
        cls.name = name
        _CHALLENGES[name] = cls
        return cls

    return register


def _load_builtins() -> None:
    if not _loaded["builtins"]:
        _loaded["builtins"] = True
        importlib.import_module("progalign.benchmark.algorithms")
        importlib.import_module("progalign.benchmark.challenges")


def load_plugins() -> list[str]:
    """Import every ``progalign.plugins`` entry point once; return their names."""
    names = []
    if not _loaded["plugins"]:
        _loaded["plugins"] = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # a broken plug-in must not break the built-ins
                log.warning("plug-in %s (%s) failed to load: %s", ep.name, ep.value, exc)
                continue
            names.append(ep.name)
    return names


def _from_path(path: str, base: type[Any]) -> type[Any]:
    module_name, _, attr = path.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ProgalignError(f"cannot import {path!r}: {exc}") from None
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise ProgalignError(f"{path!r} is not a {base.__name__} subclass")
    return obj


def _lookup(name: str, table: dict[str, Any], base: type[Any], kind: str) -> type[Any]:
    _load_builtins()
    if ":" in name:
        return _from_path(name, base)
    if name not in table:
        load_plugins()
    if name not in table:
        raise ProgalignError(
            f"unknown {kind} {name!r}; available: {', '.join(sorted(table))} "
            "(or give a module:Class path)"
        )
    return table[name]


def get_algorithm(name: str) -> type[Examinee]:
    """The examinee class registered as ``name``, from an entry point, or at ``module:Class``."""
    cls: type[Examinee] = _lookup(name, _ALGORITHMS, Examinee, "algorithm")
    return cls


def get_challenge(name: str) -> type[Challenge]:
    """The challenge class registered as ``name``, from an entry point, or at ``module:Class``."""
    cls: type[Challenge] = _lookup(name, _CHALLENGES, Challenge, "challenge")
    return cls


def available() -> dict[str, dict[str, str]]:
    """Every registered algorithm and challenge (built-ins and plug-ins): name -> class path."""
    _load_builtins()
    load_plugins()

    def path(cls: type[Any]) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    return {
        "algorithms": {n: path(c) for n, c in sorted(_ALGORITHMS.items())},
        "challenges": {n: path(c) for n, c in sorted(_CHALLENGES.items())},
    }

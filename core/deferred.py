"""Imports a library makes for features this project never uses, put off until first used.

`deferred("scipy.stats")` around an import stands a placeholder in for each named module that
is not imported yet: whatever the block imports gets the placeholder, and the module itself is
imported the first time one of its names is looked up. Once the block ends, the placeholders
left unused are withdrawn, so a later import gets the real module at once.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()


class _Deferred(types.ModuleType):
    """Stands in for a module: the first name looked up in it imports the module itself."""

    def __getattr__(self, name: str) -> object:
        with _LOCK:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


@contextmanager
def deferred(*names: str) -> Iterator[None]:
    """Imports inside the block get a placeholder for each of `names` not imported yet."""
    placeholders = {name: _Deferred(name) for name in names if name not in sys.modules}
    with _LOCK:
        sys.modules.update(placeholders)
    try:
        yield
    finally:
        with _LOCK:
            for name, placeholder in placeholders.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]

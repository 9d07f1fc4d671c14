"""The built-in curation stages, one module each; importing this package registers all of them
(every module here is imported, so a new stage file needs no edit elsewhere)."""

from __future__ import annotations

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

"""Keras names numbacnn does not have: an AttributeError that says so and names the nearest it has.

Each public module ends with ``__getattr__ = missing_name(__name__, globals)``, so that
``numbacnn.layers.Conv2DTransposed`` raises "numbacnn.layers has no Conv2DTransposed; the nearest it has:
Conv2DTranspose" instead of a bare AttributeError.
"""

import difflib
from types import ModuleType


def missing_name(module_name, namespace):
    """A module ``__getattr__`` for ``module_name`` whose names are ``namespace()``'s public ones."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        names = namespace()
        public = sorted(names.get("__all__") or [k for k, v in names.items()
                                                 if not k.startswith("_") and not isinstance(v, ModuleType)])
        close = difflib.get_close_matches(name, public, n=3, cutoff=0.6)
        if not close:
            lowered = {k.lower(): k for k in public}
            close = [lowered[k] for k in difflib.get_close_matches(name.lower(), list(lowered), n=3)]
        hint = f"; the nearest it has: {', '.join(close)}" if close else f"; it has: {', '.join(public)}"
        raise AttributeError(f"{module_name} has no {name!r} (numbacnn implements a subset of Keras 3, see "
                             f"the README's 'What is there'){hint}")

    return __getattr__

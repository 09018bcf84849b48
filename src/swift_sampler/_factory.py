"""Import and call a user's ``package.module:function`` named in the config.

Every failure is a :class:`~swift_sampler.errors.ConfigError` whose message starts with the
config key (``data.factory``, ``model.kwargs``...) and says what to change: a module that does
not import, a missing attribute (with a did-you-mean), something that is not callable, keyword
arguments the function does not take, an exception raised inside it (chained, so ``--debug``
shows the user's own traceback), or a ``sys.exit`` on import or in the call (a script's
``argparse`` parser would otherwise end swift-sampler in the user's name). This module
imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import io
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from swift_sampler._frozen import thaw
from swift_sampler.errors import ConfigError

__all__ = ["bind_factory", "import_factory"]


def import_factory(spec: str, *, key: str) -> Callable[..., Any]:
    """The callable that ``spec`` (``package.module:function``, the config's ``key``) names.

    The module is imported with the current ``sys.path`` (the command line puts the current
    directory on it, as ``python -m`` does).

    Raises:
        ConfigError: the module does not import, has no such attribute, or it is not callable.
    """
    module_name, _, attribute = spec.partition(":")
    printed = io.StringIO()  # what the module writes to stderr while it imports
    try:
        with contextlib.redirect_stderr(printed):
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        sys.stderr.write(printed.getvalue())
        missing = err.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            raise ConfigError(
                f"{key}: cannot import {module_name!r}: no module named {missing!r} in the "
                f"current directory ({os.getcwd()}) or on PYTHONPATH; put "
                f"{module_name.replace('.', '/')}.py there or fix the name in {spec!r}"
            ) from None
        raise ConfigError(
            f"{key}: importing {module_name!r} failed: it needs {missing!r}, which is not "
            f"installed ({err}); install it or fix the module"
        ) from err
    except SystemExit as err:  # a script's sys.exit() or argparse, run on import
        said = printed.getvalue().strip().splitlines()
        raise ConfigError(
            f"{key}: importing {module_name!r} exited ({_exit_text(err)}"
            + (f", after printing {said[-1].strip()!r}" if said else "")
            + "): the module runs a script when imported; put that code under "
            '`if __name__ == "__main__":`'
        ) from err
    except Exception as err:  # a SyntaxError, or any error the module raises when imported
        sys.stderr.write(printed.getvalue())
        raise ConfigError(
            f"{key}: importing {module_name!r} failed: {type(err).__name__}: {err}; fix the "
            "module (--debug shows the traceback)"
        ) from err
    sys.stderr.write(printed.getvalue())  # a module's own warnings, once it imported
    target: Any = module
    where = module_name
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
            hint = f"; did you mean {where}:{close[0]}?" if close else ""
            source = getattr(module, "__file__", None) or module_name
            raise ConfigError(
                f"{key}: {where!r} has no attribute {part!r} (in {source}){hint}"
            ) from None
        target = getattr(target, part)
        where = f"{where}.{part}" if where != module_name else part
    if not callable(target):
        raise ConfigError(
            f"{key}: {spec!r} is a {type(target).__name__}, not a function; name a function "
            "(or a class) to call"
        )
    return target


def bind_factory(
    function: Callable[..., Any],
    spec: str,
    kwargs: Mapping[str, Any],
    *,
    key: str,
    kwargs_key: str,
    offered: Mapping[str, Any] | None = None,
) -> Callable[[], Any]:
    """``function`` with its config keyword arguments bound, as a call without arguments.

    Args:
        function: from :func:`import_factory`.
        spec: its ``package.module:function``, for messages.
        kwargs: the config's keyword arguments (``[data.kwargs]``).
        key: the config key of the factory, for messages.
        kwargs_key: the config key of ``kwargs``, for messages.
        offered: more keyword arguments, passed only when ``function`` has a parameter of that
            name and ``kwargs`` does not set it (``num_classes``, ``input_shape``).

    Returns:
        A call that runs ``function(**kwargs)``; an exception inside it becomes a
        ``ConfigError`` naming ``key``, chained to the original.

    Raises:
        ConfigError: ``function`` cannot take these keyword arguments.
    """
    extra: dict[str, Any] = {}  # what ``offered`` adds, passed as it is
    try:
        signature: inspect.Signature | None = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have no signature: just call them
        signature = None
    if signature is not None:
        named = {
            name
            for name, p in signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        for name, value in (offered or {}).items():
            if name in named and name not in kwargs:
                extra[name] = value
        try:
            signature.bind(**kwargs, **extra)
        except TypeError as err:
            given = ", ".join(sorted(kwargs)) or "none"
            hints = [
                f"{close[0]!r} for {word!r}"
                for word in kwargs
                if word not in named
                and (close := difflib.get_close_matches(word, sorted(named), n=1, cutoff=0.6))
            ]
            raise ConfigError(
                f"{kwargs_key}: {spec} cannot be called with these keyword arguments "
                f"({given}): {err}; it takes {signature}"
                + (f"; did you mean {', '.join(hints)}?" if hints else "")
            ) from None

    def call() -> Any:
        try:
            # Each call its own plain copy: neither the config's table nor the next call sees
            # what a function does to its arguments (a model factory is called per training).
            return function(**thaw(kwargs), **extra)
        except SystemExit as err:  # sys.exit() or an argparse parser inside the function
            raise ConfigError(
                f"{key}: {spec} exited ({_exit_text(err)}) instead of returning; a factory "
                f"must return its result, not call sys.exit or parse the command line"
            ) from err
        except Exception as err:
            raise ConfigError(
                f"{key}: {spec} raised {type(err).__name__}: {err}; fix the function or "
                f"[{kwargs_key}] (--debug shows the traceback)"
            ) from err

    return call


def _exit_text(err: SystemExit) -> str:
    """``sys.exit(code)`` in words, for messages."""
    return f"sys.exit({err.code!r})"

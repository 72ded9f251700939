"""A tiny name -> factory registry in the timm style: ``register``, ``create``, ``names``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

UNKNOWN_NAME = "unknown {kind} {name!r}; valid names: {valid}"


class UnknownNameError(KeyError):
    """A name that is not one of the valid ones (a registry entry, a data set, a target ...).

    Bad input, unlike a ``KeyError`` from a bug; the message lists the valid names.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Maps names to factories; an unknown name raises ``UnknownNameError`` listing valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name`` (names are unique)."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``."""
        try:
            return self._factories[name]
        except KeyError:
            valid = ", ".join(sorted(self._factories)) or "(none)"
            message = UNKNOWN_NAME.format(kind=self.kind, name=name, valid=valid)
            raise UnknownNameError(message) from None

    def create(self, name: str, /, **kwargs) -> T:
        """Call the factory registered under ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

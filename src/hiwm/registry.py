"""The one registry mechanism: a config dataclass is registered by name next to the thing it builds.

    TASKS = Registry("task")

    @TASKS.register("pusht")
    class PushTTask: ...

    TASKS.get("pusht")  -> PushTTask; unknown names raise a one-line HiwmError listing the known ones.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from hiwm.errors import HiwmError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise HiwmError(f"unknown {self.kind} {name!r} (known: {known})")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

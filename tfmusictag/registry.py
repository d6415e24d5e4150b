"""A small name → builder registry, so configs choose components by name, never by if-chains."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, Dict, Type, TypeVar

from tfmusictag.errors import ParameterError

T = TypeVar("T")


class Registry:
    """Maps names to what they choose for one kind of component: builders (registered with
    :meth:`register`) or values (configs, modules: :meth:`add`). It reads as a mapping (``name in``,
    ``[name]``, iteration over the names in the order they were registered, :meth:`items`), and a
    name that is not there is one :class:`~tfmusictag.errors.ParameterError` line that lists the
    ones that are.

    >>> REDUCTIONS = Registry("reduction")
    >>> @REDUCTIONS.register("mfcc")
    ... def build_mfcc(config): ...
    >>> REDUCTIONS.get("mfcc") is build_mfcc
    True
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, Any] = {}

    def register(self, name: str):
        """A decorator that registers what it decorates under ``name``."""
        def decorator(fn):
            self.add(name, fn)
            return fn

        return decorator

    def add(self, name: str, value: Any) -> None:
        """Register ``value`` under ``name`` (a name is registered once)."""
        if name in self._entries:
            raise ParameterError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = value

    def get(self, name: str) -> Callable:
        try:
            return self._entries[name]
        except KeyError:
            raise ParameterError(f"{self.kind}={name!r} is not registered; choose one of {sorted(self._entries)}") from None

    def names(self):
        return sorted(self._entries)

    def items(self):
        """``(name, entry)`` pairs, in the order they were registered."""
        return list(self._entries.items())

    def values(self):
        return list(self._entries.values())

    def __getitem__(self, name: str):
        return self.get(name)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def config_from_dict(cls: Type[T], data: Dict[str, Any], where: str = "") -> T:
    """Build a (nested) dataclass from a dict, rejecting unknown keys with a clear message.

    Lists become tuples (configs are immutable and hashable); nested dataclass fields recurse.
    """
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ParameterError(f"{where or cls.__name__} must be a mapping; received {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParameterError(f"unknown field(s) {unknown} in {where or cls.__name__}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        default = fields[name].default_factory() if fields[name].default_factory is not dataclasses.MISSING else (
            fields[name].default)
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = config_from_dict(type(default), value, f"{where}.{name}" if where else name)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[name] = value
    return cls(**kwargs)


def config_to_dict(config) -> Dict[str, Any]:
    """The JSON-friendly dict of a (nested) dataclass config."""
    def convert(v):
        if isinstance(v, tuple):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    return {k: convert(v) for k, v in dataclasses.asdict(config).items()}


def flatten(config: Any, prefix: str = "") -> Dict[str, Any]:
    """``{dotted path: value}`` of every leaf of a (nested) dataclass config or of its dict.

    This is the package's one walker of configurations: ``--config`` files, resumed runs, the
    experiments' settings and run comparisons all read configs through it and :func:`get_path`.
    A dataclass's ``model_overrides`` (already dotted paths into the model) becomes ``model.<path>``.
    """
    items = ({f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
             if dataclasses.is_dataclass(config) else config)
    out = {}
    for key, value in items.items():
        if not prefix and key == "model_overrides" and isinstance(value, dict):
            out.update({f"model.{k}": v for k, v in value.items()})
        elif dataclasses.is_dataclass(value) or (isinstance(value, dict) and value):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def get_path(config: Any, path: str, what: str = "config field") -> Any:
    """The value at a dotted ``path`` of a (nested) dataclass config (``'temporal.lstm.units'``).

    Raises:
        ParameterError: no such field.
    """
    value = config
    for part in path.split("."):
        if not dataclasses.is_dataclass(value) or part not in {f.name for f in dataclasses.fields(value)}:
            raise ParameterError(f"unknown {what} {path!r}")
        value = getattr(value, part)
    return value


def override(config: T, path: str, value: Any, _whole: str = "") -> T:
    """Return ``config`` with the dotted field ``path`` (e.g. ``'temporal.lstm.units'``) replaced."""
    _whole = _whole or path
    head, _, rest = path.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ParameterError(f"unknown config field {head!r} in {_whole!r}; allowed: {sorted(names)}")
    if rest:
        value = override(getattr(config, head), rest, value, _whole)
    elif isinstance(value, list):
        value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    else:
        _check_kind(_whole, getattr(config, head), value)
    return dataclasses.replace(config, **{head: value})


def _check_kind(path: str, current: Any, value: Any) -> None:
    """A one-line ParameterError when ``value`` cannot stand for a field now holding ``current``
    (a bool, an integer, a number or a string; ``None`` and other values are not checked)."""
    kinds = [(bool, (bool,), "true or false"), (int, (numbers.Integral,), "an integer"),
             (float, (numbers.Real,), "a number"), (str, (str,), "a string")]
    for kind, allowed, words in kinds:
        if isinstance(current, kind):
            if value is not None and (not isinstance(value, allowed) or (kind is not bool and isinstance(value, bool))):
                raise ParameterError(f"{path}={value!r} must be {words}")
            return

"""The registry and the one walker of configurations (:mod:`tfmusictag.registry`)."""

import dataclasses
from typing import Optional, Tuple

import pytest

from tfmusictag.errors import ParameterError
from tfmusictag.registry import Registry, config_from_dict, config_to_dict, flatten, get_path, override


@dataclasses.dataclass(frozen=True)
class Inner:
    units: int = 8
    rate: float = 0.5
    name: str = "lstm"
    bidirectional: bool = False
    sizes: Tuple[int, ...] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner = dataclasses.field(default_factory=Inner)
    steps: int = 10
    note: Optional[str] = None
    model_overrides: dict = dataclasses.field(default_factory=dict)


def test_a_registry_resolves_its_names_and_refuses_others_in_one_line():
    kinds = Registry("reduction")

    @kinds.register("mfcc")
    def build_mfcc():
        return "mfcc"

    kinds.add("pca", "a value")
    assert kinds.get("mfcc") is build_mfcc and kinds["pca"] == "a value"
    assert kinds.names() == ["mfcc", "pca"] and list(kinds) == ["mfcc", "pca"] and len(kinds) == 2
    assert "mfcc" in kinds and "cnn" not in kinds and 3 not in kinds
    assert dict(kinds.items()) == {"mfcc": build_mfcc, "pca": "a value"} and list(kinds.values())[1] == "a value"
    with pytest.raises(ParameterError, match=r"^reduction='cnn' is not registered; choose one of \['mfcc', 'pca'\]$"):
        kinds.get("cnn")
    with pytest.raises(ParameterError, match="reduction 'mfcc' is already registered"):
        kinds.register("mfcc")(lambda: None)
    with pytest.raises(ParameterError, match="already registered"):
        kinds.add("pca", "another")


def test_every_registry_of_the_package_is_one():
    """Front ends, pretrained sources, searches, variants, stages and presets are all chosen by name
    through a :class:`Registry`, with the same one-line error for a name that is not there."""
    from tfmusictag.frontend import FRONT_ENDS, get_front_end
    from tfmusictag.pretrained import SOURCES
    from tfmusictag.reduction.config import REDUCTIONS
    from tfmusictag.reproduction import PRESETS
    from tfmusictag.temporal import TEMPORALS
    from tfmusictag.tuning.hypermodels import SEARCHES
    from tfmusictag.variants import VARIANTS

    for registry in (FRONT_ENDS, SOURCES, REDUCTIONS, PRESETS, TEMPORALS, SEARCHES, VARIANTS):
        assert isinstance(registry, Registry) and len(registry) > 1
        with pytest.raises(ParameterError, match=f"^{registry.kind}='nope' is not registered; choose one of"):
            registry.get("nope")
    with pytest.raises(ParameterError, match="^front_end='nope' is not registered"):
        get_front_end("nope")
    assert get_front_end("musicnn").sample_rate == 16000


def test_a_config_goes_to_a_dict_and_back_unchanged():
    config = Outer(Inner(units=3, sizes=(4, 5)), steps=7, note="x")
    data = config_to_dict(config)
    assert data["inner"]["sizes"] == [4, 5]  # JSON-friendly
    assert config_from_dict(Outer, data) == config  # lists back to tuples: configs stay hashable
    hash(config_from_dict(Outer, data).inner)
    assert config_from_dict(Outer, {"inner": {"units": 2}}).inner == Inner(units=2)


def test_unknown_fields_are_refused_with_their_path_and_the_allowed_ones():
    with pytest.raises(ParameterError, match=r"unknown field\(s\) \['unit'\] in inner; allowed: \['bidirectional', "):
        config_from_dict(Outer, {"inner": {"unit": 3}})
    with pytest.raises(ParameterError, match="Outer must be a mapping; received 3"):
        config_from_dict(Outer, 3)
    with pytest.raises(ParameterError, match=r"unknown config field 'unit' in 'inner.unit'; allowed:"):
        override(Outer(), "inner.unit", 3)
    with pytest.raises(ParameterError, match="unknown config field 'inner.units.x'"):
        get_path(Outer(), "inner.units.x")


def test_flatten_get_path_and_override_walk_the_same_paths():
    config = Outer(model_overrides={"temporal.lstm.units": 4})
    flat = flatten(config)
    assert flat == {"inner.units": 8, "inner.rate": 0.5, "inner.name": "lstm", "inner.bidirectional": False,
                    "inner.sizes": (1, 2), "steps": 10, "note": None, "model.temporal.lstm.units": 4}
    for path, value in flat.items():
        if not path.startswith("model."):
            assert get_path(config, path) == value
    changed = override(override(config, "inner.units", 3), "inner.sizes", [7, 8])
    assert changed.inner.units == 3 and changed.inner.sizes == (7, 8) and config.inner.units == 8
    assert flatten(config_to_dict(changed))["inner.sizes"] == [7, 8]  # a config's dict flattens alike


@pytest.mark.parametrize("path,value,words", [
    ("steps", "ten", "an integer"), ("steps", 2.5, "an integer"), ("steps", True, "an integer"),
    ("inner.rate", "fast", "a number"), ("inner.bidirectional", 1, "true or false"), ("inner.name", 3, "a string")])
def test_override_refuses_a_value_of_the_wrong_kind_in_one_line(path, value, words):
    with pytest.raises(ParameterError, match=f"^{path}={value!r} must be {words}$".replace(".", r"\.")):
        override(Outer(), path, value)


def test_override_takes_an_integer_for_a_number_and_none_where_a_field_is_optional():
    assert override(Outer(), "inner.rate", 1).inner.rate == 1
    assert override(Outer(), "note", "text").note == "text" and override(Outer(note="a"), "note", None).note is None

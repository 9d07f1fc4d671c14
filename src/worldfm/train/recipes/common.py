"""Reading YAML recipes strictly: every unknown key, wrong type or bad value is a `ConfigError` that
names the key by its dotted path (e.g. `train.lr`) and says what was expected.

Also the parts every training recipe's parsed form shares: the top-level section check
(`check_sections`), the export dtype check (`check_export_dtype`) and the `to_dict` / `with_train`
methods of the recipe dataclasses (`RecipeMethods`)."""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import yaml

from worldfm.errors import ConfigError

if TYPE_CHECKING:
    from worldfm.train.trainer import TrainerConfig

T = TypeVar("T")
R = TypeVar("R", bound="RecipeMethods")
EXPORT_DTYPES = ("bfloat16", "float16", "float32")


BASE_KEY = "base"


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level mapping of a YAML recipe file (ConfigError if missing, unparsable or not a mapping).

    A recipe may name another as its base (`base: cv4x8x8-nano-stage11.yaml`, a path relative to its own
    folder): the result is the base's mapping, itself resolved the same way, with this file's keys laid
    over it (`merge_over`), so a stage's recipe holds only what changed. Loops are refused."""
    return _load_yaml(Path(path), ())


def _load_yaml(p: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """`load_yaml` of `p`, reached through the files of `chain` (each naming the next as its base)."""
    if not p.is_file():
        raise ConfigError(f"{p}: recipe file does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a recipe must be a YAML mapping of sections, got {type(data).__name__}")
    if BASE_KEY not in data:
        return data
    base = data.pop(BASE_KEY)
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{p}: {BASE_KEY} must be the path of another recipe file, got {base!r}")
    base_path = p.parent / base
    chain = (*chain, p)
    if base_path.resolve() in {c.resolve() for c in chain}:
        loop = " -> ".join(str(c) for c in (*chain, base_path))
        raise ConfigError(f"{p}: recipe bases form a loop: {loop}")
    if not base_path.is_file():
        raise ConfigError(f"{p}: its base {base_path} does not exist")
    return merge_over(_load_yaml(base_path, chain), data)


def merge_over(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override`'s keys laid over it: where both hold a mapping the two are merged the same
    way at any depth; any other value of `override` (a list, a number, null) replaces the base's whole.
    Neither input is changed."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_over(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_recipe(path: str | os.PathLike[str], parse: Callable[..., T]) -> T:
    """Read a recipe YAML file and check it with `parse(data, source=path)`; errors name the file."""
    try:
        return parse(load_yaml(path), source=str(path))
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def section(data: Mapping[str, Any], key: str, where: str = "", required: bool = True) -> dict[str, Any]:
    """`data[key]` as a dict (missing and optional: {})."""
    path = f"{where}.{key}" if where else key
    if key not in data or data[key] is None:
        if required:
            raise ConfigError(f"recipe is missing the section {path!r}")
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must be a mapping, got {type(value).__name__}: {value!r}")
    return dict(value)


def check_keys(data: Mapping[str, Any], known: typing.Iterable[str], where: str) -> None:
    """ConfigError naming the first unknown key of `data` (as `where.key`) and listing the known ones."""
    known = list(known)
    for key in data:
        if key not in known:
            path = f"{where}.{key}" if where else str(key)
            raise ConfigError(f"unknown recipe key {path!r}; expected one of: {', '.join(known)}")


def _type_ok(value: Any, hint: Any) -> bool:
    """A loose runtime check of YAML values against simple type hints (int, float, str, bool, tuples,
    lists, Optional); anything else is left to the dataclass's own validation."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_type_ok(v, h) for v, h in zip(value, args, strict=True))
        return all(_type_ok(v, args[0]) for v in value) if args else True
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def hint_name(hint: Any) -> str:
    """A readable name for a type hint: `float`, `int or null`, `list of int`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(hint_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if origin is tuple and len(args) > 1 and Ellipsis not in typing.get_args(hint):
            return f"a list of {len(args)} ({', '.join(hint_name(a) for a in args)})"
        return f"a list of {hint_name(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """Build dataclass `cls` from a recipe section: unknown keys and values of the wrong type raise
    ConfigError naming `where.key`; the dataclass's own checks run after."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}: {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    check_keys(data, fields, where)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not _type_ok(value, hints[key]):
            raise ConfigError(
                f"{where}.{key} must be of type {hint_name(hints[key])}, got {type(value).__name__}: {value!r}"
            )
        kwargs[key] = (
            tuple(value) if isinstance(value, list) and typing.get_origin(hints[key]) is tuple else value
        )
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(f"{where}.") else f"{where}: {msg}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def later_fields() -> dict[str, Any]:
    """Every config field added after runs were first saved -> its "as before" value (the config
    classes' `LATER_FIELDS`; each name belongs to one class). The tokenizer loss's `mse` shares its
    name with the refiner loss's, whose every run has it: dropped from both fingerprints compared,
    it changes no comparison."""
    from worldfm.tokenizers.config import TokenizerConfig
    from worldfm.train.recipes.refiner import RefinerModelSpec
    from worldfm.train.recipes.tokenizer import TokenizerLossSpec
    from worldfm.world.diffusion.config import DiTConfig

    return {
        **TokenizerConfig.LATER_FIELDS,
        **DiTConfig.LATER_FIELDS,
        **TokenizerLossSpec.LATER_FIELDS,
        **RefinerModelSpec.LATER_FIELDS,
    }


def drop_later_defaults(fingerprint: Any) -> Any:
    """A run fingerprint or cache-key description (nested JSON values) without the `later_fields` that
    hold their "as before" value, at any depth: what was saved before or after a field was added
    compares equal."""
    later = later_fields()

    def clean(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if not (k in later and v == later[k])}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return clean(fingerprint)


def to_plain(obj: Any) -> Any:
    """Dataclasses, tuples and paths -> JSON-ready dicts, lists and strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def check_sections(data: Mapping[str, Any], sections: typing.Iterable[str]) -> None:
    """ConfigError unless `data` is a mapping whose keys are all recipe sections."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a recipe must be a mapping, got {type(data).__name__}")
    check_keys(data, sections, "")


def build_sections(
    data: Mapping[str, Any],
    specs: Mapping[str, Callable[..., Any]],
    required: typing.Iterable[str],
) -> dict[str, Any]:
    """Every section of a recipe mapping, built in `specs` order: {name: built section}.

    `specs` maps each section name to a dataclass (built with `build`, errors naming `name.key`) or to
    a function of the section's dict (e.g. `parse_data`). A section of `required` must be present;
    the others may be left out (built from {}). Unknown sections are a ConfigError (`check_sections`)."""
    check_sections(data, specs)
    required = set(required)
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        raw = section(data, name, required=name in required)
        out[name] = (
            build(spec, raw, name) if isinstance(spec, type) and dataclasses.is_dataclass(spec) else spec(raw)
        )
    return out


def check_export_dtype(dtype: str) -> None:
    """ConfigError unless `export.dtype` is one of EXPORT_DTYPES (the weight dtypes a folder may hold)."""
    if dtype not in EXPORT_DTYPES:
        raise ConfigError(f"export.dtype must be bfloat16, float16 or float32, got {dtype!r}")


class RecipeMethods:
    """Methods shared by the recipe dataclasses (frozen dataclasses with a `train: TrainerConfig` field).

    A subclass sets `SECTIONS`, the names of its section fields in file order, `SPECS`, how each is
    built (see `build_sections`), and `REQUIRED`, the sections a file must have."""

    SECTIONS: ClassVar[tuple[str, ...]]
    SPECS: ClassVar[tuple[Callable[..., Any], ...]]
    REQUIRED: ClassVar[tuple[str, ...]]
    train: TrainerConfig  # a field of every subclass (a plain annotation here: not a dataclass field)

    @classmethod
    def from_mapping(cls: type[R], data: Mapping[str, Any], source: str | None = None) -> R:
        """The recipe of a parsed YAML mapping, every section checked (`build_sections`)."""
        specs = dict(zip(cls.SECTIONS, cls.SPECS, strict=True))
        return cls(**build_sections(data, specs, cls.REQUIRED), source=source)  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON-ready nested dicts, one key per section (what training records store)."""
        out = to_plain({k: getattr(self, k) for k in self.SECTIONS})
        out["train"] = self.train.to_dict()
        return out

    def with_train(self: R, **changes: Any) -> R:
        """A copy with some `train` settings changed (e.g. from the command line)."""
        try:
            return dataclasses.replace(self, train=self.train.replace(**changes))  # type: ignore[type-var]
        except TypeError as exc:
            raise ConfigError(f"train: {exc}") from exc

"""Guardrails between two versions of a JSON Schema: protected fields must not get looser.

Each field is a dotted path such as `actor.id`, with `[]` for array items. It is reduced to
the constraints that decide what values it accepts: whether it is defined, whether it is
required at each level, its types, allowed values (enum or const), patterns, formats and
bounds. Local `$ref`s (`#/$defs/...`, `#/definitions/...`, `#anchor`) are resolved; `allOf`
branches all apply, while `anyOf`/`oneOf` accept the union of their branches.

NOTE: `not`, `if`/`then`/`else`, `dependentSchemas` and `patternProperties` are not compared,
so a change made only through them is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from secobs.errors import InputError
from secobs.gates.records import json_type_name

DEFAULT_PROTECTED = ("actor.id", "request.trace_id", "request.request_id")
MAX_DEPTH = 16

# Changes that let through values the old schema rejected. On a protected field they fail.
LOOSENING = frozenset(
    {
        "removed",
        "made_optional",
        "type_loosened",
        "type_removed",
        "enum_widened",
        "enum_removed",
        "pattern_removed",
        # A changed pattern counts as loosened: equivalence of regular expressions is not
        # checked, so a replaced pattern may accept more.
        "pattern_changed",
        "format_removed",
        "format_changed",
        "bound_loosened",
    }
)

_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_ALL_TYPES = None  # a field with no type constraint


@dataclass
class FieldView:
    """The constraints of one schema location that decide which values it accepts."""

    types: frozenset[str] | None = _ALL_TYPES
    enum: frozenset[str] | None = None  # allowed values, each as canonical JSON text
    patterns: frozenset[str] = frozenset()
    formats: frozenset[str] = frozenset()
    bounds: dict[str, float] = field(default_factory=dict)
    properties: dict[str, list[Any]] = field(default_factory=dict)
    items: list[Any] = field(default_factory=list)
    required: frozenset[str] = frozenset()

    def summary(self) -> dict[str, Any]:
        return {
            "types": sorted(self.types) if self.types is not None else None,
            "enum": _values(self.enum) if self.enum is not None else None,
            "patterns": sorted(self.patterns),
            "formats": sorted(self.formats),
            "bounds": dict(sorted(self.bounds.items())),
        }


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """One difference in a field between the old and the new schema."""

    field: str
    kind: str
    old: Any
    new: Any
    protected: bool

    @property
    def loosening(self) -> bool:
        return self.kind in LOOSENING

    @property
    def violation(self) -> bool:
        return self.protected and self.loosening

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "protected": self.protected,
            "loosening": self.loosening,
            "old": self.old,
            "new": self.new,
        }


@dataclass
class SchemaDiff:
    """Every field change between two schemas, and the ones that break a guardrail."""

    old: dict[str, Any]
    new: dict[str, Any]
    protected: list[str]
    changes: list[SchemaChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[SchemaChange]:
        return [change for change in self.changes if change.violation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        """Return the change set; this is also the input document written for OPA."""
        return {
            "ok": self.ok,
            "old": self.old,
            "new": self.new,
            "protected": self.protected,
            "changes": [change.to_json() for change in self.changes],
            "violations": [change.to_json() for change in self.violations],
            "warnings": self.warnings,
        }


def diff_schemas(
    old: dict[str, Any], new: dict[str, Any], protect: list[str] | None = None
) -> SchemaDiff:
    """Compare two schemas field by field; changes that loosen a protected field are violations."""
    protected = list(protect) if protect else list(DEFAULT_PROTECTED)
    old_fields = _fields(_Resolver(old, "old"))
    new_fields = _fields(_Resolver(new, "new"))
    result = SchemaDiff(old=_identity(old), new=_identity(new), protected=protected)
    for name in protected:
        if name not in old_fields:
            result.warnings.append(
                f"protected field {name!r} is not defined in the old schema; check the name"
            )
    for name in sorted(old_fields.keys() | new_fields.keys()):
        is_protected = name in protected
        before, after = old_fields.get(name), new_fields.get(name)
        if after is None:
            result.changes.append(
                SchemaChange(name, "removed", before[1].summary(), None, is_protected)
            )
        elif before is None:
            result.changes.append(
                SchemaChange(name, "added", None, after[1].summary(), is_protected)
            )
        else:
            result.changes.extend(_compare(name, before, after, is_protected))
    return result


def _identity(schema: dict[str, Any]) -> dict[str, Any]:
    return {"id": schema.get("$id"), "version": schema.get("version")}


class _Resolver:
    """Resolve local `$ref`s of one schema document."""

    def __init__(self, root: Any, label: str):
        self.root = root
        self.label = label
        self.anchors: dict[str, Any] = {}
        self._index_anchors(root)

    def _index_anchors(self, node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$anchor"), str):
                self.anchors[node["$anchor"]] = node
            for value in node.values():
                self._index_anchors(value)
        elif isinstance(node, list):
            for value in node:
                self._index_anchors(value)

    def target(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise InputError(
                f"the {self.label} schema has a non-local $ref {ref!r}; "
                "only references within the same document (#...) are resolved"
            )
        fragment = ref[1:]
        if fragment and not fragment.startswith("/"):
            if fragment not in self.anchors:
                raise InputError(f"the {self.label} schema has no $anchor {fragment!r}")
            return self.anchors[fragment]
        node = self.root
        for part in fragment.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise InputError(f"the {self.label} schema has an unresolvable $ref {ref!r}")
        return node

    def view(self, schema: Any, depth: int = 0) -> FieldView:
        """Reduce a schema to a FieldView, following $ref and combining allOf/anyOf/oneOf."""
        if depth > MAX_DEPTH:
            return FieldView()
        if schema is True or schema == {}:
            return FieldView()
        if schema is False:
            return FieldView(types=frozenset())
        if not isinstance(schema, dict):
            return FieldView()
        parts = [_own_view(schema)]
        if isinstance(schema.get("$ref"), str):
            parts.append(self.view(self.target(schema["$ref"]), depth + 1))
        for branch in schema.get("allOf", []) or []:
            parts.append(self.view(branch, depth + 1))
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if branches:
                parts.append(_union([self.view(branch, depth + 1) for branch in branches]))
        return _intersection(parts)

    def children(self, schemas: list[Any], depth: int) -> FieldView:
        return _intersection([self.view(schema, depth) for schema in schemas])


def _own_view(schema: dict[str, Any]) -> FieldView:
    declared = schema.get("type")
    types = None
    if isinstance(declared, str):
        types = frozenset([declared])
    elif isinstance(declared, list):
        types = frozenset(declared)
    enum = None
    if "const" in schema:
        enum = frozenset([_canonical(schema["const"])])
    elif isinstance(schema.get("enum"), list):
        enum = frozenset(_canonical(value) for value in schema["enum"])
    if enum is not None:
        implied = frozenset(json_type_name(orjson.loads(value)) for value in enum)
        types = implied if types is None else frozenset(t for t in implied if _type_in(t, types))
    bounds = {
        name: float(schema[name])
        for name in (*_LOWER_BOUNDS, *_UPPER_BOUNDS)
        if isinstance(schema.get(name), int | float) and not isinstance(schema.get(name), bool)
    }
    properties = {name: [child] for name, child in (schema.get("properties") or {}).items()}
    items = [schema["items"]] if isinstance(schema.get("items"), dict | bool) else []
    return FieldView(
        types=types,
        enum=enum,
        patterns=frozenset([schema["pattern"]])
        if isinstance(schema.get("pattern"), str)
        else frozenset(),
        formats=frozenset([schema["format"]])
        if isinstance(schema.get("format"), str)
        else frozenset(),
        bounds=bounds,
        properties=properties,
        items=items,
        required=frozenset(schema.get("required") or []),
    )


def _intersection(views: list[FieldView]) -> FieldView:
    """Combine views that all apply (a schema's own keywords, $ref and allOf)."""
    result = FieldView()
    for view in views:
        if view.types is not None:
            result.types = view.types if result.types is None else _meet(result.types, view.types)
        if view.enum is not None:
            result.enum = view.enum if result.enum is None else result.enum & view.enum
        result.patterns |= view.patterns
        result.formats |= view.formats
        for name, value in view.bounds.items():
            current = result.bounds.get(name)
            tighter = max if name in _LOWER_BOUNDS else min
            result.bounds[name] = value if current is None else tighter(current, value)
        for name, schemas in view.properties.items():
            result.properties.setdefault(name, []).extend(schemas)
        result.items.extend(view.items)
        result.required |= view.required
    return result


def _union(views: list[FieldView]) -> FieldView:
    """Combine the branches of anyOf/oneOf: a value may satisfy any one of them."""
    result = FieldView()
    if any(view.types is None for view in views):
        result.types = None
    else:
        result.types = frozenset().union(*(view.types for view in views))
    enums = [view.enum if view.enum is not None else _null_enum(view) for view in views]
    result.enum = None if any(e is None for e in enums) else frozenset().union(*enums)
    strings = [view for view in views if view.types is None or "string" in view.types]
    if strings:
        result.patterns = frozenset.intersection(*(view.patterns for view in strings))
        result.formats = frozenset.intersection(*(view.formats for view in strings))
    shared = set.intersection(*(set(view.bounds) for view in views)) if views else set()
    for name in shared:
        looser = min if name in _LOWER_BOUNDS else max
        result.bounds[name] = looser(view.bounds[name] for view in views)
    for view in views:
        for name, schemas in view.properties.items():
            result.properties.setdefault(name, []).extend(schemas)
        result.items.extend(view.items)
    objects = [view for view in views if view.types is None or "object" in view.types]
    if objects:
        result.required = frozenset.intersection(*(view.required for view in objects))
    return result


def _null_enum(view: FieldView) -> frozenset[str] | None:
    """Return {null} for a branch that only allows null, since it allows exactly that value."""
    return frozenset(["null"]) if view.types == frozenset(["null"]) else None


def _fields(resolver: _Resolver) -> dict[str, tuple[tuple[bool, ...], FieldView]]:
    """Map every field path to (required at each level, constraints)."""
    found: dict[str, tuple[tuple[bool, ...], FieldView]] = {}

    def walk(view: FieldView, prefix: str, chain: tuple[bool, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        for name, schemas in view.properties.items():
            child = resolver.children(schemas, depth + 1)
            path = f"{prefix}.{name}" if prefix else name
            child_chain = (*chain, name in view.required)
            found[path] = (child_chain, child)
            walk(child, path, child_chain, depth + 1)
        if view.items and prefix:
            child = resolver.children(view.items, depth + 1)
            path = f"{prefix}[]"
            found[path] = ((*chain, True), child)
            walk(child, path, (*chain, True), depth + 1)

    walk(resolver.view(resolver.root), "", (), 0)
    return found


def _compare(
    name: str,
    before: tuple[tuple[bool, ...], FieldView],
    after: tuple[tuple[bool, ...], FieldView],
    protected: bool,
) -> list[SchemaChange]:
    (old_chain, old), (new_chain, new) = before, after
    changes: list[SchemaChange] = []

    def add(kind: str, old_value: Any, new_value: Any) -> None:
        changes.append(SchemaChange(name, kind, old_value, new_value, protected))

    if any(was and not now for was, now in zip(old_chain, new_chain, strict=False)):
        add("made_optional", list(old_chain), list(new_chain))
    elif any(now and not was for was, now in zip(old_chain, new_chain, strict=False)):
        add("made_required", list(old_chain), list(new_chain))

    old_types = sorted(old.types) if old.types is not None else None
    new_types = sorted(new.types) if new.types is not None else None
    if old.types is not None and new.types is None:
        add("type_removed", old_types, None)
    elif old.types is not None and new.types is not None:
        if not _types_within(new.types, old.types):
            add("type_loosened", old_types, new_types)
        elif new.types != old.types:
            add("type_narrowed", old_types, new_types)
    elif old.types is None and new.types is not None:
        add("type_added", None, new_types)

    if old.enum is not None and new.enum is None:
        add("enum_removed", _values(old.enum), None)
    elif old.enum is not None and new.enum is not None:
        if new.enum - old.enum:
            add("enum_widened", _values(old.enum), _values(new.enum))
        elif old.enum - new.enum:
            add("enum_narrowed", _values(old.enum), _values(new.enum))
    elif old.enum is None and new.enum is not None:
        add("enum_added", None, _values(new.enum))

    for keyword, old_set, new_set in (
        ("pattern", old.patterns, new.patterns),
        ("format", old.formats, new.formats),
    ):
        if old_set - new_set:
            kind = "changed" if new_set - old_set else "removed"
            add(f"{keyword}_{kind}", sorted(old_set), sorted(new_set))
        elif new_set - old_set:
            add(f"{keyword}_added", sorted(old_set), sorted(new_set))

    for bound in sorted(old.bounds.keys() | new.bounds.keys()):
        was, now = old.bounds.get(bound), new.bounds.get(bound)
        if was == now:
            continue
        lower = bound in _LOWER_BOUNDS
        looser = now is None or (was is not None and (now < was if lower else now > was))
        add("bound_loosened" if looser else "bound_tightened", {bound: was}, {bound: now})
    return changes


def _types_within(inner: frozenset[str], outer: frozenset[str]) -> bool:
    return all(_type_in(name, outer) for name in inner)


def _type_in(name: str, types: frozenset[str]) -> bool:
    return name in types or (name == "integer" and "number" in types)


def _meet(left: frozenset[str], right: frozenset[str]) -> frozenset[str]:
    """Types allowed by both; integer survives where the other side allows number."""
    return frozenset(t for t in left if _type_in(t, right)) | frozenset(
        t for t in right if _type_in(t, left)
    )


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _values(enum: frozenset[str]) -> list[Any]:
    return [orjson.loads(value) for value in sorted(enum)]

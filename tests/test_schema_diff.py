"""Tests for `secobs schema diff`: guardrails on protected fields between schema versions."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from secobs.cli import main
from secobs.errors import InputError
from secobs.gates.diff import diff_schemas
from secobs.schemas import load_schema

OLD = load_schema()


def changed(edit: Callable[[dict], None]) -> dict:
    schema = copy.deepcopy(OLD)
    edit(schema)
    return schema


def set_trace_id(**keywords: object) -> Callable[[dict], None]:
    def edit(schema: dict) -> None:
        target = schema["$defs"]["request"]["properties"]["trace_id"]
        for key, value in keywords.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value

    return edit


def drop_required(block: str, name: str) -> Callable[[dict], None]:
    def edit(schema: dict) -> None:
        node = schema if block == "" else schema["$defs"][block]
        node["required"] = [item for item in node["required"] if item != name]

    return edit


def remove_property(block: str, name: str) -> Callable[[dict], None]:
    def edit(schema: dict) -> None:
        del schema["$defs"][block]["properties"][name]

    return edit


def nullable_via_any_of(schema: dict) -> None:
    schema["$defs"]["traceId"] = schema["$defs"]["request"]["properties"]["trace_id"]
    schema["$defs"]["request"]["properties"]["trace_id"] = {
        "anyOf": [{"$ref": "#/$defs/traceId"}, {"type": "null"}]
    }


def widen_actor_id_enum_base(schema: dict) -> None:
    schema["$defs"]["actor"]["properties"]["id"] = {"enum": ["a", "b"]}


GUARDRAIL_CASES = [
    ("removed", remove_property("request", "request_id"), "request.request_id", "removed"),
    ("dropped from required", drop_required("actor", "id"), "actor.id", "made_optional"),
    ("parent made optional", drop_required("", "request"), "request.trace_id", "made_optional"),
    (
        "type made nullable",
        set_trace_id(type=["string", "null"]),
        "request.trace_id",
        "type_loosened",
    ),
    ("type removed", set_trace_id(type=None), "request.trace_id", "type_removed"),
    ("nullable through anyOf", nullable_via_any_of, "request.trace_id", "type_loosened"),
    ("pattern removed", set_trace_id(pattern=None), "request.trace_id", "pattern_removed"),
    (
        "pattern replaced",
        set_trace_id(pattern="^[0-9a-f]+$"),
        "request.trace_id",
        "pattern_changed",
    ),
    ("format removed", set_trace_id(format=None), "request.trace_id", "format_removed"),
    ("length loosened", set_trace_id(maxLength=64), "request.trace_id", "bound_loosened"),
]


@pytest.mark.parametrize(
    ("edit", "field", "kind"),
    [case[1:] for case in GUARDRAIL_CASES],
    ids=[case[0] for case in GUARDRAIL_CASES],
)
def test_guardrail_change_on_protected_field(edit, field, kind):
    old = OLD
    if kind in ("format_removed", "bound_loosened"):
        # The shipped trace_id has no format or length bound; start from a version that has.
        old = changed(set_trace_id(format="hex", maxLength=32))
        new = copy.deepcopy(old)
        edit(new)
    else:
        new = changed(edit)
    result = diff_schemas(old, new)
    violations = [(change.field, change.kind) for change in result.violations]
    assert (field, kind) in violations
    assert not result.ok


def test_enum_widened_and_removed():
    old = changed(widen_actor_id_enum_base)
    widened = copy.deepcopy(old)
    widened["$defs"]["actor"]["properties"]["id"]["enum"].append("c")
    result = diff_schemas(old, widened)
    assert [(c.field, c.kind) for c in result.violations] == [("actor.id", "enum_widened")]
    assert result.violations[0].old == ["a", "b"]
    assert result.violations[0].new == ["a", "b", "c"]

    removed = copy.deepcopy(old)
    removed["$defs"]["actor"]["properties"]["id"] = {"type": "string"}
    result = diff_schemas(old, removed)
    assert [(c.field, c.kind) for c in result.violations] == [("actor.id", "enum_removed")]


def test_const_to_enum_is_widened():
    old = changed(lambda s: s["$defs"]["actor"]["properties"].update(id={"const": "a"}))
    new = changed(lambda s: s["$defs"]["actor"]["properties"].update(id={"enum": ["a", "b"]}))
    result = diff_schemas(old, new)
    assert [(c.field, c.kind) for c in result.violations] == [("actor.id", "enum_widened")]


def test_same_schema_has_no_changes():
    result = diff_schemas(OLD, copy.deepcopy(OLD))
    assert result.changes == []
    assert result.ok
    assert result.warnings == []


def test_inlined_ref_is_the_same_schema():
    inlined = changed(lambda s: s["properties"].update(request=s["$defs"]["request"]))
    assert diff_schemas(OLD, inlined).changes == []


def test_loosening_an_unprotected_field_passes():
    new = changed(
        lambda s: s["$defs"]["security"]["properties"]["auth_method"]["enum"].append("none")
    )
    result = diff_schemas(OLD, new)
    assert [(c.field, c.kind, c.protected) for c in result.changes] == [
        ("security.auth_method", "enum_widened", False)
    ]
    assert result.ok


def test_tightening_a_protected_field_passes():
    new = changed(lambda s: s["$defs"]["actor"]["properties"]["id"].update(maxLength=64))
    new["$defs"]["client"]["required"].append("ua")
    result = diff_schemas(OLD, new)
    kinds = {(c.field, c.kind) for c in result.changes}
    assert kinds == {("actor.id", "bound_tightened"), ("client.ua", "made_required")}
    assert result.ok


def test_custom_protected_fields():
    new = changed(drop_required("client", "ip"))
    assert diff_schemas(OLD, new).ok
    result = diff_schemas(OLD, new, ["client.ip"])
    assert [(c.field, c.kind) for c in result.violations] == [("client.ip", "made_optional")]


def test_unknown_protected_field_warns():
    result = diff_schemas(OLD, OLD, ["actor.uid"])
    assert result.warnings == [
        "protected field 'actor.uid' is not defined in the old schema; check the name"
    ]


def test_non_local_ref_is_rejected():
    new = changed(lambda s: s["properties"].update(actor={"$ref": "other.json#/actor"}))
    with pytest.raises(InputError, match="non-local"):
        diff_schemas(OLD, new)


def test_cli_exit_codes_and_opa_input(tmp_path):
    old_file = tmp_path / "old.json"
    new_file = tmp_path / "new.json"
    old_file.write_text(json.dumps(OLD))
    new_file.write_text(json.dumps(changed(drop_required("actor", "id"))))
    runner = CliRunner()

    same = runner.invoke(main, ["schema", "diff", str(old_file), "audit.v1"])
    assert same.exit_code == 0

    opa = tmp_path / "opa.json"
    failed = runner.invoke(
        main, ["schema", "diff", str(old_file), str(new_file), "--opa-input", str(opa)]
    )
    assert failed.exit_code == 1
    assert "VIOLATION actor.id: made_optional" in failed.output
    document = json.loads(opa.read_text())
    assert document["ok"] is False
    assert document["protected"] == ["actor.id", "request.trace_id", "request.request_id"]
    assert document["old"] == {"id": "urn:secobs:schema:audit.v1", "version": "1.0.0"}
    assert document["violations"] == [
        {
            "field": "actor.id",
            "kind": "made_optional",
            "protected": True,
            "loosening": True,
            "old": [False, True],
            "new": [False, False],
        }
    ]

    as_json = runner.invoke(
        main,
        ["schema", "diff", str(old_file), str(new_file), "--protect", "client.ip", "--json"],
    )
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["violations"] == []

    missing = runner.invoke(main, ["schema", "diff", str(old_file), str(tmp_path / "none.json")])
    assert missing.exit_code == 2

"""Read template.yaml and resolve its intrinsic functions for the local stack.

Only what a local stack needs is resolved: Ref (parameters, pseudo parameters, resources),
Fn::Sub, Fn::GetAtt (Arn and the like, through the physical ids the caller supplies),
Fn::Join, Fn::Select, Fn::Split, Fn::If/Equals/Not/And/Or with Conditions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "Sub",
            "GetAtt",
            "Join",
            "Select",
            "Split",
            "If",
            "Equals",
            "Not",
            "And",
            "Or",
            "FindInMap",
            "Base64",
            "ImportValue",
            "GetAZs",
            "Cidr",
        )
    },
}


class TemplateError(ValueError):
    pass


class _TemplateLoader(yaml.SafeLoader):
    pass


def _tag_constructor(full_name: str) -> Callable[[yaml.Loader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if full_name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {full_name: value}

    return construct


for _tag, _full in _SHORT_TAGS.items():
    _TemplateLoader.add_constructor(f"!{_tag}", _tag_constructor(_full))


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


@dataclass
class StackContext:
    """What intrinsic functions resolve against: parameters, pseudo parameters, physical ids."""

    template: dict[str, Any]
    stack_name: str
    region: str
    account_id: str
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    # logical id -> {"Ref": physical id, "Arn": ..., other attributes}
    resources: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parameters = self._parameter_values()

    def _parameter_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in (self.template.get("Parameters") or {}).items():
            if name in self.parameter_overrides:
                raw: Any = self.parameter_overrides[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise TemplateError(f"template parameter {name} has no default and no local value")
            raw = str(raw)
            allowed = spec.get("AllowedValues")
            if allowed and raw not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={raw!r} is not one of {allowed}")
            if spec.get("Type") == "CommaDelimitedList":
                values[name] = [part.strip() for part in raw.split(",")] if raw else []
            else:
                values[name] = raw
        unknown = set(self.parameter_overrides) - set(values)
        if unknown:
            raise TemplateError(f"local values for parameters the template lacks: {sorted(unknown)}")
        return values

    def pseudo(self, name: str) -> str:
        table = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
        }
        if name not in table:
            raise TemplateError(f"unsupported pseudo parameter {name}")
        return table[name]

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref", "Condition")):
            return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not NO_VALUE}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._attribute(logical_id, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            delimiter, parts = argument
            return str(delimiter).join(str(p) for p in self.resolve(parts))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        if function == "Fn::Equals":
            left, right = self.resolve(argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.resolve(argument[0])
        if function == "Fn::And":
            return all(self.resolve(argument))
        if function == "Fn::Or":
            return any(self.resolve(argument))
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if function == "Condition":
            return self.condition(argument)
        raise TemplateError(f"{function} is not supported by the local stack")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name]["Ref"]
        if name in self.template["Resources"]:
            raise UnresolvedResource(name)
        raise TemplateError(f"Ref to unknown name {name}")

    def _attribute(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.template["Resources"]:
            raise TemplateError(f"GetAtt of unknown resource {logical_id}")
        attributes = self.resources.get(logical_id)
        if attributes is None:
            raise UnresolvedResource(logical_id)
        if attribute not in attributes:
            raise TemplateError(f"{logical_id}.{attribute} is not available locally")
        return attributes[attribute]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved_vars = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved_vars:
                return str(resolved_vars[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._attribute(*name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


# What AWS::NoValue resolves to (also as the branch an Fn::If takes): the property is left out.
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()


class UnresolvedResource(TemplateError):
    """A reference to a resource whose physical id is not known yet."""

    def __init__(self, logical_id: str) -> None:
        super().__init__(f"resource {logical_id} is not created yet")
        self.logical_id = logical_id


def referenced_resources(value: Any, resource_ids: set[str]) -> set[str]:
    """Logical ids of resources that `value` refers to (Ref, GetAtt, or inside Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_resources(item, resource_ids)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and item in resource_ids:
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else item.split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    base = name.split(".", 1)[0]
                    if base in resource_ids:
                        found.add(base)
                if not isinstance(item, str):
                    found |= referenced_resources(item[1], resource_ids)
            else:
                found |= referenced_resources(item, resource_ids)
    return found

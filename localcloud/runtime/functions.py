"""The functions of a template, as the local runtime needs them: code, handler, limits, env, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.template import StackContext

FUNCTION_TYPES = {"AWS::Serverless::Function"}
LAYER_TYPES = {"AWS::Serverless::LayerVersion"}


@dataclass(frozen=True)
class LayerSpec:
    logical_id: str
    content_dir: Path


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layers: tuple[LayerSpec, ...]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    reserved_concurrency: int | None = None

    def events_of(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        return [(name, event["Properties"]) for name, event in self.events.items() if event["Type"] in types]


def register_functions_and_layers(ctx: StackContext) -> None:
    """Give functions, layers and APIs physical ids so that Ref/GetAtt to them resolve locally."""
    for logical_id, resource in ctx.template["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Api":
            ctx.resources.setdefault(logical_id, {"Ref": f"local-{logical_id}", "RootResourceId": "root"})
        elif resource.get("Type") in LAYER_TYPES:
            ctx.resources.setdefault(logical_id, {"Ref": logical_id})
        elif resource.get("Type") in FUNCTION_TYPES:
            name = (resource.get("Properties") or {}).get("FunctionName") or f"{ctx.stack_name}-{logical_id}"
            arn = f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:function:{name}"
            ctx.resources.setdefault(logical_id, {"Ref": name, "Arn": arn})


def load_functions(ctx: StackContext, root: Path) -> dict[str, FunctionSpec]:
    register_functions_and_layers(ctx)
    resources = ctx.template["Resources"]
    globals_ = ((ctx.template.get("Globals") or {}).get("Function")) or {}
    functions: dict[str, FunctionSpec] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        if "Condition" in resource and not ctx.condition(resource["Condition"]):
            continue  # as CloudFormation would not create it
        own = resource.get("Properties") or {}
        props = {**globals_, **own}
        # SAM merges these from Globals rather than replacing them.
        variables = {
            **(globals_.get("Environment") or {}).get("Variables", {}),
            **(own.get("Environment") or {}).get("Variables", {}),
        }
        layer_refs = list(globals_.get("Layers") or []) + list(own.get("Layers") or [])
        layers = []
        for ref in ctx.resolve(layer_refs):
            if ref not in resources or resources[ref]["Type"] not in LAYER_TYPES:
                raise ValueError(f"{logical_id}: layer {ref} is not a layer of this template")
            layers.append(LayerSpec(ref, root / resources[ref]["Properties"]["ContentUri"]))
        events = {
            name: {"Type": event["Type"], "Properties": ctx.resolve(event.get("Properties") or {})}
            for name, event in (own.get("Events") or {}).items()
        }
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=ctx.resources[logical_id]["Ref"],
            code_dir=root / str(props["CodeUri"]),
            handler=str(props["Handler"]),
            runtime=str(props.get("Runtime", "python3.12")),
            timeout=int(ctx.resolve(props.get("Timeout", 3))),
            memory_size=int(ctx.resolve(props.get("MemorySize", 128))),
            environment={k: str(v) for k, v in ctx.resolve(variables).items()},
            layers=tuple(layers),
            events=events,
            reserved_concurrency=(
                int(ctx.resolve(props["ReservedConcurrentExecutions"]))
                if "ReservedConcurrentExecutions" in props
                else None
            ),
        )
    return functions

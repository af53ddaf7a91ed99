"""Mermaid diagrams generated from the flow declarations (docs/flows/*.md; a test keeps them current)."""

from __future__ import annotations

from pathlib import Path

from flows.engine import Flow, Goto

DOCS = Path(__file__).resolve().parent.parent / "docs" / "flows"


def _node(name: str) -> str:
    return name.replace("__", "").replace("-", "_") or "end"


def mermaid(flow: Flow) -> str:
    lines = ["flowchart TD", f"    start(([{flow.name}])) --> {flow.first.name}"]
    for step in flow.steps:
        lines.append(f'    {step.name}["{step.name}<br/><i>{step.kind.value}</i><br/>{step.describe}"]')
        if isinstance(step.next, str):
            lines.append(f"    {step.name} --> {step.next}")
        elif isinstance(step.next, Goto):
            lines.append(f"    {step.name} --> flow_{_node(step.next.flow)}[[{step.next.flow}]]")
        elif step.next is None and not step.branches:
            lines.append(f"    {step.name} --> flow_menu[[menu]]")
        for label, destination in step.branches:
            target = destination if any(s.name == destination for s in flow.steps) else (
                f"flow_{_node(destination)}[[{destination}]]")
            lines.append(f"    {step.name} -- {label} --> {target}")
    return "\n".join(lines) + "\n"


def document(flow: Flow) -> str:
    return (f"# Flow `{flow.name}`\n\nGenerated from `flows/` by `lotse diagrams`; do not edit by hand.\n\n"
            f"```mermaid\n{mermaid(flow)}```\n")


def write_all(flows: dict[str, Flow]) -> list[Path]:
    DOCS.mkdir(parents=True, exist_ok=True)
    written = []
    for flow in flows.values():
        path = DOCS / f"{flow.name}.md"
        path.write_text(document(flow), encoding="utf-8")
        written.append(path)
    return written

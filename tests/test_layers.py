"""The house's stairs go one way: import-linter checks the layers (`.ci/run`); this checks that no import loop is
left or added. The loops still inside `flows/` are listed by name, so that a new one fails and a fixed one is
struck off the list."""

from __future__ import annotations

import grimp

PACKAGES = ("bot", "flows", "storage", "locales")
LOOPS_LEFT = {
    frozenset({"flows.cases", "flows.mediation", "flows.tickets", "flows.volunteers"}),
    frozenset({"flows.places", "flows.proposals"}),
}
"""Questions, mediation and volunteer reports share a ticket; places and proposals share a match."""


def import_loops() -> list[frozenset[str]]:
    """The strongly connected components of the import graph with more than one module (Tarjan)."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[frozenset[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges.get(module, []):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == module:
                    break
            if len(component) > 1:
                loops.append(frozenset(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return loops


def test_no_import_loop_but_the_ones_listed_inside_flows() -> None:
    loops = set(import_loops())
    assert loops - LOOPS_LEFT == set(), "a new import loop"
    assert LOOPS_LEFT - loops == set(), "a listed loop is gone: strike it off LOOPS_LEFT"
    assert all(module.startswith("flows.") for loop in loops for module in loop)


def test_capabilities_plug_into_a_registry_that_imports_no_flow_of_its_own() -> None:
    """What broke the biggest loop: the runner imports the menu and onboarding, the registry imports neither."""
    graph = grimp.build_graph("flows", exclude_type_checking_imports=True)
    assert "flows.registry" in graph.modules
    assert "flows.conversation" not in graph.find_modules_directly_imported_by("flows.registry")
    assert "flows.menu" not in graph.find_modules_directly_imported_by("flows.registry")

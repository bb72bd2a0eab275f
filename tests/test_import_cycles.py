"""No import cycles among progalign's modules (imports inside functions included).

The graph is grimp's (the library behind ``lint-imports``, which checks the layers in
``.importlinter``). A cycle is a strongly connected component of the module graph with more than
one module. Run ``python tests/test_import_cycles.py`` to print the cycles and their imports.
"""

from __future__ import annotations

import sys
import warnings

import grimp

#: Cycles that are known and owned elsewhere (issue 13); each is allowed only as it stands (a
#: found cycle must lie inside one of these sets). Remove an entry once its cycle is gone.
KNOWN_CYCLES: dict[str, frozenset[str]] = {}


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    adjacency = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(adjacency):
        if root in index:
            continue
        work = [(root, iter(adjacency[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(adjacency[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return sorted(cycles)


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """The imports that close ``cycle``, one per line, with their line numbers."""
    members = set(cycle)
    lines = []
    for importer in cycle:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(f"l.{d['line_number']}" for d in details)
            lines.append(f"  {importer} -> {imported} ({where})")
    return "\n".join(lines)


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("progalign", cache_dir=None)


def test_tarjan_finds_a_cycle_and_ignores_a_chain() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a"), ("d", "e")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles_among_progalign_modules() -> None:
    graph = _graph()
    cycles = import_cycles(graph)
    unexpected = [c for c in cycles if not any(set(c) <= k for k in KNOWN_CYCLES.values())]
    assert not unexpected, "import cycles:\n" + "\n\n".join(describe(graph, c) for c in unexpected)
    stale = [
        name for name, known in KNOWN_CYCLES.items() if not any(set(c) & known for c in cycles)
    ]
    if stale:
        warnings.warn(f"known import cycles gone, remove from KNOWN_CYCLES: {stale}", stacklevel=1)


def test_io_and_download_depend_one_way() -> None:
    graph = _graph()
    assert "progalign.io" in graph.find_modules_directly_imported_by("progalign.download")
    assert graph.find_upstream_modules("progalign.io") <= {"progalign.errors"}  # what io needs


if __name__ == "__main__":
    g = _graph()
    found = import_cycles(g)
    for c in found:
        print(f"cycle of {len(c)} modules:\n{describe(g, c)}\n")
    print(f"{len(found)} import cycle(s) among progalign modules")
    sys.exit(1 if found else 0)

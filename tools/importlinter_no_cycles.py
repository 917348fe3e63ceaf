"""An import-linter contract type: no module imports a module that (directly or through others) imports it
back. import-linter's own acyclic_siblings contract does not see a module importing its parent package,
which is a cycle too (the package imports the module). Used by the `no-cycles` contract in pyproject.toml;
lint-imports needs this folder on PYTHONPATH (tools/run_tests.sh sets it)."""

from __future__ import annotations

from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain import fields
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel


class NoCyclesContract(Contract):
    type_name = "no_cycles"

    root = fields.StringField()
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)

    def check(self, graph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph, ignore_imports=self.ignore_imports or set(), unmatched_alerting=AlertLevel.ERROR)
        root = str(self.root)
        cycles = []
        for importer in sorted(m for m in graph.modules if m == root or m.startswith(root + ".")):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if not (imported == root or imported.startswith(root + ".")):
                    continue
                back = graph.find_shortest_chain(importer=imported, imported=importer)
                if back:
                    cycles.append((importer,) + tuple(back))
        unique = {tuple(sorted(set(c))): c for c in cycles}
        return ContractCheck(kept=not unique, warnings=list(removal.warnings),
                             ignored_import_count=removal.ignored_import_count,
                             metadata={"cycles": sorted(unique.values())})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(" -> ".join(cycle))
            output.new_line()

"""Finds SQL text built from values: every execute()/executemany()/copy() argument must be
a literal, a module constant made of literals, or psycopg.sql composition of literals.

Conservative: what it cannot prove safe it reports (a false alarm is fixed by writing the
SQL plainly, a false pass is what this exists to prevent).
"""

from __future__ import annotations

import ast
from pathlib import Path

SQL_METHODS = {"execute", "executemany", "copy"}
SAFE_SQL_PARTS = {"Identifier", "Literal", "Placeholder", "SQL", "Composed"}   # psycopg.sql


class _Module:
    def __init__(self, path: Path, modules: dict):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.modules = modules
        self.constants: dict[str, ast.expr] = {}
        self.imports: dict[str, str] = {}     # local name -> dotted module
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.constants[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                self.constants[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"


class SqlTextChecker:
    def __init__(self, root: Path, package: str):
        self.root = root
        self.package = package
        self.modules: dict[str, _Module] = {}
        for path in sorted((root / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(root).with_suffix("").parts)
            self.modules[dotted] = _Module(path, self.modules)

    # -- is an expression SQL text made only of literals? --------------------------------

    def _constant(self, module: _Module, name: str, seen: set) -> bool:
        key = (module.path, name)
        if key in seen:
            return False   # defined in terms of itself
        seen.add(key)      # while it is being looked into: a constant used twice is no cycle
        try:
            if name in module.constants:
                return self.safe(module, module.constants[name], {}, seen)
            target = module.imports.get(name)
            if target:
                owner, _, attr = target.rpartition(".")
                if owner in self.modules:
                    return self._constant(self.modules[owner], attr, seen)
            return False
        finally:
            seen.discard(key)

    def safe(self, module: _Module, node: ast.expr, local: dict, seen: set | None = None) -> bool:
        seen = set() if seen is None else seen
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.JoinedStr):   # f-string: only constants interpolated
            return all(
                isinstance(v, ast.Constant)
                or (isinstance(v, ast.FormattedValue) and self.safe(module, v.value, local, seen))
                for v in node.values
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.safe(module, node.left, local, seen) and self.safe(module, node.right, local, seen)
        if isinstance(node, ast.Name):
            if node.id in local:
                key = ("local", id(local), node.id)
                if key in seen:
                    return True   # x = x + "..." : the other assignments decide
                seen.add(key)
                return all(self.safe(module, value, local, seen) for value in local[node.id])
            return self._constant(module, node.id, seen)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id not in local:
            # CONSTANTS[key], a module-level dict or tuple of SQL texts
            table = module.constants.get(node.value.id)
            if isinstance(table, ast.Dict):
                return all(self.safe(module, v, local, seen) for v in table.values)
            if isinstance(table, (ast.Tuple, ast.List)):
                return all(self.safe(module, v, local, seen) for v in table.elts)
            return False
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # module.CONSTANT of one of ours
            target = module.imports.get(node.value.id, "")
            if target in self.modules:
                return self._constant(self.modules[target], node.attr, seen)
            return False
        if isinstance(node, ast.Call):
            return self._safe_sql_call(module, node, local, seen)
        return False

    def _safe_sql_call(self, module, node: ast.Call, local: dict, seen: set) -> bool:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in ("SQL",):
            return len(node.args) == 1 and self.safe(module, node.args[0], local, seen)
        if name in ("Identifier", "Literal", "Placeholder"):
            return True          # values and names, quoted by psycopg
        if name in ("format", "join") and isinstance(func, ast.Attribute):
            # sql.SQL("...").format(parts) / sql.SQL(", ").join(parts): the template must be sql.SQL
            return self._is_sql_object(module, func.value, local, seen) and all(
                self._is_sql_part(module, arg, local, seen) for arg in [*node.args, *(k.value for k in node.keywords)]
            )
        return False

    def _is_sql_object(self, module, node, local, seen) -> bool:
        if isinstance(node, ast.Call):
            return self._safe_sql_call(module, node, local, seen)
        if isinstance(node, ast.Name) and node.id in local:
            return all(self._is_sql_object(module, v, local, seen) for v in local[node.id])
        return False

    def _is_sql_part(self, module, node, local, seen) -> bool:
        if isinstance(node, ast.Call):
            return self._safe_sql_call(module, node, local, seen)
        if isinstance(node, (ast.List, ast.Tuple)):
            return all(self._is_sql_part(module, e, local, seen) for e in node.elts)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self._is_sql_part(module, node.elt, local, seen)
        if isinstance(node, ast.Name) and node.id in local:
            return all(self._is_sql_part(module, v, local, seen) for v in local[node.id])
        return False

    # -- the scan -------------------------------------------------------------------------

    def problems(self) -> list[str]:
        found = []
        for module in self.modules.values():
            for func in [n for n in ast.walk(module.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
                local = _local_assignments(func)
                params = {a.arg for a in [*func.args.args, *func.args.kwonlyargs, *func.args.posonlyargs]}
                for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                    if not (isinstance(call.func, ast.Attribute) and call.func.attr in SQL_METHODS):
                        continue
                    keyword = next((k.value for k in call.keywords if k.arg in ("query", "statement")), None)
                    sql_arg = call.args[0] if call.args else keyword
                    if sql_arg is None:
                        continue   # pipe.execute(): no SQL
                    # A pass-through wrapper (def execute(self, query, ...)): its callers are checked instead.
                    if func.name in SQL_METHODS and isinstance(sql_arg, ast.Name) and sql_arg.id in params:
                        continue
                    if not self.safe(module, sql_arg, local):
                        found.append(f"{module.path.relative_to(self.root).as_posix()}: {ast.unparse(sql_arg)[:100]}")
        return sorted(found)


def _local_assignments(func) -> dict[str, list[ast.expr]]:
    """Every value assigned to each local name in `func` (all must be safe)."""
    local: dict[str, list[ast.expr]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    local.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            local.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            local.setdefault(node.target.id, []).append(
                ast.BinOp(ast.Name(node.target.id), ast.Add(), node.value) if isinstance(node.op, ast.Add)
                else ast.Tuple([], ast.Load()))   # anything else: not provably safe
        elif isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
            local.setdefault(node.target.id, []).append(ast.Tuple([], ast.Load()))
    return local

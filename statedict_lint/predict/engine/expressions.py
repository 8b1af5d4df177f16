"""Expressions: the per-node evaluation of expressions, names, strings, comprehensions, comparisons, truth and
operators."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import libcst as cst

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.budget import MAX_INT_BITS, MAX_SEQ_LEN
from statedict_lint.predict.engine.common import _has_instance, _hashable_key, _plain, _same_plain
from statedict_lint.predict.engine.scopes import Frame, Thunk
from statedict_lint.predict.libs.torch import TorchDir
from statedict_lint.predict.merge import merge_values
from statedict_lint.predict.signals import EvalRaise
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.template import placeholder as placeholder_name
from statedict_lint.predict.values import (
    UNKNOWN_BOOL,
    ClassValue,
    DtypeValue,
    FunctionValue,
    formattable,
    InstanceValue,
    ModuleValue,
    Opaque,
    ParamValue,
    Repeated,
    SymRange,
    SymSlice,
    TensorSpec,
    Unknown,
    maybe_state,
)
from statedict_lint.source.loader import SourceFile


class ExpressionsMixin(EngineBase):

    # -- expressions -------------------------------------------------------------------------
    # The handler of each expression node type (a method name, bound once per Evaluator: ``eval_handlers``).
    EXPRESSION_HANDLERS: Dict[type, str] = {
        cst.Name: "_eval_name", cst.Integer: "_eval_integer", cst.Float: "_eval_float",
        cst.SimpleString: "_eval_simple_string", cst.Attribute: "_eval_attribute", cst.Call: "eval_call",
        cst.BinaryOperation: "_eval_binary", cst.UnaryOperation: "_eval_unary", cst.BooleanOperation: "_eval_boolean",
        cst.Comparison: "compare", cst.Tuple: "_eval_display", cst.List: "_eval_display", cst.Set: "_eval_display",
        cst.Dict: "_eval_dict", cst.ConcatenatedString: "eval_string", cst.FormattedString: "eval_string",
        cst.ListComp: "eval_comprehension", cst.GeneratorExp: "eval_comprehension", cst.SetComp: "eval_comprehension",
        cst.DictComp: "eval_comprehension", cst.Subscript: "_eval_subscript", cst.IfExp: "_eval_ifexp",
        cst.Lambda: "_eval_lambda", cst.Ellipsis: "_eval_ellipsis", cst.Imaginary: "_eval_imaginary",
        cst.NamedExpr: "_eval_named",
    }

    def eval(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        self.budget.tick()
        handler = self.eval_handlers.get(type(node))
        if handler is None:
            return self.unknown(f"unsupported expression `{sf.code(node).strip()[:60]}`")
        return handler(frame, node, sf)

    def _eval_name(self, frame: Frame, node: cst.Name, sf: SourceFile) -> Any:
        return self.lookup(frame, node.value)

    def _eval_integer(self, frame: Frame, node: cst.Integer, sf: SourceFile) -> Any:
        if len(node.value) > 1200:
            return self.too_large(f"an integer literal of {len(node.value)} digits")
        return int(node.value.replace("_", ""), 0) if not node.value.startswith("0") or node.value in ("0",) or node.value[1:2] in "xXoObB" else int(node.value.replace("_", ""))

    def _eval_float(self, frame: Frame, node: cst.Float, sf: SourceFile) -> Any:
        return float(node.value.replace("_", ""))

    def _eval_simple_string(self, frame: Frame, node: cst.SimpleString, sf: SourceFile) -> Any:
        text = node.value  # evaluated_value runs ast.literal_eval on every call
        strings = self.session.strings
        hit = strings.get(text)
        if hit is None:
            hit = strings[text] = node.evaluated_value
        return hit

    def _eval_attribute(self, frame: Frame, node: cst.Attribute, sf: SourceFile) -> Any:
        return self.getattr(self.eval(frame, node.value, sf), node.attr.value)

    def _eval_binary(self, frame: Frame, node: cst.BinaryOperation, sf: SourceFile) -> Any:
        return self.binop(_BIN_OPS[type(node.operator)], self.eval(frame, node.left, sf), self.eval(frame, node.right, sf))

    def _eval_unary(self, frame: Frame, node: cst.UnaryOperation, sf: SourceFile) -> Any:
        return self.unaryop(node.operator, self.eval(frame, node.expression, sf))

    def _eval_boolean(self, frame: Frame, node: cst.BooleanOperation, sf: SourceFile) -> Any:
        left = self.eval(frame, node.left, sf)
        lt = self.truth(left)
        is_and = isinstance(node.operator, cst.And)
        if lt is UNKNOWN_BOOL:
            right = self.eval(frame, node.right, sf)
            rt = self.truth(right)
            if is_and and rt is False:
                return False if isinstance(left, bool) or left is UNKNOWN_BOOL else self.unknown("value of `and` cannot be decided", False)
            if not is_and and rt is True and isinstance(right, bool):
                return True
            return self.unknown(f"`{sf.code(node).strip()}` cannot be decided", maybe_state=maybe_state(left) or maybe_state(right))
        if is_and:
            return left if lt is False else self.eval(frame, node.right, sf)
        return left if lt is True else self.eval(frame, node.right, sf)

    def _eval_display(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        """A tuple, list or set display."""
        t = type(node)
        items: List[Any] = []
        for e in node.elements:
            if isinstance(e, cst.StarredElement):
                v = self.iterate(self.eval(frame, e.value, sf), sf)
                if isinstance(v, Unknown):
                    items.append(Repeated(v, v, "?"))
                elif isinstance(v, SymRange):
                    items.append(Repeated(self.unknown("element of a symbolic range", False), v.count, "?"))
                else:
                    items.extend(v)
            else:
                items.append(self.eval(frame, e.value, sf))
        if t is cst.Tuple:
            return tuple(items)
        if t is cst.Set:
            try:
                return set(items)
            except TypeError:
                return self.unknown("set of unhashable values", False)
        return items

    def _eval_dict(self, frame: Frame, node: cst.Dict, sf: SourceFile) -> Any:
        out: Dict[Any, Any] = {}
        for e in node.elements:
            if isinstance(e, cst.StarredDictElement):
                v = self.eval(frame, e.value, sf)
                if isinstance(v, dict):
                    out.update(v)
                else:
                    return self.unknown("`**` of a value that is not a known dict")
            elif isinstance(e, cst.DictElement):  # (the other kind of dict element)
                k = self.eval(frame, e.key, sf)
                out[_hashable_key(k)] = self.eval(frame, e.value, sf)
        return out

    def _eval_subscript(self, frame: Frame, node: cst.Subscript, sf: SourceFile) -> Any:
        obj = self.eval(frame, node.value, sf)
        key = self.eval_slice(frame, node.slice, sf)
        return self.getitem(obj, key)

    def _eval_ifexp(self, frame: Frame, node: cst.IfExp, sf: SourceFile) -> Any:
        c = self.truth(self.eval(frame, node.test, sf))
        if c is True:
            return self.eval(frame, node.body, sf)
        if c is False:
            return self.eval(frame, node.orelse, sf)
        a = self.eval(frame, node.body, sf)
        b = self.eval(frame, node.orelse, sf)

        return merge_values(self, a, b, f"{sf.code(node.test).strip()} (line {self.line})")

    def _eval_lambda(self, frame: Frame, node: cst.Lambda, sf: SourceFile) -> Any:
        defaults = self._param_defaults(frame, node.params, sf)
        lam = FunctionValue(node, frame.scope, frame, "<lambda>", defaults)
        lam.sf = sf
        return lam

    def _eval_ellipsis(self, frame: Frame, node: cst.Ellipsis, sf: SourceFile) -> Any:
        return Ellipsis

    def _eval_imaginary(self, frame: Frame, node: cst.Imaginary, sf: SourceFile) -> Any:
        return complex(node.value.replace("_", ""))

    def _eval_named(self, frame: Frame, node: cst.NamedExpr, sf: SourceFile) -> Any:
        v = self.eval(frame, node.value, sf)
        self.assign(frame, node.target, v, sf)
        return v

    def eval_string(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        if isinstance(node, cst.SimpleString):
            return node.evaluated_value
        if isinstance(node, cst.ConcatenatedString):
            a = self.eval_string(frame, node.left, sf)
            b = self.eval_string(frame, node.right, sf)
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            if isinstance(a, bytes) and isinstance(b, bytes):
                return a + b
            return self.unknown("string cannot be computed", False)
        parts: List[str] = []
        for p in node.parts:
            if isinstance(p, cst.FormattedStringText):
                parts.append(p.value.replace("{{", "{").replace("}}", "}"))
                continue
            v = self.eval(frame, p.expression, sf)
            if isinstance(v, Opaque):
                v = v.sym()
            if isinstance(v, Sym):
                if p.format_spec or p.conversion:
                    return self.unknown("formatted symbolic value", False)
                parts.append("{" + _placeholder_text(v) + "}")
                continue
            if isinstance(v, (Unknown,)) or not formattable(v):
                return Unknown(f"part `{sf.code(p.expression).strip()}` of a string cannot be computed",
                               self.line, self.path, False)
            spec = ""
            if p.format_spec:
                for fp in p.format_spec:
                    if isinstance(fp, cst.FormattedStringText):
                        spec += fp.value
                    else:
                        return self.unknown("nested format spec", False)
            conv = p.conversion
            try:
                if conv == "r":
                    v = repr(v)
                elif conv == "s":
                    v = str(v)
                parts.append(format(v, spec))
            except Exception:  # noqa: BLE001 - any failure of Python's formatting leaves the string unknown
                return self.unknown("string formatting failed", False)
        return "".join(parts)

    def eval_slice(self, frame: Frame, elems: Any, sf: SourceFile) -> Any:
        vals = []
        for e in elems:
            s = e.slice
            if isinstance(s, cst.Index):
                vals.append(self.eval(frame, s.value, sf))
            else:
                lo = None if s.lower is None else self.eval(frame, s.lower, sf)
                hi = None if s.upper is None else self.eval(frame, s.upper, sf)
                st = None if s.step is None else self.eval(frame, s.step, sf)
                if any(isinstance(x, (Unknown, Opaque, Sym)) for x in (lo, hi, st)):
                    vals.append(SymSlice(lo, hi, st))
                else:
                    vals.append(slice(lo, hi, st))
        return vals[0] if len(vals) == 1 else tuple(vals)

    def eval_comprehension(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        inner = Frame(frame.scope, frame, frame.func, frame.cls)
        inner.locals = {}
        results: List[Any] = []
        dict_mode = isinstance(node, cst.DictComp)
        out_dict: Dict[Any, Any] = {}

        def run(comp: cst.CompFor) -> Optional[Unknown]:
            it = self.iterate(self.eval(inner, comp.iter, sf), sf)
            if isinstance(it, Unknown):
                return it
            if isinstance(it, SymRange):
                if comp.ifs or comp.inner_for_in is not None or dict_mode:
                    return self.unknown("comprehension over a symbolic range with filters or nesting")
                placeholder = placeholder_name(len(self.repeat))
                idx = Sym.var(f"{{{placeholder}}}")
                if it.step != 1 or it.start != 0:
                    idx = it.start + idx * it.step
                self.assign(inner, comp.target, idx, sf)
                self.repeat.append((placeholder, it.count))
                try:
                    v = self.eval(inner, node.elt, sf)
                finally:
                    self.repeat.pop()
                results.append(Repeated(v, it.count, placeholder))
                return None
            for item in it:
                if isinstance(item, Repeated):
                    return self.unknown("comprehension over a list of symbolic length")
                self.assign(inner, comp.target, item, sf)
                ok = True
                for cond in comp.ifs:
                    c = self.truth(self.eval(inner, cond.test, sf))
                    if c is UNKNOWN_BOOL:
                        return self.unknown(f"comprehension filter `{sf.code(cond.test).strip()}` cannot be decided")
                    if not c:
                        ok = False
                        break
                if not ok:
                    continue
                if comp.inner_for_in is not None:
                    r = run(comp.inner_for_in)
                    if r is not None:
                        return r
                elif dict_mode:
                    out_dict[_hashable_key(self.eval(inner, node.key, sf))] = self.eval(inner, node.value, sf)
                else:
                    results.append(self.eval(inner, node.elt, sf))
            return None

        err = run(node.for_in)
        if err is not None:
            return err
        if dict_mode:
            return out_dict
        if isinstance(node, cst.SetComp):
            try:
                return set(results)
            except TypeError:
                return self.unknown("set of unhashable values", False)
        if isinstance(node, cst.GeneratorExp):
            return self.iterator(results)
        return results

    def compare(self, frame: Frame, node: cst.Comparison, sf: SourceFile) -> Any:
        left = self.eval(frame, node.left, sf)
        result: Any = True
        for ct in node.comparisons:
            right = self.eval(frame, ct.comparator, sf)
            r = self.cmp(_CMP_OPS[type(ct.operator)], left, right)
            if r is False:
                return False
            if r is not True:
                result = r
            left = right
        return result

    def cmp(self, op: str, a: Any, b: Any) -> Any:
        if op in ("is", "is not"):
            if isinstance(a, (Unknown, Opaque)) or isinstance(b, (Unknown, Opaque)):
                if (a is None or b is None) and (isinstance(a, Opaque) or isinstance(b, Opaque)):
                    return self.unknown("comparison with an unbound parameter", False)
                u = a if isinstance(a, Unknown) else b if isinstance(b, Unknown) else None
                return self.unknown(u.reason if u is not None else "identity of an unknown value", False)
            if isinstance(a, Sym) or isinstance(b, Sym):
                if a is None or b is None:
                    return op == "is not"
            res = a is b or (isinstance(a, (DtypeValue,)) and isinstance(b, DtypeValue) and a.name == b.name)
            return res if op == "is" else not res
        if op in ("in", "not in"):
            if isinstance(b, TorchDir):
                known = b.contains(a)
                if known is None:
                    return self.unknown(f"whether `{a}` is in dir({b.qualname})", False)
                return known if op == "in" else not known
            if isinstance(b, (Unknown, Opaque)) or isinstance(a, (Unknown, Opaque)):
                return self.unknown("membership of an unknown value", False)
            if isinstance(a, Sym):
                if isinstance(b, (list, tuple, set)) and all(is_int(x) for x in b) and not b:
                    return op == "not in"
                return self.unknown("membership of a symbolic value", False)
            if isinstance(b, ModuleValue):
                found, _ = b.lookup(a) if isinstance(a, str) else (False, None)
                return found if op == "in" else not found
            if isinstance(b, (list, tuple)) and any(isinstance(x, (Unknown, Opaque, Sym, Repeated)) for x in b):
                if any(_same_plain(a, x) for x in b if not isinstance(x, (Unknown, Opaque, Sym, Repeated))):
                    return op == "in"
                return self.unknown("membership in a list with unknown items", False)
            try:
                res = a in b
            except TypeError:
                return self.unknown("membership test cannot be evaluated", False)
            return res if op == "in" else not res
        for x in (a, b):
            if isinstance(x, Unknown):
                return self.unknown(x.reason, False)
        a = a.sym() if isinstance(a, Opaque) else a
        b = b.sym() if isinstance(b, Opaque) else b
        if isinstance(a, Sym) or isinstance(b, Sym):
            if op in ("==", "!=") and (a is None or isinstance(a, (str, tuple, list)) or b is None or isinstance(b, (str, tuple, list))):
                return self.unknown("comparison of a symbolic value", False)
            if is_intlike(a) and is_intlike(b):
                d = a - b
                if is_int(d):
                    return {"==": d == 0, "!=": d != 0, "<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0}[op]
            return self.unknown("comparison of symbolic values cannot be decided", False)
        if isinstance(a, DtypeValue) and isinstance(b, DtypeValue):
            return (a.name == b.name) if op == "==" else (a.name != b.name) if op == "!=" else self.unknown("dtype order", False)
        if op in ("==", "!=") and (_has_instance(a) or _has_instance(b)):
            same = _objects_equal(a, b)
            if same is None:
                return self.unknown("comparison of objects whose __eq__ is not modelled", False)
            return same if op == "==" else not same
        if not _plain(a) or not _plain(b):
            if op == "==":
                return a is b if not isinstance(a, (TensorSpec, ModuleValue)) else self.unknown("comparison of tensors", False)
            if op == "!=":
                return a is not b if not isinstance(a, (TensorSpec, ModuleValue)) else self.unknown("comparison of tensors", False)
            return self.unknown("comparison cannot be evaluated", False)
        try:
            return {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
                    ">": lambda: a > b, ">=": lambda: a >= b}[op]()
        except TypeError:
            raise EvalRaise(f"cannot compare {type(a).__name__} and {type(b).__name__}", self.line, self.path)

    def truth(self, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        if isinstance(v, (int, float, str, bytes, complex)):
            return bool(v)
        if isinstance(v, (tuple, list, dict, set)):
            if any(isinstance(x, Repeated) for x in v) if not isinstance(v, dict) else False:
                return True if any(isinstance(x, Repeated) is False for x in v) else UNKNOWN_BOOL
            return bool(v)
        if isinstance(v, (Unknown, Opaque, Sym)):
            if isinstance(v, Opaque):
                v.used_as_value = True
            return UNKNOWN_BOOL
        if v is UNKNOWN_BOOL:
            return UNKNOWN_BOOL
        if isinstance(v, (TensorSpec, ParamValue)):
            return UNKNOWN_BOOL
        if isinstance(v, ModuleValue):
            if v.container:
                n = self.torch.container_len(v)
                return bool(n) if is_int(n) else UNKNOWN_BOOL
            return True
        return True

    def unaryop(self, op: Any, v: Any) -> Any:
        if isinstance(op, cst.Not):
            t = self.truth(v)
            if t is UNKNOWN_BOOL:  # a value, not the sentinel: it flows into int(), lists, calls...
                return self.unknown("`not` of a value that cannot be decided", False)
            return not t
        if isinstance(v, Opaque):
            v = v.sym()
        if isinstance(v, Unknown):
            return v.as_value()
        try:
            if isinstance(op, cst.Minus):
                return -v
            if isinstance(op, cst.Plus):
                return +v
            if isinstance(op, cst.BitInvert):
                return ~v
        except TypeError:
            return self.unknown("unary operation on an unsupported value", False)
        return self.unknown("unary operation", False)

    def binop(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, ModuleValue) or isinstance(b, ModuleValue):
            return self._module_binop(op, a, b)
        if isinstance(a, Opaque):
            a = a.sym()
        if isinstance(b, Opaque):
            b = b.sym()
        for x in (a, b):
            if isinstance(x, Unknown):
                return x if (isinstance(a, list) or isinstance(b, list)) else x.as_value()
            if x is UNKNOWN_BOOL:
                return self.unknown("arithmetic on an undecidable boolean", False)
        if isinstance(a, (TensorSpec, ParamValue)) or isinstance(b, (TensorSpec, ParamValue)):
            return self.torch.tensor_binop(op, a, b)
        if isinstance(a, list) and isinstance(b, list) and op == "+":
            if len(a) + len(b) > MAX_SEQ_LEN:
                return self.too_large(f"a list of {len(a) + len(b)} items")
            return a + b
        if op == "*" and (isinstance(a, (list, tuple)) and is_intlike(b) or isinstance(b, (list, tuple)) and is_intlike(a)):
            seq, n = (a, b) if isinstance(a, (list, tuple)) else (b, a)
            if isinstance(n, Sym):
                placeholder = placeholder_name(len(self.repeat))
                out = [Repeated(x, n, placeholder) for x in seq] if len(seq) == 1 else \
                    [Repeated(self.unknown("repeated list", False), Unknown("?"), "?")]
                return out if isinstance(seq, list) else tuple(out)
            if n > 0 and len(seq) * n > MAX_SEQ_LEN:
                return self.too_large(f"a sequence of {len(seq)} x {n} items")
            return seq * n
        if op == "+" and type(a) is type(b) and isinstance(a, (list, tuple)):
            if len(a) + len(b) > MAX_SEQ_LEN:
                return self.too_large(f"a sequence of {len(a) + len(b)} items")
            return a + b
        if op == "%" and isinstance(a, str):
            return self._percent_format(a, b)
        if isinstance(a, Sym) or isinstance(b, Sym):
            if op == "/":
                return self.unknown("true division of a symbolic value", False)
            if op in ("+", "-", "*", "//", "%") and is_intlike(a) and is_intlike(b):
                try:
                    if op == "+":
                        return a + b
                    if op == "-":
                        return a - b
                    if op == "*":
                        return a * b
                    if op == "//":
                        return a // b
                    return a % b
                except TypeError:
                    return self.unknown("symbolic arithmetic", False)
            if op == "**" and isinstance(a, Sym) and is_int(b):
                r = a ** b
                return r if r is not NotImplemented else self.unknown("symbolic power", False)
            if isinstance(a, float) or isinstance(b, float):
                return self.unknown("float arithmetic with a symbolic value", False)
            return self.unknown(f"`{op}` on a symbolic value", False)
        if isinstance(a, Repeated) or isinstance(b, Repeated):
            return self.unknown("arithmetic on a repeated value")
        if not _plain(a) or not _plain(b):
            return self.unknown(f"`{op}` on values that are not plain numbers", maybe_state=False)
        big = _too_large(op, a, b)
        if big:
            return self.too_large(big)
        try:
            return _PY_OPS[op](a, b)
        except ZeroDivisionError:
            raise EvalRaise("division by zero", self.line, self.path)
        except (TypeError, ValueError, OverflowError) as exc:
            raise EvalRaise(f"`{op}` fails: {exc}", self.line, self.path)

    def _module_binop(self, op: str, a: Any, b: Any) -> Any:
        """``ModuleList + iterable`` and ``Sequential + Sequential`` build a new container, as torch does;
        anything else on modules is unknown and may hold state."""
        kind = a.container if isinstance(a, ModuleValue) else ""
        if op == "+" and kind in ("ModuleList", "Sequential"):
            base = next((c for c in a.cls.mro() if c.intrinsic == kind), None) if isinstance(a.cls, ClassValue) else None
            if base is not None:
                if kind == "Sequential" and not (isinstance(b, ModuleValue) and b.container == "Sequential"):
                    if isinstance(b, (Unknown, Opaque)):
                        return self.unknown("`+` of a Sequential and a value that cannot be known")
                    raise EvalRaise("add operator supports only objects of Sequential class", self.line, self.path)
                out = ModuleValue(base, base.qualname)
                out.container = kind
                self.torch.container_extend(out, a)
                self.torch.container_extend(out, b)
                return out
        return self.unknown(f"`{op}` on modules")

    def _percent_format(self, fmt: str, args: Any) -> Any:
        """``"layer%d" % (i + 1)`` with symbolic values: the placeholder text goes into the string."""
        items = list(args) if isinstance(args, tuple) else [args]
        marks: Dict[str, str] = {}
        concrete: List[Any] = []  # (values of the interpreted code; a marker int for each symbol)
        for k, v in enumerate(items):
            if isinstance(v, Opaque):
                v = v.sym()
            if isinstance(v, Sym):
                mark = 7_390_000_000_000 + k
                marks[str(mark)] = "{" + _placeholder_text(v) + "}"
                concrete.append(mark)
            elif isinstance(v, (str, int, float, bool, type(None))):
                concrete.append(v)
            else:
                return self.unknown("`%` formatting of values that are not known", False)
        try:
            text = fmt % (tuple(concrete) if isinstance(args, tuple) else concrete[0])
        except (TypeError, ValueError, KeyError) as exc:
            raise EvalRaise(f"string formatting fails: {exc}", self.line, self.path)
        for marker, rep in marks.items():
            text = text.replace(marker, rep)
        return text

    # -- names, attributes, items ------------------------------------------------------------
    def lookup(self, frame: Frame, name: str) -> Any:
        f: Optional[Frame] = frame
        if frame.globals is not None and name in frame.globals:
            f = None
        while f is not None:
            if name in f.locals:
                v = f.locals[name]
                if isinstance(v, Thunk):
                    _, v = f.scope.lookup(name)
                return v
            f = f.closure
        found, v = frame.scope.lookup(name)
        if found:
            return v
        if name in self.builtins:
            return self.builtins[name]
        return self.unknown(f"name `{name}` is not defined in this file")


_BIN_OPS: Dict[type, str] = {
    cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/", cst.FloorDivide: "//",
    cst.Modulo: "%", cst.Power: "**", cst.LeftShift: "<<", cst.RightShift: ">>", cst.BitOr: "|",
    cst.BitAnd: "&", cst.BitXor: "^", cst.MatrixMultiply: "@",
}
_CMP_OPS: Dict[type, str] = {
    cst.Equal: "==", cst.NotEqual: "!=", cst.LessThan: "<", cst.LessThanEqual: "<=", cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=", cst.In: "in", cst.NotIn: "not in", cst.Is: "is", cst.IsNot: "is not",
}




def _bits(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        return 64
    return x.bit_length()


def _too_large(op: str, a: Any, b: Any) -> str:
    """What Python would build for ``a op b`` when it is beyond the evaluator's bounds ("" when it is not)."""
    pair: Optional[Tuple[Union[str, bytes], int]] = None  # (sequence, count) of `seq * n` / `n * seq`
    if isinstance(a, (str, bytes)) and isinstance(b, int):
        pair = (a, b)
    elif isinstance(b, (str, bytes)) and isinstance(a, int):
        pair = (b, a)
    if pair is not None:
        if op == "*":
            seq, n = pair
            if n > 0 and len(seq) * n > MAX_SEQ_LEN:
                return f"a string of {len(seq)} x {n} characters"
        return ""
    if isinstance(a, (str, bytes)) and isinstance(b, (str, bytes)) and op == "+":
        return f"a string of {len(a) + len(b)} characters" if len(a) + len(b) > MAX_SEQ_LEN else ""
    if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool) or isinstance(b, bool):
        if op == "**" and isinstance(a, int) and isinstance(b, int):
            pass
        else:
            return ""
    if op == "**":
        if b < 0 or abs(a) <= 1:
            return ""
        if b > MAX_INT_BITS or _bits(a) * b > MAX_INT_BITS:
            return "a power beyond 4096 bits"
    elif op == "<<":
        if b > MAX_INT_BITS or _bits(a) + b > MAX_INT_BITS:
            return "a shift beyond 4096 bits"
    elif op == "*":
        if _bits(a) + _bits(b) > MAX_INT_BITS:
            return "a product beyond 4096 bits"
    elif op in ("+", "-"):
        if max(_bits(a), _bits(b)) >= MAX_INT_BITS:
            return "a sum beyond 4096 bits"
    return ""


_PY_OPS: Dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a ** b, "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b, "|": lambda a, b: a | b, "&": lambda a, b: a & b, "^": lambda a, b: a ^ b,
    "@": lambda a, b: a @ b,
}


def _objects_equal(a: Any, b: Any) -> Optional[bool]:
    """``a == b`` where an InstanceValue takes part: by value for frozen dataclasses (their generated __eq__), by
    identity for classes without an __eq__, None (not known) for any other __eq__ (a user's, a non-frozen
    dataclass's over fields that may change)."""
    if a is b:
        return True
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        if type(a) is not type(b) or len(a) != len(b):
            return False
        results = [_objects_equal(x, y) for x, y in zip(a, b)]
        if False in results:
            return False
        return None if None in results else True
    ka = a.value_key() if isinstance(a, InstanceValue) else None
    kb = b.value_key() if isinstance(b, InstanceValue) else None
    if ka is not None and kb is not None:
        return ka == kb
    for x in (a, b):
        if isinstance(x, InstanceValue) and (getattr(x.cls, "is_dataclass", False) or (
                isinstance(x.cls, ClassValue) and x.cls.find("__eq__")[0] is not None)):
            if x.value_key() is None or not isinstance(a if x is b else b, InstanceValue):
                return None
    if isinstance(a, InstanceValue) or isinstance(b, InstanceValue):
        if isinstance(a, (InstanceValue, int, float, str, bool, type(None), tuple, list, dict)) and \
                isinstance(b, (InstanceValue, int, float, str, bool, type(None), tuple, list, dict)):
            return False  # distinct objects of classes comparing by identity
        return None
    if _plain(a) and _plain(b):
        return a == b
    return None


def _placeholder_text(v: Sym) -> str:
    text = v.render()
    return text.replace("{", "").replace("}", "")

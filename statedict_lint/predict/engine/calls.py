"""Calls and argument binding: call expressions, calling functions, binding arguments to parameters, instantiating
classes, ``super()``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import libcst as cst

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.scopes import Frame
from statedict_lint.predict.libs import NOT_MINE
from statedict_lint.predict.signals import Break, CallBudget, Continue, EvalRaise, GiveUp, Return
from statedict_lint.predict.values import (
    BoundMethod,
    ClassValue,
    Entry,
    FunctionValue,
    InstanceValue,
    Intrinsic,
    ModuleValue,
    Opaque,
    Partial,
    StarUnknown,
    StarUnknownTuple,
    SuperValue,
    SymKey,
    SymRange,
    Unknown,
    maybe_state,
)
from statedict_lint.source.loader import SourceFile


class CallsMixin(EngineBase):

    # -- calls -------------------------------------------------------------------------------
    def eval_call(self, frame: Frame, node: cst.Call, sf: SourceFile) -> Any:
        self.set_pos(sf, node)
        func = self.eval(frame, node.func, sf)
        if isinstance(func, Intrinsic) and func.name == "super" and isinstance(node.func, cst.Name):
            return self._make_super(frame, node, sf)
        args: List[Any] = []
        kwargs: Dict[str, Any] = {}
        for a in node.args:
            v = self.eval(frame, a.value, sf)
            if a.star == "*":
                items = self.iterate(v, sf)
                if isinstance(items, (Unknown, SymRange)):
                    args.append(StarUnknown(items if isinstance(items, Unknown) else self.unknown("symbolic range")))
                else:
                    args.extend(items)
            elif a.star == "**":
                if isinstance(v, dict):
                    for k, val in v.items():
                        if isinstance(k, SymKey):  # (entries that cannot be known: any parameter may be given)
                            why = k.key.reason if isinstance(k.key, Unknown) else "unknown keys"
                            return self.unknown(f"`**` of a mapping whose keys cannot be known: {why}")
                        if not isinstance(k, str):
                            return self.unknown("`**` with non-string keys")
                        kwargs[k] = val
                elif isinstance(v, Unknown):
                    kwargs["**"] = v
                else:
                    kwargs["**"] = self.unknown("`**` of a value that is not a known dict")
            elif a.keyword is not None:
                kwargs[a.keyword.value] = v
            else:
                args.append(v)
        self.set_pos(sf, node)
        result = self.call(func, args, kwargs, node=node, sf=sf)
        if isinstance(result, ModuleValue) and result.origin is None:
            result.origin = (node, sf)
            if not self.in_catalog(sf):
                result.origin_line = sf.line(node)
                result.origin_path = sf.path
        return result

    def _make_super(self, frame: Frame, node: cst.Call, sf: SourceFile) -> Any:
        if node.args:
            if len(node.args) != 2:
                return self.unknown("super() with unusual arguments")
            cls = self.eval(frame, node.args[0].value, sf)
            obj = self.eval(frame, node.args[1].value, sf)
            return SuperValue(obj, cls)
        fn = frame.func
        f: Optional[Frame] = frame
        while f is not None and (f.func is None or isinstance(f.func.node, cst.Lambda)):
            f = f.closure
        if f is None or f.cls is None or not isinstance(f.func, FunctionValue):
            return self.unknown("super() outside a method")
        params = f.func.node.params
        first = (list(params.posonly_params) + list(params.params))[:1]
        if not first:
            return self.unknown("super() in a method without self")
        del fn
        return SuperValue(f.locals.get(first[0].name.value), f.cls)

    def call(self, func: Any, args: List[Any], kwargs: Dict[str, Any], node: Any = None, sf: Any = None) -> Any:
        if isinstance(func, Unknown):
            self.unknown_calls += 1
            self._hand_over(func, args, kwargs, node, sf)
            return func
        if isinstance(func, Opaque):
            self.unknown_calls += 1
            func.used_as_value = True
            self._hand_over(func, args, kwargs, node, sf)
            return self.unknown(f"`{func.name}` is an unbound parameter; its result is unknown (bind it with --set {func.name}=...)")
        if isinstance(func, Intrinsic):
            star = next((a for a in args if isinstance(a, StarUnknown)), None)
            if star is not None:
                return Unknown(f"arguments of `{func.name}` come from `*` of an unknown value ({star.value.reason})",
                               self.line, self.path)
            return func.fn(*args, **kwargs)
        if isinstance(func, FunctionValue):
            return self.call_function(func, args, kwargs)
        if isinstance(func, BoundMethod):
            if isinstance(func.func, FunctionValue):
                return self.call_function(func.func, [func.obj] + args, kwargs, owner=func.cls)
            if isinstance(func.func, Intrinsic):
                return func.func.fn(func.obj, *args, **kwargs)
            return self.call(func.func, [func.obj] + args, kwargs)
        if isinstance(func, ClassValue):
            return self.instantiate(func, args, kwargs)
        if isinstance(func, Partial):
            merged = dict(func.kwargs)
            merged.update(kwargs)
            return self.call(func.func, list(func.args) + args, merged, node, sf)
        if isinstance(func, SuperValue):
            return self.unknown("calling super()")
        self._hand_over(func, args, kwargs, node, sf)
        return self.unknown("call of a value that is not callable or not known")

    def _hand_over(self, func: Any, args: List[Any], kwargs: Dict[str, Any], node: Any, sf: Any) -> None:
        """A call the evaluation does not follow gets modules (``self``, a child, a ModuleList, a list or dict of
        them): it may add, remove or replace what they hold, or register hooks on them (libs/torch.handed_over).
        A call of a modelled function never comes here."""
        if sf is not None and self.in_catalog(sf):
            return  # (torch's own layers, read from the catalog, call nothing that changes them)
        modules: List[ModuleValue] = []
        todo, seen = list(args) + list(kwargs.values()), 0
        while todo and seen < 10_000:
            v = todo.pop()
            seen += 1
            if isinstance(v, ModuleValue):
                if all(v is not m for m in modules):
                    modules.append(v)
            elif isinstance(v, (list, tuple)):
                todo.extend(v)
            elif isinstance(v, dict):
                todo.extend(v.values())
        if not modules:
            return
        if node is not None and sf is not None:
            text = " ".join(sf.code(node.func).split())
            name = text if len(text) <= 60 else text[:57] + "..."
        else:
            name = func.name if isinstance(func, Opaque) else "a function that cannot be known"
        line, path = self.line, self.path
        why = func.reason if isinstance(func, Unknown) else "it is an unbound parameter" if isinstance(func, Opaque) \
            else "it is not a known callable"
        for m in modules:
            self.torch.handed_over(m, f"`{name}(...)` at line {line}", why, line, path, hooks=True)

    def bind_args(self, fn: FunctionValue, args: List[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
        params = fn.node.params
        positional = list(params.posonly_params) + list(params.params)
        out: Dict[str, Any] = {}
        star_unknown = next((a for a in args if isinstance(a, StarUnknown)), None)
        if star_unknown is not None:
            idx = args.index(star_unknown)
            args = args[:idx]
        i = 0
        for p in positional:
            name = p.name.value
            if i < len(args):
                out[name] = args[i]
                i += 1
        extra = args[i:]
        if extra:
            if isinstance(params.star_arg, cst.Param):
                out[params.star_arg.name.value] = tuple(extra)
            else:
                raise EvalRaise(f"`{fn.name}` takes {len(positional)} positional arguments but {len(args)} were given",
                                self.line, self.path)
        elif isinstance(params.star_arg, cst.Param):
            out[params.star_arg.name.value] = (StarUnknownTuple(star_unknown.value),) if star_unknown else ()
        kw_names = {p.name.value for p in positional + list(params.kwonly_params)} - {p.name.value for p in params.posonly_params}
        rest: Dict[str, Any] = {}
        for k, v in kwargs.items():
            if k == "**":
                continue
            if k in kw_names:
                if k in out:
                    raise EvalRaise(f"`{fn.name}` got multiple values for argument `{k}`", self.line, self.path)
                out[k] = v
            elif params.star_kwarg is not None:
                rest[k] = v
            else:
                raise EvalRaise(f"`{fn.name}` got an unexpected keyword argument `{k}`", self.line, self.path)
        unknown_kw = kwargs.get("**")
        for p in positional + list(params.kwonly_params):
            name = p.name.value
            if name in out:
                continue
            src = star_unknown.value if star_unknown is not None else unknown_kw
            if src is not None:
                if name in fn.defaults:
                    out[name] = Unknown(f"`{name}` may come from `*args`/`**kwargs` ({src.reason})", self.line, self.path,
                                        maybe_state=maybe_state(fn.defaults[name]))
                else:
                    out[name] = Unknown(f"`{name}` comes from `*args`/`**kwargs` ({src.reason})", self.line, self.path)
            elif name in fn.defaults:
                out[name] = fn.defaults[name]
            else:
                raise EvalRaise(f"`{fn.name}` missing required argument `{name}`", self.line, self.path)
        if isinstance(params.star_kwarg, cst.Param):
            if unknown_kw is not None:
                rest["**"] = unknown_kw
            out[params.star_kwarg.name.value] = rest
        return out

    def call_function(self, fn: FunctionValue, args: List[Any], kwargs: Dict[str, Any], owner: Any = None) -> Any:
        if self.budget.depth > self.budget.max_depth:
            raise GiveUp("recursion too deep")
        if self.budget.depth >= 1 and id(fn.node) in self.budget.over_budget:
            # abandoned once already: the same code again would only burn the same budget
            self.note(f"call of `{fn.name}` cannot be evaluated: the call took too many steps to evaluate")
            return Unknown(f"`{fn.name}(...)` cannot be evaluated: too many steps", self.line, self.path)
        frame = Frame(fn.scope, fn.closure, fn, owner if owner is not None else fn.owner)
        frame.locals = self.bind_args(fn, args, kwargs)
        sf = fn.sf
        saved_forks = self.budget.enter_call(constructor=fn.name == "__init__")
        try:
            if isinstance(fn.node, cst.Lambda):
                return self.eval(frame, fn.node.body, sf)
            try:
                self.exec_block(frame, fn.node.body, sf, top=True)
            except Return as r:
                return r.value
            except (Break, Continue):
                raise GiveUp("break outside a loop")
            except GiveUp as exc:
                if self.budget.depth <= 1:
                    raise
                if isinstance(exc, CallBudget):
                    # the callers are not charged for the abandoned call (up to a bound on such calls)
                    self.budget.abandon_call(id(fn.node))
                # this call cannot be evaluated soundly: its result (and what it built) is unknown
                self.note(f"call of `{fn.name}` cannot be evaluated: {exc.reason}")
                if self.loading:  # at import: the tables its module keeps may miss what it would have added
                    self.taint_module_state(fn.scope, f"`{fn.name}` (called at import) cannot be evaluated")
                return Unknown(f"`{fn.name}(...)` cannot be evaluated: {exc.reason}", self.line, self.path)
            return None
        finally:
            self.budget.leave_call(saved_forks)

    def instantiate(self, cls: ClassValue, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        taint = cls.tainted()
        if taint is not None:  # a decorator, metaclass or hook the evaluation does not model made this class
            return Unknown(taint.reason, taint.line, taint.path)
        special = self.torch.instantiate_special(cls, args, kwargs)
        if special is not None:
            return special
        modelled = self.libs.instantiate(cls, args, kwargs)  # classes built on library bases (NamedTuple, ...)
        if modelled is not NOT_MINE:
            return modelled
        unknown_base = cls.has_unknown_base()
        if cls.is_enum():
            return self.enum_call(cls, args, kwargs)
        new, nowner = cls.user_hook("__new__")
        if new is not None:
            if not isinstance(new, FunctionValue):
                return Unknown(f"`{cls.name}.__new__` cannot be evaluated", self.line, self.path)
            obj = self.call_function(new, [cls] + args, kwargs, owner=nowner)
            if not (isinstance(obj, (ModuleValue, InstanceValue)) and isinstance(obj.cls, ClassValue)
                    and cls in obj.cls.mro()):
                return obj  # __new__ returned something else: __init__ does not run
        elif cls.is_module():
            obj = ModuleValue(cls, cls.qualname)
            if unknown_base is not None:
                obj.unknown_attrs["<base>"] = Entry(Unknown(f"base class of `{cls.name}` is unknown: {unknown_base.reason}",
                                                            unknown_base.line, unknown_base.path), self.line, self.path)
        else:
            if unknown_base is not None:
                return Unknown(f"class `{cls.name}` has an unknown base: {unknown_base.reason}", self.line, self.path)
            obj = InstanceValue(cls)
        init, owner, dc = None, None, None
        for c in cls.mro():  # the __init__ Python finds: written in a class body, or made by @dataclass
            if "__init__" in c.attrs:
                init, owner = c.attrs["__init__"], c
                break
            if c.is_dataclass and c.dc_options.get("init", True) is not False:
                dc = c
                break
        if isinstance(init, FunctionValue):
            self.call_function(init, [obj] + args, kwargs, owner=owner)
        elif dc is not None:
            self._dataclass_init(cls, obj, args, kwargs, dc)
        elif init is not None and not isinstance(init, Unknown):
            return Unknown(f"`{cls.name}.__init__` cannot be evaluated", self.line, self.path)
        elif isinstance(init, Unknown):
            return init
        elif init is None and not isinstance(obj, ModuleValue) and new is None and (args or kwargs):
            if all(isinstance(b, ClassValue) for c in cls.mro() for b in c.bases):
                # object.__init__ takes no arguments: Python raises TypeError (nothing made an __init__ we miss:
                # decorators and metaclasses that are not modelled taint the class above)
                raise EvalRaise(f"{cls.name}() takes no arguments", self.line, self.path)
            return Unknown(f"class `{cls.name}` is built on a base that is not modelled", self.line, self.path)
        if isinstance(obj, ModuleValue):
            extra, _ = cls.find("get_extra_state")
            if extra is not None:
                obj.extra_state = True
        return obj

"""Class and function construction: ``def`` and ``class`` statements, decorators, ``__init_subclass__``, enums and
dataclasses."""

from __future__ import annotations

from typing import Any, Dict, List

import libcst as cst

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.budget import _DecoratorBudget
from statedict_lint.predict.engine.common import _bound_names, _dotted, _is_property, _plain, _same_plain, _target_names
from statedict_lint.predict.engine.scopes import Frame
from statedict_lint.predict.signals import EvalRaise, GiveUp
from statedict_lint.predict.values import (
    BoundMethod,
    ClassValue,
    FunctionValue,
    InstanceValue,
    Intrinsic,
    Opaque,
    Partial,
    StarUnknown,
    Unknown,
)
from statedict_lint.source.loader import SourceFile


class ClassesMixin(EngineBase):

    # -- definitions -------------------------------------------------------------------------
    def define_function(self, frame: Frame, node: cst.FunctionDef, sf: SourceFile, owner: Any = None) -> FunctionValue:
        defaults = self._param_defaults(frame, node.params, sf)
        fn = FunctionValue(node, frame.scope, frame if frame.func is not None else None, node.name.value, defaults, owner)
        fn.sf = sf
        fn.decorators = [_decorator_name(d.decorator) for d in node.decorators]
        value: Any = fn
        for d in reversed(node.decorators):
            dname = _decorator_name(d.decorator)
            if dname in _TRANSPARENT_DECORATORS or dname.endswith((".setter", ".deleter", ".getter")) or \
                    self.in_catalog(sf) or owner is not None and dname in _CACHE_DECORATORS:
                # (a cached method is called as a plain method: its cache is per `self`, not modelled)
                continue
            # any other decorator is run, as Python does: its result is the value (a decorator the evaluation
            # cannot follow makes the function unknown, with the decorator's line)
            value = self._apply_decorator(frame, d, value, f"function `{node.name.value}`", sf,
                                          _decorator_line(sf, node, d))
        if owner is None:
            self._bind_name(frame, node.name.value, value)
        return value

    def _bind_name(self, frame: Frame, name: str, value: Any) -> None:
        if frame.globals is not None and name in frame.globals:
            frame.scope.values[name] = value
        else:
            frame.locals[name] = value

    def _apply_decorator(self, frame: Frame, d: cst.Decorator, value: Any, what: str, sf: SourceFile,
                         line: int = 0) -> Any:
        line = sf.line(d.decorator) or line
        text = sf.code(d.decorator).strip()
        if isinstance(value, Unknown):
            return value
        saved = (self.line, self.path, self.budget.step_limit)
        deco: Any = None
        try:
            self.set_pos(sf, d)
            deco = self.eval(frame, d.decorator, sf)
            target = deco.func if isinstance(deco, BoundMethod) else deco
            if isinstance(target, FunctionValue) and id(target.node) in self.budget.over_budget:
                raise _DecoratorBudget(f"it takes more than {self.budget.decorator_steps} steps at import")
            if self.loading:
                self.budget.limit_import(self.budget.decorator_steps)
            out = self.call(deco, [value], {})
        except (EvalRaise, GiveUp) as exc:
            why = exc.message if isinstance(exc, EvalRaise) else exc.reason
            target = deco.func if isinstance(deco, BoundMethod) else deco
            if isinstance(target, Partial):
                target = target.func
            if isinstance(target, FunctionValue):  # (a registry it fills may miss what it decorates)
                self.taint_module_state(target.scope, f"decorator `{text}` (line {line}) cannot be evaluated")
            if isinstance(exc, _DecoratorBudget):  # (only the decorator itself is not run again)
                if isinstance(target, FunctionValue):
                    self.budget.over_budget.add(id(target.node))
                elif isinstance(target, Partial) and isinstance(target.func, FunctionValue):
                    self.budget.over_budget.add(id(target.func.node))
            out = Unknown(f"{why}", line, sf.path)
        finally:
            self.line, self.path, self.budget.step_limit = saved
        if isinstance(out, (Unknown, Opaque)):
            why = out.reason if isinstance(out, Unknown) else f"`{out.name}` is unbound"
            return Unknown(f"{what} is wrapped by decorator `{text}` (line {line}), which cannot be evaluated: "
                           f"{why}", line, sf.path)
        return out

    def _param_defaults(self, frame: Frame, params: cst.Parameters, sf: SourceFile) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
            if p.default is not None:
                try:
                    out[p.name.value] = self.eval(frame, p.default, sf)
                except (EvalRaise, GiveUp) as exc:
                    out[p.name.value] = Unknown(f"default of `{p.name.value}` cannot be evaluated: {exc}")
        return out

    def define_class(self, frame: Frame, node: cst.ClassDef, sf: SourceFile) -> ClassValue:
        bases = []
        for arg in node.bases:
            if arg.keyword is not None or arg.star:
                continue
            b = self.eval(frame, arg.value, sf)
            if isinstance(b, Opaque):
                b = Unknown(f"base class `{b.name}` is a parameter", sf.line(node), sf.path)
            bases.append(b)
        scope = frame.scope
        qual = f"{scope.qualname}.{node.name.value}" if scope.qualname else node.name.value
        if self.in_catalog(sf):
            qual = f"torch.nn.{node.name.value}"
        cls = ClassValue(node.name.value, qual, bases, scope, node)
        cls.sf = sf
        class_kwargs: Dict[str, Any] = {}
        for arg in node.keywords:
            if arg.keyword is None:  # `**kwargs` in a class statement
                cls.taint = Unknown(f"class `{node.name.value}` is created with `**` keywords", sf.line(node), sf.path)
                continue
            kv = self.eval(frame, arg.value, sf)
            if arg.keyword.value == "metaclass":
                if not (kv is self.builtins.get("type") or getattr(kv, "qualname", "") in _PLAIN_METACLASSES
                        or isinstance(kv, ClassValue) and kv.intrinsic == "enum"):
                    text = sf.code(arg.value).strip()
                    cls.taint = Unknown(f"class `{node.name.value}` has metaclass `{text}` (line {sf.line(node)}), "
                                        f"which is not modelled", sf.line(node), sf.path)
                    # its __new__/__init__ run now and may fill the tables of the metaclass's module (registries)
                    meta_scope = kv.scope if isinstance(kv, ClassValue) and kv.node is not None else None
                    for sc in {id(s): s for s in (meta_scope, scope) if s is not None}.values():
                        self.taint_module_state(sc, f"metaclass `{text}` of class `{node.name.value}` "
                                                    f"(line {sf.line(node)}), which is not modelled")
            else:
                class_kwargs[arg.keyword.value] = kv
        body_frame = Frame(scope, frame if frame.func is not None else None, frame.func, frame.cls)
        body_frame.locals = dict()
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef):
                fn = self.define_function(body_frame, stmt, sf, owner=cls)
                decos_f = [_decorator_name(d.decorator) for d in stmt.decorators]
                if any(d.endswith((".setter", ".deleter")) for d in decos_f):
                    # `@x.setter`: the property keeps its getter; the setter runs on assignment (setattr)
                    prop = cls.attrs.get(stmt.name.value)
                    if any(d.endswith(".setter") for d in decos_f):
                        cls.attrs[f"<setter {stmt.name.value}>"] = fn
                        if isinstance(fn, FunctionValue) and isinstance(prop, FunctionValue) and _is_property(prop):
                            prop.setter = fn
                    continue
                cls.attrs[stmt.name.value] = fn
                continue
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        name = small.target.value
                        cls.fields.append((name, small.value, small.annotation.annotation))
                        if small.value is not None:
                            try:
                                v = self.eval(body_frame, small.value, sf)
                            except (EvalRaise, GiveUp) as exc:
                                v = Unknown(f"class attribute `{name}`: {exc}", sf.line(small), sf.path)
                            cls.attrs[name] = v
                            body_frame.locals[name] = v
                    elif isinstance(small, cst.Assign):
                        try:
                            v = self.eval(body_frame, small.value, sf)
                        except (EvalRaise, GiveUp) as exc:
                            v = Unknown(f"class attribute: {exc}", sf.line(small), sf.path)
                        for t in small.targets:
                            for name in _target_names(t.target):
                                cls.attrs[name] = v
                                body_frame.locals[name] = v
            elif isinstance(stmt, cst.ClassDef):
                inner = self.define_class(body_frame, stmt, sf)
                cls.attrs[stmt.name.value] = inner
            else:  # other statements in a class body (if/for/try...): the names they bind are unknown
                for name in _bound_names(stmt):
                    cls.attrs[name] = Unknown(f"class attribute `{name}` is set by a statement that is not "
                                              f"evaluated (line {sf.line(stmt)})", sf.line(stmt), sf.path)
        if self.in_catalog(sf) and node.name.value == "Module":
            cls.intrinsic = "Module"
        self._init_subclass(cls, class_kwargs, sf.line(node), sf.path)
        value: Any = cls
        for d in reversed(node.decorators):
            if self.in_catalog(sf):
                break
            out = self._apply_decorator(frame, d, value, f"class `{node.name.value}`", sf,
                                        _decorator_line(sf, node, d))
            if isinstance(out, Unknown) and isinstance(value, ClassValue):
                # keep the class (it is listed, its source lines known) but nothing built from it is claimed
                value.taint = value.taint or out
                continue
            value = out
        self._bind_name(frame, node.name.value, value)
        return cls

    def _init_subclass(self, cls: ClassValue, kwargs: Dict[str, Any], line: int, path: str) -> None:
        """``__init_subclass__`` of a base class read from source runs when the subclass is created."""
        for c in cls.mro()[1:]:
            if c.intrinsic or c.qualname.startswith("torch."):
                continue
            hook = c.attrs.get("__init_subclass__")
            if hook is None:
                continue
            if not isinstance(hook, FunctionValue):
                cls.taint = cls.taint or Unknown(f"`__init_subclass__` of `{c.name}` cannot be evaluated", line, path)
                return
            try:
                self.call_function(hook, [cls], dict(kwargs), owner=c)
            except (EvalRaise, GiveUp) as exc:
                why = exc.message if isinstance(exc, EvalRaise) else exc.reason
                cls.taint = cls.taint or Unknown(f"`{c.name}.__init_subclass__` for class `{cls.name}` cannot be "
                                                 f"evaluated: {why}", line, path)
            return

    def enum_call(self, cls: ClassValue, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        """``Format(value)``: the member with that value, when it is known; otherwise an unknown value."""
        if len(args) == 1 and not kwargs and _plain(args[0]):
            for name in list(cls.attrs):
                m = self.enum_member(cls, name)
                if isinstance(m, InstanceValue) and _same_plain(m.attrs.get("value"), args[0]):
                    return m
        return Unknown(f"a member of enum `{cls.name}`", self.line, self.path, False)

    def enum_member(self, cls: ClassValue, name: str) -> Any:
        """``Color.RED``: one object per member (so ``is`` works), with ``name`` and ``value``; methods and
        properties of the enum class apply to it. Members of enums with a custom ``__new__``/``__init__`` or
        ``auto()`` values are unknown values."""
        members = cls.enum_members
        if members is None:
            members = cls.enum_members = {}
        if name in members:
            return members[name]
        raw = cls.attrs.get(name)
        # members that are also ints or strings (IntEnum, StrEnum, `class Fmt(str, Enum)`) compare equal to
        # plain values: those stay unknown values
        plain_enum = all(isinstance(b, ClassValue) and (b.intrinsic == "enum" and b.qualname == "enum.Enum"
                                                        or not b.intrinsic) for c in cls.mro() for b in c.bases)
        ok = (plain_enum and not name.startswith("_")
              and not isinstance(raw, (FunctionValue, ClassValue, Unknown, Intrinsic))
              and _plain(raw) and cls.user_hook("__new__")[0] is None)
        init, init_owner = cls.user_hook("__init__")
        if ok and init is not None and not isinstance(init, FunctionValue):
            ok = False
        if not ok:
            return Unknown(f"enum member `{cls.name}.{name}`", self.line, self.path, False)
        m = InstanceValue(cls)
        m.attrs["name"] = name
        m.attrs["value"] = raw
        m.attrs["_value_"] = raw
        m.attrs["_name_"] = name
        members[name] = m
        if init is not None:
            # Enum runs the class's __init__ on each member with the value unpacked when it is a tuple
            args = list(raw) if isinstance(raw, tuple) else [raw]
            try:
                self.call_function(init, [m] + args, {}, owner=init_owner)
            except (EvalRaise, GiveUp):
                del members[name]
                return Unknown(f"enum member `{cls.name}.{name}`: its __init__ cannot be evaluated",
                               self.line, self.path, False)
        return m

    def dataclass_fields(self, cls: ClassValue) -> List[Dict[str, Any]]:
        """The fields of a dataclass as ``dataclasses`` collects them: base classes first, a redefinition
        keeps its place; ``ClassVar`` is no field, ``InitVar`` is an argument of __init__/__post_init__ only,
        ``KW_ONLY`` and ``kw_only=`` make keyword-only fields, ``field(init=False)`` is set but no argument."""
        out: List[Dict[str, Any]] = []
        seen: Dict[str, int] = {}
        for c in reversed(cls.mro()):
            if not c.is_dataclass:
                continue
            kw_only = c.dc_options.get("kw_only", False) is True
            for name, default, ann in c.fields:
                if _is_classvar(ann):
                    continue
                ann_name = _dotted(ann.value if isinstance(ann, cst.Subscript) else ann)
                if ann_name.split(".")[-1] == "KW_ONLY":
                    kw_only = True
                    continue
                f: Dict[str, Any] = {"name": name, "default": None, "factory": None, "init": True,
                                     "kw_only": kw_only, "initvar": ann_name.split(".")[-1] == "InitVar",
                                     "owner": c, "has_default": default is not None}
                if default is not None:
                    self._dataclass_field_spec(c, default, f)
                if name in seen:
                    out[seen[name]] = f
                else:
                    seen[name] = len(out)
                    out.append(f)
        return out

    def _dataclass_hashes_by_value(self, cls: ClassValue, dc: ClassValue, fields: List[Dict[str, Any]]) -> bool:
        """Whether instances of ``cls`` (frozen; ``dc`` wrote its __init__) hash and compare as the __eq__ and
        __hash__ @dataclass writes (eq=True, frozen=True): by exact class and the tuple of every field."""
        for c in cls.mro():
            if c.is_dataclass and (c.dc_options.get("eq", True) is not True
                                   or c.dc_options.get("unsafe_hash", False) is not False):
                return False
            if c.node is not None and ("__eq__" in c.attrs or "__hash__" in c.attrs):
                return False  # written by the user (or an unmodelled way): not the generated ones
        return not any(f.get("key_opts") for f in fields)

    def _dataclass_field_spec(self, c: ClassValue, node: Any, f: Dict[str, Any]) -> None:
        if c.scope is None:  # (a class of a library model: no source, no field() calls to read)
            return
        frame = Frame(c.scope, None)
        frame.locals = dict()
        sf = c.sf or c.scope.sf
        if isinstance(node, cst.Call):
            fn = self.eval(frame, node.func, sf)
            if isinstance(fn, Intrinsic) and fn.name == "dataclasses.field":
                f["has_default"] = False
                for a in node.args:
                    if a.keyword is None:
                        f["default"] = Unknown("dataclasses.field with positional arguments", self.line, self.path)
                        f["has_default"] = True
                        continue
                    k = a.keyword.value
                    if k == "default":
                        f["default_node"] = (frame, a.value, sf)
                        f["has_default"] = True
                    elif k == "default_factory":
                        f["factory"] = (frame, a.value, sf)
                        f["has_default"] = True
                    elif k in ("compare", "hash"):
                        f["key_opts"] = True  # fields left out of __eq__/__hash__: not modelled
                    elif k in ("init", "kw_only"):
                        v = self.eval(frame, a.value, sf)
                        if isinstance(v, bool):
                            f[k] = v
                        else:
                            f["default"] = Unknown(f"field option `{k}` cannot be known", self.line, self.path)
                return
        f["default_node"] = (frame, node, sf)

    def dataclass_default(self, f: Dict[str, Any]) -> Any:
        """A field's ``default`` value (evaluated where the class body wrote it)."""
        if f.get("default_node") is not None:
            frame, node, sf = f["default_node"]
            return self.eval(frame, node, sf)
        return f["default"]

    def dataclass_factory(self, f: Dict[str, Any]) -> Any:
        frame, node, sf = f["factory"]
        return self.eval(frame, node, sf)

    def _dataclass_value(self, f: Dict[str, Any]) -> Any:
        if f.get("factory") is not None:
            frame, node, sf = f["factory"]
            return self.call(self.eval(frame, node, sf), [], {})
        if f.get("default_node") is not None:
            frame, node, sf = f["default_node"]
            return self.eval(frame, node, sf)
        return f["default"]

    def _dataclass_init(self, cls: ClassValue, obj: Any, args: List[Any], kwargs: Dict[str, Any],
                        dc: ClassValue) -> None:
        """The ``__init__`` that ``@dataclass`` wrote for class ``dc``, bound like Python binds it (TypeError for
        a missing, repeated or unexpected argument), then ``__post_init__`` with the InitVar values."""
        fields = self.dataclass_fields(dc)
        frozen = any(c.is_dataclass and c.dc_options.get("frozen") is True for c in cls.mro())
        star = next((a for a in args if isinstance(a, StarUnknown)), None)
        if star is not None:
            args = args[:args.index(star)]
        unknown_kw = kwargs.get("**")
        positional = [f for f in fields if f["init"] and not f["kw_only"]]
        if len(args) > len(positional):
            raise EvalRaise(f"{cls.name}.__init__() takes {len(positional) + 1} positional arguments but "
                            f"{len(args) + 1} were given", self.line, self.path)
        given: Dict[str, Any] = {f["name"]: a for f, a in zip(positional, args)}
        init_names = {f["name"] for f in fields if f["init"]}
        for k, v in kwargs.items():
            if k == "**":
                continue
            if k not in init_names:
                raise EvalRaise(f"{cls.name}.__init__() got an unexpected keyword argument '{k}'", self.line, self.path)
            if k in given:
                raise EvalRaise(f"{cls.name}.__init__() got multiple values for argument '{k}'", self.line, self.path)
            given[k] = v
        initvars: List[Any] = []
        for f in fields:
            name = f["name"]
            if f["init"] and name in given:
                v = given[name]
            elif f["init"] and (star is not None or unknown_kw is not None):
                v = Unknown(f"`{name}` may come from `*args`/`**kwargs`", self.line, self.path)
            elif f["has_default"] or not f["init"]:
                if not f["has_default"]:
                    continue  # field(init=False) without a default: not set by __init__
                v = self._dataclass_value(f)
            else:
                raise EvalRaise(f"{cls.name}.__init__() missing required argument: '{name}'", self.line, self.path)
            if f["initvar"]:
                initvars.append(v)
                continue
            if isinstance(obj, InstanceValue) and frozen:
                obj.attrs[name] = v  # a frozen dataclass's __init__ uses object.__setattr__
            else:
                self.setattr(obj, name, v)
        if isinstance(obj, InstanceValue) and frozen:
            obj.frozen = True
            if cls.dc_key_fields is None and self._dataclass_hashes_by_value(cls, dc, fields):
                cls.dc_key_fields = tuple(f["name"] for f in fields if not f["initvar"])
        post, powner = cls.find("__post_init__")
        if isinstance(post, FunctionValue):
            self.call_function(post, [obj] + initvars, {}, owner=powner)
        elif post is not None:
            raise GiveUp(f"`{cls.name}.__post_init__` cannot be evaluated")


# decorators whose effect the evaluator models through FunctionValue.decorators (or that change nothing
# construction code can observe): the function itself is kept
_TRANSPARENT_DECORATORS = frozenset((
    "property", "staticmethod", "classmethod", "torch.no_grad", "torch.jit.ignore", "torch.jit.unused",
    "torch.jit.export", "abstractmethod", "abc.abstractmethod", "functools.wraps", "wraps", "torch.compile",
    "overload", "typing.overload",
    "torch.jit.script", "torch.fx.wrap", "override", "typing.override", "typing_extensions.override",
    "final", "typing.final", "cached_property", "functools.cached_property",
))
_CACHE_DECORATORS = frozenset(("lru_cache", "functools.lru_cache", "cache", "functools.cache"))
# metaclasses that do not change how a class is called or what its instances hold
_PLAIN_METACLASSES = frozenset(("abc.ABCMeta", "enum.EnumMeta", "enum.EnumType", "typing.Protocol"))


def _decorator_line(sf: SourceFile, node: Any, d: cst.Decorator) -> int:
    """The line of a decorator without a call (only statements and calls carry lines): one line per decorator
    above the ``def``/``class`` line."""
    line = sf.line(node)
    if not line:
        return 0
    return max(1, line - (len(node.decorators) - list(node.decorators).index(d)))


def _decorator_name(node: Any) -> str:
    if isinstance(node, cst.Call):
        return _dotted(node.func)
    return _dotted(node)


def _is_classvar(ann: Any) -> bool:
    name = _dotted(ann.value if isinstance(ann, cst.Subscript) else ann)
    return name.split(".")[-1] == "ClassVar"

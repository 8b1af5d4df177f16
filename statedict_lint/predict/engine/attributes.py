"""Attribute access: reading, writing and deleting attributes of objects, classes, instances and ``super()``."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.common import _is_property
from statedict_lint.predict.signals import EvalRaise, GiveUp
from statedict_lint.predict.values import (
    TABLE_MUTATORS,
    BoundMethod,
    BufferMarker,
    ClassValue,
    DtypeValue,
    Entry,
    FunctionValue,
    InstanceValue,
    Intrinsic,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Partial,
    SuperValue,
    TableView,
    TensorSpec,
    Unknown,
    maybe_state,
)
from statedict_lint.torchfacts import CONTAINERS, MODULE_ATTRS


class AttributesMixin(EngineBase):

    def delattr(self, obj: Any, name: str) -> None:
        """``del obj.name`` / ``delattr(obj, name)``: nn.Module.__delattr__ unregisters a parameter, buffer or
        submodule; a ``__delattr__`` defined by the class is run as Python runs it."""
        if isinstance(obj, (ModuleValue, InstanceValue)) and isinstance(obj.cls, ClassValue):
            hook, howner = obj.cls.user_hook("__delattr__")
            if hook is not None:
                if not isinstance(hook, FunctionValue):
                    raise GiveUp(f"`{obj.cls.name}.__delattr__` cannot be evaluated")
                self.call_function(hook, [obj, name], {}, owner=howner)
                return
        self.raw_delattr(obj, name)

    def delattr_named(self, obj: Any, name: Any) -> None:
        if not isinstance(name, str):
            raise GiveUp("__delattr__ with a name that cannot be known")
        self.raw_delattr(obj, name)

    def raw_delattr(self, obj: Any, name: str) -> None:
        if isinstance(obj, ModuleValue):
            obj.remove(name)
        elif isinstance(obj, InstanceValue):
            obj.attrs.pop(name, None)

    def setattr(self, obj: Any, name: str, value: Any, hook_ok: bool = True) -> None:
        """``obj.name = value``; ``hook_ok=False`` is ``object.__setattr__``: no user ``__setattr__``, but
        data descriptors (properties with setters) still apply, as in Python."""
        if isinstance(obj, (ModuleValue, InstanceValue)) and isinstance(obj.cls, ClassValue):
            hook, howner = obj.cls.user_hook("__setattr__") if hook_ok else (None, None)
            if hook is not None:  # `self.x = v` calls type(self).__setattr__, as in Python
                if not isinstance(hook, FunctionValue):
                    raise GiveUp(f"`{obj.cls.name}.__setattr__` cannot be evaluated")
                before, notes = self.unknown_calls, len(self.notes)
                result = self.call_function(hook, [obj, name, value], {}, owner=howner)
                if self.unknown_calls != before or isinstance(result, Unknown) or len(self.notes) != notes:
                    # the hook handed the value to code we could not follow, or could not be evaluated itself:
                    # where the value went (and what else the hook wrote) is not known
                    why = Unknown(f"`.{name} = ...` goes through `{obj.cls.name}.__setattr__` (line "
                                  f"{hook.sf.line(hook.node)}), which cannot be followed", self.line, self.path)
                    if isinstance(obj, ModuleValue):
                        obj.unknown_attrs[f"<{name} through __setattr__>"] = Entry(why, self.line, self.path)
                    else:  # never keep the value the attribute had before the write: it was overwritten
                        obj.tainted = obj.tainted or why
                return
            if not isinstance(value, (ModuleValue, ParamValue, BufferMarker)) and not (
                    isinstance(obj, ModuleValue) and (name in obj.params or name in obj.buffers or name in obj.children)):
                prop, powner = obj.cls.find(name)
                if isinstance(prop, FunctionValue) and _is_property(prop):
                    if prop.setter is None:
                        raise EvalRaise(f"AttributeError: property '{name}' of '{obj.cls.name}' object has no setter",
                                        self.line, self.path)
                    self.call_function(prop.setter, [obj, value], {}, owner=powner)
                    return
                setter = self._descriptor(obj.cls, name, "__set__")
                if setter is not None:
                    desc, fn, fowner = setter
                    self.call_function(fn, [desc, obj, value], {}, owner=fowner)
                    return
        self.raw_setattr(obj, name, value)

    def _descriptor(self, cls: ClassValue, name: str, kind: str) -> Optional[Tuple[Any, Any, Any]]:
        """(descriptor, its ``__get__``/``__set__``, owner) when class attribute ``name`` is a descriptor
        object whose class (read from source) defines ``kind``."""
        attr, owner = cls.find(name)
        if owner is None or not isinstance(attr, InstanceValue) or not isinstance(attr.cls, ClassValue):
            return None
        fn, fowner = attr.cls.user_hook(kind)
        if fn is None:
            return None
        if not isinstance(fn, FunctionValue):
            raise GiveUp(f"descriptor `{name}` of class `{cls.name}` cannot be evaluated")
        return attr, fn, fowner

    def raw_setattr(self, obj: Any, name: str, value: Any) -> None:
        """``object.__setattr__`` / ``nn.Module.__setattr__``: no user hook."""
        if isinstance(obj, ModuleValue):
            self.torch.module_setattr(obj, name, value)
        elif isinstance(obj, InstanceValue):
            if obj.frozen:
                raise EvalRaise(f"dataclasses.FrozenInstanceError: cannot assign to field '{name}'", self.line, self.path)
            setter, owner = obj.cls.find(f"<setter {name}>") if isinstance(obj.cls, ClassValue) else (None, None)
            if isinstance(setter, FunctionValue):
                self.call_function(setter, [obj, value], {}, owner=owner)
                return
            obj.attrs[name] = value
        elif isinstance(obj, ParamValue) and name == "data" and isinstance(value, TensorSpec):
            obj.tensor = value
        elif isinstance(obj, (TensorSpec, ParamValue)) and name == "data":
            # `buf.data = t`: the tensor itself now holds t (every reference to it sees the new shape and dtype)
            self.torch.replace_tensor(obj.tensor if isinstance(obj, ParamValue) else obj, value,
                                              f"`.data` is assigned a value that cannot be known (line {self.line})")
        elif isinstance(obj, (TensorSpec, ParamValue)) and name == "requires_grad":
            return
        elif isinstance(obj, Opaque):
            # code writes an attribute of an unbound value (T5/Udop: `decoder_config = copy.deepcopy(config);
            # decoder_config.is_decoder = True`): reading it back as the unbound attribute would be a guess, and
            # copies of an Opaque are the same object -- what is read afterwards is unknown
            obj.bound[name] = Unknown(f"`{obj.name}.{name}` is assigned by the code on a value that is not bound "
                                      f"(bind {obj.name} to decide)", self.line, self.path, maybe_state(value))
        elif isinstance(obj, Unknown):
            return
        elif isinstance(obj, ClassValue):
            obj.attrs[name] = value
        else:
            return  # attributes on other objects do not affect the state_dict

    def getattr(self, obj: Any, name: str) -> Any:
        if isinstance(obj, Unknown):
            if isinstance(obj, TableView) and name in TABLE_MUTATORS:
                obj.forget()
            return obj
        if isinstance(obj, Opaque):
            return self._opaque_attr(obj, name)
        if isinstance(obj, NamespaceValue):
            return self.getattr_ns(obj, name, self.line, self.path)
        if isinstance(obj, ModuleValue):
            found, v = obj.lookup(name)
            if found:
                if isinstance(obj.cls, ClassValue) and name in obj.attrs:  # a property wins over the instance dict
                    prop, powner = obj.cls.find(name)
                    if isinstance(prop, FunctionValue) and _is_property(prop):
                        return self._bind(obj, prop, powner)
                return v
            if isinstance(obj.cls, ClassValue):
                attr, owner = obj.cls.find(name)
                if owner is not None:  # (a class attribute may be None)
                    getter = self._descriptor(obj.cls, name, "__get__")
                    if getter is not None:
                        return self.call_function(getter[1], [getter[0], obj, obj.cls], {}, owner=getter[2])
                    return self._bind(obj, attr, owner)
                if name == "__dict__":
                    self.note("`__dict__` of a module is not modelled: what is written through it cannot be known")
                    return self.unknown("`__dict__` of a module")
                if name == "__class__":
                    return obj.cls
                hook, howner = obj.cls.user_hook("__getattr__")
                if hook is not None and name not in MODULE_ATTRS:
                    if not isinstance(hook, FunctionValue):
                        return self.unknown(f"`{obj.cls.name}.__getattr__` cannot be evaluated")
                    return self.call_function(hook, [obj, name], {}, owner=howner)
            return self.torch.module_attr(obj, name)
        if isinstance(obj, InstanceValue):
            if obj.tainted is not None:
                return Unknown(obj.tainted.reason, obj.tainted.line, obj.tainted.path)
            if isinstance(obj.cls, ClassValue):
                hook, howner = obj.cls.user_hook("__getattribute__")
                if hook is not None:  # every attribute access goes through it, as in Python
                    if not isinstance(hook, FunctionValue):
                        return self.unknown(f"`{obj.cls.name}.__getattribute__` cannot be evaluated")
                    return self.call_function(hook, [obj, name], {}, owner=howner)
            return self.instance_attr(obj, name)
        if isinstance(obj, ClassValue):
            attr, owner = obj.find(name)
            taint = obj.tainted()
            if taint is not None and name != "__name__":
                return Unknown(taint.reason, taint.line, taint.path)
            if obj.intrinsic == "object" and owner is None:
                special = self._object_method(name)
                if special is not None:
                    return special
            if name == "__init__":
                generated = self._generated_init(obj.mro())
                if generated is not None:
                    return generated
            if name == "__dict__":
                return obj.attrs  # (Python gives a read-only view of the same mapping)
            if owner is not None and obj.is_enum() and not isinstance(attr, FunctionValue) and \
                    "property" not in getattr(attr, "decorators", ()):
                return self.enum_member(obj, name)
            if owner is not None:
                if isinstance(attr, FunctionValue) and "classmethod" in attr.decorators:
                    return BoundMethod(obj, attr, owner)
                return attr
            if name == "__name__":
                return obj.name
            return self.torch.class_attr(obj, name)
        if isinstance(obj, SuperValue):
            return self._super_attr(obj, name)
        if isinstance(obj, (TensorSpec, ParamValue, DtypeValue)):
            return self.torch.tensor_attr(obj, name)
        if isinstance(obj, Partial):
            if name == "func":
                return obj.func
            if name == "keywords":
                return dict(obj.kwargs)
            return self.unknown(f"attribute `{name}` of a partial")
        if isinstance(obj, FunctionValue):
            if name == "__name__":
                return obj.name
            return self.unknown(f"attribute `{name}` of function `{obj.name}`")
        if isinstance(obj, Intrinsic) and hasattr(obj, "attr"):  # (a wrapper with attributes of its own)
            return obj.attr(name)
        return self.pyvalues.python_attr(obj, name)

    def instance_attr(self, obj: InstanceValue, name: str) -> Any:
        """``object.__getattribute__`` (and ``__getattr__`` when it fails) for an instance of a plain class."""
        cls = obj.cls if isinstance(obj.cls, ClassValue) else None
        if cls is not None and name in obj.attrs:  # a property on the class wins over the instance dict
            prop, powner = cls.find(name)
            if isinstance(prop, FunctionValue) and _is_property(prop):
                return self._bind(obj, prop, powner)
        if cls is not None and name not in obj.attrs:
            getter = self._descriptor(cls, name, "__get__")
            if getter is not None:
                return self.call_function(getter[1], [getter[0], obj, cls], {}, owner=getter[2])
        elif cls is not None and self._descriptor(cls, name, "__set__") is not None:  # a data descriptor wins
            getter = self._descriptor(cls, name, "__get__")
            if getter is not None:
                return self.call_function(getter[1], [getter[0], obj, cls], {}, owner=getter[2])
        if name in obj.attrs:
            return obj.attrs[name]
        attr, owner = cls.find(name) if cls is not None else (None, None)
        if owner is not None:
            return self._bind(obj, attr, owner)
        if name == "__class__":
            return obj.cls
        if name == "__dict__":
            return obj.attrs  # the very dict: `self.__dict__.update(kwargs)` sets attributes
        if cls is not None:
            hook, howner = cls.user_hook("__getattr__")
            if hook is not None:
                if not isinstance(hook, FunctionValue):
                    return self.unknown(f"`{cls.name}.__getattr__` cannot be evaluated")
                return self.call_function(hook, [obj, name], {}, owner=howner)
        if obj.items is not None:
            return self.pyvalues.python_attr(obj.items, name)
        return self.unknown(f"object of class `{getattr(obj.cls, 'name', '?')}` has no attribute `{name}`")

    def _generated_init(self, mro: List[ClassValue]) -> Optional[Intrinsic]:
        """``cls.__init__`` when ``@dataclass`` wrote it (the first class of ``mro`` that has an __init__)."""
        for c in mro:
            if "__init__" in c.attrs:
                return None
            if c.is_dataclass and c.dc_options.get("init", True) is not False:
                dc = c
                return Intrinsic(f"{c.name}.__init__", lambda o, *a, **k: self._dataclass_init(
                    o.cls if isinstance(o, (ModuleValue, InstanceValue)) else dc, o, list(a), k, dc))
        return None

    def _object_method(self, name: str) -> Any:
        """``object.__setattr__(self, k, v)`` and friends, called explicitly (frozen dataclasses, hooks)."""
        if name == "__setattr__":
            def set_(o: Any, k: Any, v: Any) -> None:
                if isinstance(o, InstanceValue) and isinstance(k, str):
                    if o.frozen:  # a frozen dataclass's own __init__/__post_init__ writes through object.__setattr__
                        o.attrs[k] = v
                    else:
                        self.setattr(o, k, v, hook_ok=False)
                elif isinstance(o, ModuleValue) and isinstance(k, str):
                    prop, _ = o.cls.find(k) if isinstance(o.cls, ClassValue) else (None, None)
                    if (isinstance(prop, FunctionValue) and _is_property(prop)) or (
                            isinstance(o.cls, ClassValue) and self._descriptor(o.cls, k, "__set__") is not None):
                        self.setattr(o, k, v, hook_ok=False)  # a data descriptor applies, as in Python
                    else:
                        self.torch.object_setattr(o, k, v)  # the instance __dict__: never registered
                else:
                    raise GiveUp("object.__setattr__ on a value that is not known")
            return Intrinsic("object.__setattr__", set_)
        if name == "__getattribute__":
            return Intrinsic("object.__getattribute__", lambda o, k: self.instance_attr(o, k)
                             if isinstance(o, InstanceValue) and isinstance(k, str) else self.getattr(o, k))
        if name == "__new__":
            return Intrinsic("object.__new__", lambda c, *a, **k: self._object_new(c))
        if name == "__init__":
            return Intrinsic("object.__init__", lambda *a, **k: None)
        if name == "__init_subclass__":
            return Intrinsic("object.__init_subclass__", lambda *a, **k: None)
        return None

    def _object_new(self, cls: Any) -> Any:
        if not isinstance(cls, ClassValue):
            return self.unknown("object.__new__ of a value that is not a known class")
        if cls.is_module():
            return ModuleValue(cls, cls.qualname)
        return InstanceValue(cls)

    def _opaque_attr(self, obj: Opaque, name: str) -> Any:
        obj.used_as_value = True  # an object with attributes is not a plain int, nor (likely) state
        if name in obj.bound:
            return obj.bound[name]
        return Opaque(f"{obj.name}.{name}", "value", obj.line, obj.path)

    def _bind(self, obj: Any, attr: Any, owner: Any) -> Any:
        if isinstance(attr, FunctionValue):
            if "staticmethod" in attr.decorators:
                return attr
            if "classmethod" in attr.decorators:  # on an instance: binds the class, not the instance
                cls = obj.cls if isinstance(obj, (ModuleValue, InstanceValue)) else obj
                return BoundMethod(cls, attr, owner)
            if "property" in attr.decorators or "cached_property" in attr.decorators or \
                    "functools.cached_property" in attr.decorators:
                return self.call(BoundMethod(obj, attr, owner), [], {})
            return BoundMethod(obj, attr, owner)
        return attr

    def _super_attr(self, sup: SuperValue, name: str) -> Any:
        obj = sup.obj
        cls = obj.cls if isinstance(obj, (ModuleValue, InstanceValue)) else obj
        if not isinstance(cls, ClassValue):
            return self.unknown("super() outside a known class")
        mro = cls.mro()
        try:
            start = mro.index(sup.after) + 1
        except ValueError:
            start = 1
        for c in mro[start:]:
            if name == "__init__" and "__init__" not in c.attrs and c.is_dataclass:
                generated = self._generated_init([c])
                if generated is not None:
                    return Intrinsic(generated.name, lambda *a, **k: generated.fn(obj, *a, **k))
            if name in c.attrs:
                return self._bind(obj, c.attrs[name], c)
            if name == "__init__" and isinstance(obj, ModuleValue) and c.intrinsic in CONTAINERS:
                # `super().__init__(*layers)` in a subclass of nn.Sequential / ModuleList / ModuleDict / ...
                kind = c.intrinsic
                return Intrinsic(f"{kind}.__init__", lambda *a, **k: self.torch.container_init(obj, kind, list(a), k))
            if c.intrinsic == "stateless" and name == "__init__":  # a torch layer without state: any arguments
                return Intrinsic(f"{c.name}.__init__", lambda *a, **k: None)
            if c.intrinsic == "Module" and name == "__init__":
                return Intrinsic("Module.__init__", lambda *a, **k: self.torch.module_init(obj, *a, **k))
            if c.intrinsic == "Module" and name == "__setattr__" and isinstance(obj, ModuleValue):
                return Intrinsic("Module.__setattr__", lambda n, v: self.torch.module_setattr(obj, n, v))
            if c.intrinsic == "Module" and name == "__delattr__" and isinstance(obj, ModuleValue):
                return Intrinsic("Module.__delattr__", lambda n: self.delattr_named(obj, n))
            if c.intrinsic == "Module" and name == "__getattr__" and isinstance(obj, ModuleValue):
                def module_getattr(n: Any) -> Any:
                    found, v = obj.lookup(n) if isinstance(n, str) else (False, None)
                    if found:
                        return v
                    raise EvalRaise(f"AttributeError: '{obj.cls.name}' object has no attribute '{n}'",
                                    self.line, self.path)
                return Intrinsic("Module.__getattr__", module_getattr)
        if name in ("__init__", "__setattr__", "__getattribute__", "__init_subclass__", "__new__"):
            meth = self._object_method(name)
            if name in ("__setattr__", "__getattribute__"):
                return Intrinsic(f"object.{name}", lambda *a: meth.fn(obj, *a))
            if name == "__init_subclass__" or name == "__init__":
                return meth
            return meth
        if isinstance(obj, ModuleValue):
            return self.torch.module_attr(obj, name)
        return self.unknown(f"super().{name} cannot be resolved")

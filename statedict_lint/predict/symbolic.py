"""Symbolic integer expressions over unbound constructor parameters and config attributes.

An expression is a polynomial with integer coefficients over *atoms*. An atom is a variable
(``n_embd``, ``config.n_embd``) or an opaque operation that is not polynomial (``n_embd // n_head``,
``n % 2``, ``max(a, b)``). Polynomials are kept in a canonical form, so ``4*d`` and ``d*4`` are the
same expression and print the same. Values are immutable and hashable.

``evaluate(env)`` gives a concrete int when every variable is bound; ``variables()`` lists the free
variables (used by ``check`` to infer constructor values from checkpoint shapes).
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Tuple, Union

Monomial = Tuple["Atom", ...]  # sorted atoms, with repetition for powers
IntLike = Union[int, "Sym"]


class Atom:
    __slots__ = ("op", "args", "_key")

    def __init__(self, op: str, args: tuple) -> None:
        self.op = op  # "var" | "//" | "%" | "max" | "min" | "call:<name>"
        self.args = args
        self._key = (op, tuple(_key(a) for a in args))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Atom) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: "Atom") -> bool:
        return str(self._key) < str(other._key)

    def render(self) -> str:
        if self.op == "var":
            return str(self.args[0])
        if self.op in ("//", "%"):
            a, b = self.args
            return f"{_render_operand(a)} {self.op} {_render_operand(b)}"
        name = self.op[5:] if self.op.startswith("call:") else self.op
        return f"{name}({', '.join(_render(a) for a in self.args)})"

    def evaluate(self, env: Mapping[str, int]) -> Optional[int]:
        if self.op == "var":
            v = env.get(self.args[0])
            return v if isinstance(v, int) else None
        vals = []
        for a in self.args:
            v = a.evaluate(env) if isinstance(a, Sym) else a
            if not isinstance(v, int):
                return None
            vals.append(v)
        if self.op == "//":
            return None if vals[1] == 0 else vals[0] // vals[1]
        if self.op == "%":
            return None if vals[1] == 0 else vals[0] % vals[1]
        if self.op == "max":
            return max(vals)
        if self.op == "min":
            return min(vals)
        return None

    def variables(self) -> set:
        if self.op == "var":
            return {self.args[0]}
        out: set = set()
        for a in self.args:
            if isinstance(a, Sym):
                out |= a.variables()
        return out


def _key(a: object) -> object:
    return a._key if isinstance(a, Sym) else a


class Sym:
    """A canonical integer polynomial. Never constructed with zero free atoms (use int)."""

    __slots__ = ("terms", "_key")

    def __init__(self, terms: Dict[Monomial, int]) -> None:
        self.terms = {m: c for m, c in terms.items() if c != 0}
        self._key = tuple(sorted(((tuple(a._key for a in m), c) for m, c in self.terms.items()), key=str))

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def var(name: str) -> "Sym":
        return Sym({(Atom("var", (name,)),): 1})

    @staticmethod
    def atom(op: str, *args: IntLike) -> IntLike:
        return _from_terms({(Atom(op, tuple(args)),): 1})

    # -- inspection ---------------------------------------------------------------------------
    def variables(self) -> set:
        out: set = set()
        for m in self.terms:
            for a in m:
                out |= a.variables()
        return out

    def evaluate(self, env: Mapping[str, int]) -> Optional[int]:
        total = 0
        for m, c in self.terms.items():
            prod = c
            for a in m:
                v = a.evaluate(env)
                if v is None:
                    return None
                prod *= v
            total += prod
        return total

    def substitute(self, env: Mapping[str, IntLike]) -> IntLike:
        """Replace variables by ints or other expressions."""
        total: IntLike = 0
        for m, c in self.terms.items():
            prod: IntLike = c
            for a in m:
                prod = prod * _subst_atom(a, env)
            total = total + prod
        return total

    def linear_in(self, name: str) -> Optional[Tuple[int, IntLike]]:
        """If the expression is ``a*name + rest`` with int a and rest free of name: (a, rest)."""
        a = 0
        rest: Dict[Monomial, int] = {}
        for m, c in self.terms.items():
            names = [x for x in m if x.op == "var" and x.args[0] == name]
            others = [x for x in m if not (x.op == "var" and x.args[0] == name)]
            if any(name in x.variables() for x in others):
                return None
            if len(names) == 0:
                rest[m] = c
            elif len(names) == 1 and not others:
                a += c
            else:
                return None
        return (a, _from_terms(rest)) if a else None

    # -- arithmetic ---------------------------------------------------------------------------
    def __add__(self, other: object) -> IntLike:
        o = _as_terms(other)
        if o is None:
            return NotImplemented
        out = dict(self.terms)
        for m, c in o.items():
            out[m] = out.get(m, 0) + c
        return _from_terms(out)

    __radd__ = __add__

    def __neg__(self) -> IntLike:
        return _from_terms({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: object) -> IntLike:
        o = _as_terms(other)
        if o is None:
            return NotImplemented
        return self + _from_terms({m: -c for m, c in o.items()})

    def __rsub__(self, other: object) -> IntLike:
        # (-self is a Sym: _from_terms makes an int only of a constant, and a Sym always has a variable)
        return (-self) + other  # type: ignore[operator]

    def __mul__(self, other: object) -> IntLike:
        o = _as_terms(other)
        if o is None:
            return NotImplemented
        out: Dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in o.items():
                m = tuple(sorted(m1 + m2))
                out[m] = out.get(m, 0) + c1 * c2
        return _from_terms(out)

    __rmul__ = __mul__

    def __floordiv__(self, other: object) -> IntLike:
        if not isinstance(other, (int, Sym)) or isinstance(other, bool):
            return NotImplemented
        if isinstance(other, int):
            if other == 1:
                return self
            if other != 0 and all(c % other == 0 for c in self.terms.values()):
                return _from_terms({m: c // other for m, c in self.terms.items()})
        elif other == self:
            return 1
        return Sym.atom("//", self, other)

    def __rfloordiv__(self, other: object) -> IntLike:
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return Sym.atom("//", other, self)

    def __mod__(self, other: object) -> IntLike:
        if not isinstance(other, (int, Sym)) or isinstance(other, bool):
            return NotImplemented
        if isinstance(other, int) and other != 0 and all(c % other == 0 for c in self.terms.values()):
            return 0
        return Sym.atom("%", self, other)

    def __rmod__(self, other: object) -> IntLike:
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return Sym.atom("%", other, self)

    def __pow__(self, other: object) -> IntLike:
        if isinstance(other, int) and not isinstance(other, bool) and 0 <= other <= 8:
            out: IntLike = 1
            for _ in range(other):
                out = out * self
            return out
        return NotImplemented

    def __eq__(self, other: object) -> bool:  # structural equality, not a symbolic comparison
        return isinstance(other, Sym) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __bool__(self) -> bool:
        raise TypeError("truth value of a symbolic expression is unknown")

    def __repr__(self) -> str:
        return f"Sym({self.render()!r})"

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        parts = []
        items = sorted(self.terms.items(), key=lambda mc: (len(mc[0]) == 0, [a.render() for a in mc[0]]))
        for i, (m, c) in enumerate(items):
            body = "*".join(_render_factor(a) for a in m)
            if not m:
                text = str(abs(c))
            elif abs(c) == 1:
                text = body
            else:
                text = f"{abs(c)}*{body}"
            if i == 0:
                parts.append(("-" if c < 0 else "") + text)
            else:
                parts.append((" - " if c < 0 else " + ") + text)
        return "".join(parts)


def _render_factor(a: Atom) -> str:
    r = a.render()
    return f"({r})" if a.op in ("//", "%") else r


def _render(a: object) -> str:
    return a.render() if isinstance(a, Sym) else str(a)


def _render_operand(a: object) -> str:
    if isinstance(a, Sym) and (len(a.terms) > 1 or any(len(m) > 1 or c != 1 for m, c in a.terms.items())):
        return f"({a.render()})"
    return _render(a)


def _as_terms(x: object) -> Optional[Dict[Monomial, int]]:
    if isinstance(x, bool):
        return {(): int(x)}
    if isinstance(x, int):
        return {(): x}
    if isinstance(x, Sym):
        return x.terms
    return None


def _from_terms(terms: Dict[Monomial, int]) -> IntLike:
    terms = {m: c for m, c in terms.items() if c != 0}
    if not terms:
        return 0
    if list(terms) == [()]:
        return terms[()]
    return Sym(terms)


def _subst_atom(a: Atom, env: Mapping[str, IntLike]) -> IntLike:
    if a.op == "var":
        v = env.get(a.args[0])
        return v if isinstance(v, (int, Sym)) and not isinstance(v, bool) else Sym({(a,): 1})
    args = [x.substitute(env) if isinstance(x, Sym) else x for x in a.args]
    if all(isinstance(x, int) for x in args):
        v = Atom(a.op, tuple(args)).evaluate({})
        return v if v is not None else Sym.atom(a.op, *args)
    if a.op == "//":
        return args[0] // args[1]
    if a.op == "%":
        return args[0] % args[1]
    return Sym.atom(a.op, *args)


def is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_intlike(x: object) -> bool:
    return is_int(x) or isinstance(x, Sym)


def render(x: object) -> str:
    return x.render() if isinstance(x, Sym) else str(x)


def render_shape(shape: Optional[Iterable[object]], unknown: str = "?") -> str:
    """A shape as text, the one formatter of every output: ``[3*n_embd, 64]``, ``?`` for a dimension that is not
    known, ``unknown`` for a shape that is not known at all."""
    if shape is None:
        return unknown
    return "[" + ", ".join("?" if d is None else render(d) for d in shape) + "]"

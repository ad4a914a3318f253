# Prelude for z3 programs: every generated program with backend "z3" runs with these names
# already defined. The helpers exist so that a correct program is short and so that the
# common silent failures of small models (a missing statement that leaves several
# solutions, a wrong statement that leaves none) become loud, repairable errors.
# The model sees l2l/prompts/api_z3.md in its prompt, not this source.
from z3 import *  # noqa: F401,F403


class PuzzleError(Exception):
    """Raised by the helpers with a message meant to be fed back to the program's author."""


def _py(v):
    """A z3 value as a plain Python value."""
    if is_true(v):
        return True
    if is_false(v):
        return False
    if is_int_value(v):
        return v.as_long()
    if is_rational_value(v):
        f = v.as_fraction()
        return int(f) if f.denominator == 1 else float(f)
    if is_algebraic_value(v):
        return float(v.approx(12).as_decimal(12).rstrip("?"))
    return str(v)


def _fmt(v):
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def answer(value):
    """Print the final answer line (the last ANSWER line printed counts)."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(_fmt(v) for v in value)
    print("ANSWER: " + _fmt(value))


def _define(name, variable):
    """Also bind a declared variable under its own name in the program's namespace (the
    prelude and the program share one), unless the program already uses that name, as
    sympy's var() does. Measured: the 1.5B model often writes `ann, b = p.Bools("a b")` and
    then uses `a`, or declares "Dan" and writes `dan`; both used to end in a NameError."""
    import keyword
    import re

    base = re.sub(r"\W+", "_", str(name)).strip("_")
    # Singular/plural too: the model declares "kiwis" and writes `kiwi`, or the reverse
    # (measured on LogicalDeduction fruit puzzles).
    number = base[:-1] if base.endswith("s") and len(base) > 2 else base + "s"
    for alias in dict.fromkeys((base, base.lower(), number, number.lower())):
        if alias.isidentifier() and not keyword.iskeyword(alias):
            globals().setdefault(alias, variable)


class Positions(list):
    """The position variables of `Puzzle.Order`: a list, also indexable by object name."""

    def __init__(self, names, variables):
        super().__init__(variables)
        self.names = list(names)
        self._by_name = dict(zip(names, variables))

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise PuzzleError(f"{key!r} is not one of the ordered objects {list(self._by_name)}") from None
        return list.__getitem__(self, key)


class Puzzle:
    """A z3 model with uniqueness checking.

    p = Puzzle()
    x = p.Int("x", 1, 5)          # integer with bounds (inclusive)
    b = p.Bool("b")
    ann, bob, cy = p.Order("ann bob cy")   # distinct positions 1..3
    p.add(x > 2, Implies(b, x == 3))
    m = p.solve()                  # unique solution or PuzzleError; m[x] -> python value
    """

    def __init__(self):
        self.solver = Solver()
        self.decls = []  # every declared z3 variable, for uniqueness checks and printing

    # -- declarations ------------------------------------------------------------
    def _declare(self, v, lo=None, hi=None):
        """Record a new variable and its inclusive bounds."""
        if lo is not None:
            self.solver.add(v >= lo)
        if hi is not None:
            self.solver.add(v <= hi)
        self.decls.append(v)
        _define(str(v), v)
        return v

    def Int(self, name, lo=None, hi=None):
        return self._declare(Int(name), lo, hi)

    def Ints(self, names, lo=None, hi=None):
        if isinstance(names, str):
            names = names.replace(",", " ").split()
        return [self.Int(n, lo, hi) for n in names]

    def Bool(self, name):
        v = Bool(name)
        self.decls.append(v)
        _define(name, v)
        return v

    def Bools(self, names):
        if isinstance(names, str):
            names = names.replace(",", " ").split()
        return [self.Bool(n) for n in names]

    def Real(self, name, lo=None, hi=None):
        return self._declare(Real(name), lo, hi)

    def Pred(self, name, individuals):
        """A yes/no property of each named individual: returns {individual: Bool}.
        Use it for rule-and-fact problems: red = p.Pred("red", people); p.add(red["bob"])."""
        return {x: self.Bool(f"{name}_{x}") for x in individuals}

    def Order(self, objects, first=1):
        """Distinct integer positions first..first+n-1 for `objects` (a list, or a string of
        names separated by commas, or by spaces when it has no comma). Returns the position Ints as a list, so that
        `red, green = p.Order("red green")` reads like the puzzle; the list can also be
        indexed by object name (`pos["red"]`), the older style the worked examples used."""
        if isinstance(objects, str):
            # "a, b c" -> commas separate when present, so multi-word names ("blue jay") survive
            objects = [o.strip() for o in objects.split(",")] if "," in objects else objects.split()
        objects = [str(o) for o in objects if str(o).strip()]
        if not objects:
            raise PuzzleError("p.Order() needs at least one object")
        if len(set(objects)) != len(objects):
            raise PuzzleError(f"p.Order() got the same object twice: {objects}")
        pos = Positions(objects, [self.Int(o, first, first + len(objects) - 1) for o in objects])
        self.solver.add(Distinct(*pos))
        # `n` is the last position, so "second from the right" is written `== n - 1` as the
        # formulation says it; the small models get n - k arithmetic wrong (measured: "the
        # second-most expensive" of five became `== 2`).
        globals().setdefault("n", first + len(objects) - 1)
        return pos

    def Choice(self, name, values):
        """A variable that takes one of `values` (strings or numbers); returns an Int index
        variable and the list, use `p.value_of(var, values)` after solving, or compare with
        `var == values.index("red")`."""
        v = self.Int(name, 0, len(values) - 1)
        return v

    def add(self, *constraints):
        for c in constraints:
            if isinstance(c, (list, tuple)):
                self.add(*c)
            elif isinstance(c, bool):
                # A Python bool means the statement was evaluated before z3 saw it.
                raise PuzzleError(
                    "p.add() got a Python bool, not a z3 expression: build constraints from the declared "
                    "variables (e.g. x == y + 1, And(...), Or(...), Implies(...)) instead of Python values"
                )
            else:
                self.solver.add(c)

    # -- solving -----------------------------------------------------------------
    def _check(self, *extra):
        r = self.solver.check(*extra)
        if r == unknown:
            raise PuzzleError("z3 could not decide the constraints (unknown): simplify the model")
        return r

    def solve(self, *show, unique=True):
        """Return the solution as a dict-like Model. With unique=True (default) a second,
        different solution raises PuzzleError naming both, because it means a statement of
        the problem is missing or too weak. `show`: the variables that must be unique
        (default: all declared)."""
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        m = self.solver.model()
        if unique:
            keys = list(show) or self.decls
            if keys:
                diff = Or([k != m.eval(k, model_completion=True) for k in keys])
                if self._check(diff) == sat:
                    other = self.solver.model()
                    a = ", ".join(f"{k}={_fmt(_py(m.eval(k, model_completion=True)))}" for k in keys)
                    b = ", ".join(f"{k}={_fmt(_py(other.eval(k, model_completion=True)))}" for k in keys)
                    raise PuzzleError(f"several solutions: [{a}] and [{b}] both satisfy the constraints; a statement is missing or too weak")
        return Model(m)

    def is_possible(self, cond):
        """True if `cond` holds in at least one solution."""
        return self._check(cond) == sat

    def is_certain(self, cond):
        """True if `cond` holds in every solution (and there is at least one)."""
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        return self._check(Not(cond)) == unsat

    def truth(self, claim, three_valued=True):
        """'True' if the constraints entail `claim`, 'False' if they entail Not(claim),
        else 'Unknown' (or PuzzleError if three_valued=False: the premises decide nothing)."""
        if self._check() == unsat:
            raise PuzzleError("no solution: the premises contradict each other; one constraint is wrong")
        if self._check(Not(claim)) == unsat:
            return "True"
        if self._check(claim) == unsat:
            return "False"
        if three_valued:
            return "Unknown"
        raise PuzzleError("the premises neither prove nor refute the claim: a premise is missing")

    def choose(self, options, mode="true"):
        """Pick the one option whose condition fits. `options`: {"A": cond, "B": cond, ...}.
        mode: "true" (holds in the unique solution), "must" (holds in every solution),
        "could" (holds in some solution), "cannot" (holds in no solution),
        "false"/"except" (the one that is NOT true in the unique solution / could be false).
        Prints nothing; returns the letter, or raises PuzzleError if zero or several fit."""
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        if mode == "true":
            m = self.solve()
            fits = [k for k, c in options.items() if is_true(m.model.eval(c, model_completion=True))]
        elif mode == "false":
            m = self.solve()
            fits = [k for k, c in options.items() if not is_true(m.model.eval(c, model_completion=True))]
        elif mode == "must":
            fits = [k for k, c in options.items() if self._check(Not(c)) == unsat]
        elif mode == "could":
            fits = [k for k, c in options.items() if self._check(c) == sat]
        elif mode == "cannot":
            fits = [k for k, c in options.items() if self._check(c) == unsat]
        elif mode in ("except", "could_be_false"):
            fits = [k for k, c in options.items() if self._check(Not(c)) == sat]
        else:
            raise PuzzleError(f"choose(): unknown mode {mode!r}; use true, false, must, could, cannot or except")
        if len(fits) == 1:
            return fits[0]
        if not fits:
            raise PuzzleError(f"no option fits (mode={mode}): a constraint or an option condition is wrong")
        raise PuzzleError(f"several options fit (mode={mode}): {', '.join(fits)}; a statement is missing or an option condition is wrong")

    def optimize(self, objective, sense="max"):
        """Best value of `objective` (an Int/Real expression) under the constraints."""
        o = Optimize()
        o.add(self.solver.assertions())
        h = o.maximize(objective) if sense.startswith("max") else o.minimize(objective)
        r = o.check()
        if r == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        if r == unknown:
            raise PuzzleError("z3 could not optimise the objective (unknown)")
        v = o.upper(h) if sense.startswith("max") else o.lower(h)
        if not (is_int_value(v) or is_rational_value(v)):
            raise PuzzleError(f"the objective is unbounded ({v}): a bound constraint is missing")
        return _py(v)

    def maximize(self, objective):
        return self.optimize(objective, "max")

    def minimize(self, objective):
        return self.optimize(objective, "min")


class Model:
    """A solution: m[x] gives a plain Python value (int, bool, float)."""

    def __init__(self, model):
        self.model = model

    def __getitem__(self, expr):
        return _py(self.model.eval(expr, model_completion=True))

    def eval(self, expr):
        return self[expr]

    def order(self, pos):
        """Names of the objects of a p.Order(...) sorted by their solved position."""
        names = pos.names if isinstance(pos, Positions) else list(pos)
        return sorted(names, key=lambda o: self[pos[o]])

    def at(self, pos, place):
        """Name of the object of a p.Order(...) at position `place` (-1: the last one)."""
        names = self.order(pos)
        if place < 0:
            return names[place]
        for o in names:
            if self[pos[o]] == place:
                return o
        raise PuzzleError(f"no object is at position {place}; positions are {[self[pos[o]] for o in names]}")

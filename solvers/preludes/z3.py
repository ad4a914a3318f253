# Prelude for z3 programs: every generated program with backend "z3" runs with these names
# already defined. The helpers exist so that a correct program is short and so that the
# common silent failures of small models (a missing statement that leaves several
# solutions, a wrong statement that leaves none) become loud, repairable errors.
# The model sees l2l/prompts/api_z3.md in its prompt, not this source.
import re

from z3 import *  # noqa: F401,F403


_Z3Solver = Solver  # Puzzle's own solver; `Solver` itself is the reporting subclass below


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
    return _fmt(value)


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
    for alias in dict.fromkeys((base, base.lower(), base[:1].upper() + base[1:], number, number.lower())):
        if alias.isidentifier() and not keyword.iskeyword(alias):
            globals().setdefault(alias, variable)


def _names(objects, who):
    """A list of distinct names from a list, or a string of names separated by commas, or by
    spaces when it has no comma ("a, b c" keeps multi-word names like "blue jay")."""
    if isinstance(objects, str):
        objects = [o.strip() for o in objects.split(",")] if "," in objects else objects.split()
    objects = [str(o) for o in objects if str(o).strip()]
    if not objects:
        raise PuzzleError(f"{who} needs at least one name")
    if len(set(objects)) != len(objects):
        raise PuzzleError(f"{who} got the same name twice: {objects}")
    return objects


_CLOCK = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s*m\.?\s*$", re.I)


def hour(time):
    """A clock time as an hour of the day, 0..24: hour("8am") == 8, hour("4pm") == 16,
    hour("12pm") == 12, hour("12am") == 0; "noon" and "midnight" work, ints pass through.
    Exists because small models convert "5pm" to 5 when they do it by hand."""
    if isinstance(time, int) and not isinstance(time, bool):
        return time
    text = str(time).strip().lower()
    if text in ("noon", "midday"):
        return 12
    if text == "midnight":
        return 0
    m = _CLOCK.match(text)
    if not m:
        raise PuzzleError(f"hour() needs a clock time such as '8am' or '4pm', got {time!r}")
    h, minutes, half = int(m.group(1)), m.group(2), m.group(3).lower()
    if not 1 <= h <= 12:
        raise PuzzleError(f"hour(): {time!r} is not a 12-hour clock time")
    if minutes and int(minutes) != 0:
        raise PuzzleError(f"hour(): {time!r} is not on the hour; count in minutes with an Int instead")
    return h % 12 + (12 if half == "p" else 0)


def between(x, start, end):
    """x lies in [start, end): between(visit, "8am", "12pm") is And(visit >= 8, visit < 12)."""
    return And(x >= hour(start), x < hour(end))


def tells_truth(speaker):
    """`lee == tells_truth(kim)` for "Lee says Kim tells the truth": the statement's own words.
    Measured (BBH web_of_lies, 1.5B): writing "says Kim lies" as `== Not(kim)` and "says Kim
    tells the truth" as `== kim`, a third of the formulation lines came out with the wrong
    polarity, copied from the worked example's line at the same place."""
    return speaker


def lies(speaker):
    """`ned == lies(lee)` for "Ned says Lee lies"; `lies(kim)` for "Kim lies"."""
    return Not(speaker) if isinstance(speaker, BoolRef) else not speaker


# the same words for knights (always truthful) and knaves (always lying), and common variants
knight = knights = tells_the_truth = truthful = tells_truth
knave = knaves = liar = lie = lies


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


class Property(dict):
    """{individual: Bool} from p.Pred(); red(x) works like red[x], because formulations write
    rules as `red(x) -> nice(x)` and small models carry the call syntax into the program."""

    def __init__(self, name, bools):
        super().__init__(bools)
        self.name = name

    def __missing__(self, key):
        for name in self:  # "Dave" for "dave"
            if isinstance(key, str) and name.lower() == key.lower():
                return self[name]
        raise PuzzleError(f"{key!r} is not one of the individuals of {self.name!r}: {list(self)}")

    def __call__(self, individual):
        return self[individual]


class Puzzle(_Rules):
    """A z3 model with uniqueness checking; facts and rules may also be given as text
    (`p.add("a(x) -> b(x)", "a(sam)")`, solvers/preludes/z3_rules.py).

    p = Puzzle()
    x = p.Int("x", 1, 5)          # integer with bounds (inclusive)
    b = p.Bool("b")
    ann, bob, cy = p.Order("ann bob cy")   # distinct positions 1..3
    p.add(x > 2, Implies(b, x == 3))
    m = p.solve()                  # unique solution or PuzzleError; m[x] -> python value
    """

    def __init__(self):
        self.solver = _Z3Solver()
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
        individuals = _names(individuals, "p.Pred()")
        for x in individuals:  # `cold(dave)` for `cold("dave")`: measured NameErrors on rule puzzles
            _define(x, x)
            self._rule_individual(x)
        # the Bools that text facts and rules name too: p.add("red(bob)") is red("bob")
        return Property(name, {x: self.Bool(f"{_rule_predicate(name)}_{_rule_individual(x)}") for x in individuals})

    def Order(self, objects, first=1):
        """Distinct integer positions first..first+n-1 for `objects` (a list, or a string of
        names separated by commas, or by spaces when it has no comma). Returns the position Ints as a list, so that
        `red, green = p.Order("red green")` reads like the puzzle; the list can also be
        indexed by object name (`pos["red"]`), the older style the worked examples used."""
        objects = _names(objects, "p.Order()")
        pos = Positions(objects, [self.Int(o, first, first + len(objects) - 1) for o in objects])
        self.solver.add(Distinct(*pos))
        # `n` is the last position, so "second from the right" is written `== n - 1` as the
        # formulation says it; the small models get n - k arithmetic wrong (measured: "the
        # second-most expensive" of five became `== 2`).
        globals().setdefault("n", first + len(objects) - 1)
        return pos

    def Assign(self, objects, groups):
        """Each of `objects` goes into exactly one of `groups` (committees, days, teams, shifts;
        groups may hold several objects or none). Returns one Int per object, the number 1..k
        of its group (a list, also indexable by name); each group's name is bound to its number,
        so `ann == morning` and `ann != ben` read like the puzzle. `p.size(group)` counts members.
        Measured: with only p.Order to copy, the 1.5B model wrote grouping puzzles (AR-LSAT style)
        as orderings, with distinct positions that made "in the same group" impossible."""
        import re

        objects = _names(objects, "p.Assign()")
        groups = _names(groups, "p.Assign()")
        members = Positions(objects, [self.Int(o, 1, len(groups)) for o in objects])
        for number, group in enumerate(groups, 1):
            _define(group, number)
            # "the budget committee" -> also `budget`: the model names a group by its head word
            words = [w for w in re.split(r"\W+", group) if w and w.lower() != "the"]
            if words:
                _define(words[0], number)
        self._members = list(getattr(self, "_members", [])) + list(members)
        self._groups = dict(getattr(self, "_groups", {}), **{g: i for i, g in enumerate(groups, 1)})
        return members

    def size(self, group):
        """How many objects of `p.Assign` are in `group` (its number or its name), a z3 Int."""
        if isinstance(group, str):
            if group not in getattr(self, "_groups", {}):
                raise PuzzleError(f"{group!r} is not one of the groups {list(getattr(self, '_groups', {}))}")
            group = self._groups[group]
        if not getattr(self, "_members", None):
            raise PuzzleError("p.size() counts the members of p.Assign(objects, groups); call p.Assign first")
        return Sum([If(v == group, 1, 0) for v in self._members])

    def Choice(self, name, values):
        """A variable that takes one of `values` (strings or numbers); returns an Int index
        variable and the list, use `p.value_of(var, values)` after solving, or compare with
        `var == values.index("red")`."""
        v = self.Int(name, 0, len(values) - 1)
        return v

    def add(self, *constraints):
        for c in constraints:
            c = self._formula(c)
            if c is None:
                continue  # a rule about x: grounded when the model is checked
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
        self._ground()
        r = self.solver.check(*extra)
        if r == unknown:
            raise PuzzleError("z3 could not decide the constraints (unknown): simplify the model")
        return r

    def solve(self, *show, unique=True):
        """Return the solution as a dict-like Model. With unique=True (default) a second,
        different solution raises PuzzleError naming both, because it means a statement of
        the problem is missing or too weak. `show`: the variables that must be unique
        (default: all declared)."""
        m, other = self._solutions(show if unique else None)
        if other is not None:
            raise PuzzleError(other)
        return Model(m)

    def _solutions(self, show=()):
        """(a solution, None) when it is the only one over `show` (default: every declared
        variable; None: not checked), else (a solution, the "several solutions" message naming
        two). Raises PuzzleError when there is none."""
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        m = self.solver.model()
        if show is None:
            return m, None
        # Variables made with raw z3 (`Int("x")` instead of `p.Int("x")`) count too: without
        # them a program that skips the helpers got no uniqueness check at all.
        keys = list(show) or self.decls + _undeclared_constants(m, self.decls)
        if keys:
            diff = Or([k != m.eval(k, model_completion=True) for k in keys])
            if self._check(diff) == sat:
                other = self.solver.model()
                a = ", ".join(f"{k}={_fmt(_py(m.eval(k, model_completion=True)))}" for k in keys)
                b = ", ".join(f"{k}={_fmt(_py(other.eval(k, model_completion=True)))}" for k in keys)
                return m, f"several solutions: [{a}] and [{b}] both satisfy the constraints; a statement is missing or too weak"
        return m, None

    def is_possible(self, cond):
        """True if `cond` holds in at least one solution (and there is at least one)."""
        cond = self._claim(cond)
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        return self._check(cond) == sat

    def is_certain(self, cond):
        """True if `cond` holds in every solution (and there is at least one)."""
        cond = self._claim(cond)
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        return self._check(Not(cond)) == unsat

    def truth(self, claim, three_valued=True):
        """'True' if the constraints entail `claim`, 'False' if they entail Not(claim),
        else 'Unknown' (or PuzzleError if three_valued=False: the premises decide nothing)."""
        claim = self._claim(claim)
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
        mode: "true" (holds in the unique solution; with several, the one that holds in all of them),
        "must" (holds in every solution),
        "could" (holds in some solution), "cannot" (holds in no solution),
        "false"/"except" (the one that is NOT true in the unique solution, or in any of several /
        could be false).
        Prints nothing; returns the letter, or raises PuzzleError if zero or several fit."""
        options = {k: self._claim(c) for k, c in options.items()}
        if self._check() == unsat:
            raise PuzzleError("no solution: the constraints contradict each other; one constraint is wrong")
        # What each solver-wide mode asks of an option's condition, over every solution.
        holds = {
            "must": lambda c: self._check(Not(c)) == unsat,
            "could": lambda c: self._check(c) == sat,
            "cannot": lambda c: self._check(c) == unsat,
            "except": lambda c: self._check(Not(c)) == sat,
        }
        holds["could_be_false"] = holds["except"]
        if mode in ("true", "false"):
            m, several = self._solutions()
            if several is None:
                fits = [k for k, c in options.items() if is_true(m.eval(c, model_completion=True)) == (mode == "true")]
            else:
                # Several solutions: a statement is left out or too weak. The options the stated
                # constraints still decide (true, or false, in every solution) are what they entail;
                # any constraint added later keeps them so. With a unique solution this is the same
                # option, so only programs that used to fail change (measured: "several solutions"
                # was the commonest failure of the 1.5B on LogicalDeduction).
                entailed = holds["must" if mode == "true" else "cannot"]
                fits = [k for k, c in options.items() if entailed(c)]
                if len(fits) != 1:
                    raise PuzzleError(several + (f"; options still possible: {', '.join(k for k, c in options.items() if holds['could'](c))}"
                                                 if mode == "true" else ""))
        elif mode in holds:
            fits = [k for k, c in options.items() if holds[mode](c)]
        else:
            raise PuzzleError(f"choose(): unknown mode {mode!r}; use true, false, must, could, cannot or except")
        if len(fits) == 1:
            return fits[0]
        if not fits:
            raise PuzzleError(f"no option fits (mode={mode}): a constraint or an option condition is wrong")
        raise PuzzleError(f"several options fit (mode={mode}): {', '.join(fits)}; a statement is missing or an option condition is wrong")

    def optimize(self, objective, sense="max"):
        """Best value of `objective` (an Int/Real expression) under the constraints."""
        self._ground()
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


def _undeclared_constants(model, decls):
    """The model's constants (arity 0) that are not among `decls`, as z3 expressions."""
    known = {str(d) for d in decls}
    return [d() for d in model.decls() if d.arity() == 0 and d.name() not in known]


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


# -- the solver record (solvers/preludes/_record.py) ---------------------------------
def __l2l_install_reporting__(report, wrap_call, wrap_answer):
    for name, verdict in (("solve", lambda out: "unique"), ("choose", lambda out: "one_option"),
                          ("truth", lambda out: f"entailed:{out}"), ("optimize", lambda out: "optimal"),
                          ("is_certain", lambda out: f"entailed:{out}"), ("is_possible", lambda out: f"possible:{out}")):
        setattr(Puzzle, name, wrap_call(name, getattr(Puzzle, name), verdict))

    class ReportingSolver(_Z3Solver):
        """z3's Solver, unchanged, except that `model()` also checks (on the record only)
        whether the model is the only one over its constants: raw-z3 programs get a sound
        uniqueness verdict too. The program's own result is not changed."""

        def model(self):
            m = _Z3Solver.model(self)
            consts = [d() for d in m.decls() if d.arity() == 0]
            verdict = "unique"
            if consts:
                _Z3Solver.push(self)
                try:
                    _Z3Solver.add(self, Or([c != m.eval(c, model_completion=True) for c in consts]))
                    r = _Z3Solver.check(self)
                finally:
                    _Z3Solver.pop(self)
                verdict = "unique" if r == unsat else "several" if r == sat else "unknown"
            report({"call": "model", "ok": verdict == "unique", "verdict": verdict})
            return m

    return ReportingSolver, wrap_answer(answer)


Solver, answer = __l2l_install_reporting__(*__l2l_reporting__(globals().get("__l2l_record__"), PuzzleError))
del __l2l_install_reporting__, __l2l_reporting__


# -- Python boolean operators on z3 expressions ------------------------------------
# `not x`, `a and b`, `a or b` and `1 <= x <= 7` call bool() on a z3 expression, which z3
# refuses ("Symbolic expressions cannot be cast to concrete Boolean values"); small models
# write them constantly (measured: web-of-lies and LogicalDeduction programs failing only on
# this). The sandbox passes each program's source through `__program_transform__` (when the
# backend's prelude defines one) before compiling it: these operators become calls that
# build Not/And/Or when an operand is a z3 Bool and keep Python's own semantics (short
# circuit, returned operand) otherwise. Line numbers are kept, so errors still point at
# the program's own lines.
def __l2l_not__(v):
    return Not(v) if isinstance(v, BoolRef) else not v


def __l2l_boolop__(is_and, thunks):
    """`and`/`or` over lazily evaluated operands; from the first z3 Bool on, all the
    remaining operands are evaluated and combined with And/Or."""
    value = True
    for i, thunk in enumerate(thunks):
        value = thunk()
        if isinstance(value, BoolRef):
            rest = [value] + [t() for t in thunks[i + 1:]]
            rest = [v if isinstance(v, BoolRef) else BoolVal(bool(v)) for v in rest]
            return And(*rest) if is_and else Or(*rest)
        if i == len(thunks) - 1:
            return value  # Python never tests the last operand: `1 and x` is x
        if is_and and not value or not is_and and value:
            return value
    return value


def __l2l_and__(*thunks):
    return __l2l_boolop__(True, thunks)


def __l2l_or__(*thunks):
    return __l2l_boolop__(False, thunks)


def __l2l_chain__(first, *pairs):
    """`a < b <= c` (any chain of two or more comparisons): each operand evaluated once,
    in order; Python's result unless a comparison gives a z3 Bool, then their And."""
    import operator

    left = first()
    parts = []  # results so far: truthy Python values, then (from the first z3 Bool on) anything
    symbolic = False
    for op_name, thunk in zip(pairs[0::2], pairs[1::2]):
        right = thunk()
        r = getattr(operator, op_name)(left, right)
        symbolic = symbolic or isinstance(r, BoolRef)
        if not symbolic and len(parts) < len(pairs) // 2 - 1 and not r:
            return r  # Python stops at the first false comparison (the last is returned as is)
        parts.append(r)
        left = right
    if symbolic:
        return And(*[r if isinstance(r, BoolRef) else BoolVal(bool(r)) for r in parts])
    return parts[-1]


def __program_transform__(source):
    """Source -> AST with the operators above rewritten. Also fixes two syntax slips, only
    when the program does not parse as written (other syntax errors are raised unchanged):
    `x == not y` (-> `x == (not y)`), from writing `not` in a formula, and a bare clock time
    such as `between(visit, "6pm", 7pm)` (-> `hour("7pm")`, on the lines the parser rejects),
    from copying a formulation's times (measured: 2 of 5 tune temporal programs)."""
    import ast
    import re

    try:
        tree = ast.parse(source, "<program>")
    except SyntaxError as original:
        fixed = re.sub(r"(==|!=)\s*not\s+([A-Za-z_][\w.]*(?:\[[^\]\n]*\])?(?:\([^()\n]*\))?)", r"\1 (not \2)", source)
        lines = fixed.split("\n")
        for _ in range(len(lines) + 1):
            try:
                tree = ast.parse("\n".join(lines), "<program>")
                break
            except SyntaxError as e:
                i = (e.lineno or 0) - 1
                line = lines[i] if 0 <= i < len(lines) else ""
                clock = re.sub(r"(?<![\w\"'])(\d{1,2}(?::[0-5]\d)?\s?[ap]m)(?![\w\"'])", r'hour("\1")', line, flags=re.I)
                if clock == line:
                    raise original from None
                lines[i] = clock
        else:
            raise original from None
    ops = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
    no_args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    unsafe = (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)

    def thunk(node):
        return ast.Lambda(args=no_args, body=node)

    def call(name, args, like):
        return ast.copy_location(ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[]), like)

    class Rewrite(ast.NodeTransformer):
        # Lambdas cannot see names of an enclosing class body, so operators directly in a
        # class body are left alone (`not` needs no lambda and is always rewritten).
        def __init__(self):
            self.in_class = [False]

        def visit_ClassDef(self, node):
            self.in_class.append(True)
            self.generic_visit(node)
            self.in_class.pop()
            return node

        def visit_FunctionDef(self, node):
            self.in_class.append(False)
            self.generic_visit(node)
            self.in_class.pop()
            return node

        visit_AsyncFunctionDef = visit_FunctionDef

        def _lazy_ok(self, node):
            return not self.in_class[-1] and not any(isinstance(n, unsafe) for n in ast.walk(node))

        def visit_UnaryOp(self, node):
            self.generic_visit(node)
            if isinstance(node.op, ast.Not):
                return call("__l2l_not__", [node.operand], node)
            return node

        def visit_BoolOp(self, node):
            self.generic_visit(node)
            if not self._lazy_ok(node):
                return node
            name = "__l2l_and__" if isinstance(node.op, ast.And) else "__l2l_or__"
            return call(name, [thunk(v) for v in node.values], node)

        def visit_Compare(self, node):
            self.generic_visit(node)
            if len(node.ops) < 2 or not all(type(op) in ops for op in node.ops) or not self._lazy_ok(node):
                return node
            args = [thunk(node.left)]
            for op, right in zip(node.ops, node.comparators):
                args += [ast.Constant(ops[type(op)]), thunk(right)]
            return call("__l2l_chain__", args, node)

    return ast.fix_missing_locations(Rewrite().visit(tree))

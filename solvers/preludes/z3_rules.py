# Prelude part for z3 programs (solvers.registry puts it before z3.py, whose Puzzle subclasses
# _Rules): facts and rules written as text.
# `p.add("gimpus(x) and not bright(x) -> cold(x)")`, `p.add("lorpus(sam)")`,
# `p.add("chases(x, dog) -> kind(x)")`, `p.truth("cold(sam)")`: one line per sentence, no
# declarations, no nesting. x, y, z and w stand for any individual; every other argument names
# one. Rules are grounded over the individuals that the facts, rules and claims name, when the
# model is checked (function-free universal rules: grounding over the named individuals
# decides every claim about them). An individual's name used as a property that nothing asserts,
# `tiger(x) -> blue(x)` for "The tiger is blue.", means "x is the tiger" (see _identity).
# Why: written as z3 (`p.add(Implies(And(gimpus(x), Not(bright(x))), cold(x)))` under a
# `for x in people:` loop after one p.Pred per predicate), ProntoQA's 15-20 rules cost the
# 1.5B model ~1,100 generated tokens per item and came out unparsable (measured, tune split:
# 0/5 programs parsed, a ")" dropped from the second rule on; bench/results/worked_example_trials.md).
import re

from z3 import *  # noqa: F401,F403

_RULE_VARIABLES = frozenset("xyzw")
_RULE_ARROWS = (("<->", "iff"), ("<=>", "iff"), ("->", "implies"))  # "=>" separates a formulation's statement
_RULE_CONNECTIVES = {"And": And, "Or": Or, "Not": Not, "Implies": Implies}


def _rule_predicate(name):
    """One name per predicate, whatever its number: `dumpuses(x)`, `dumpuse(x)` and `dumpus(x)`
    are the same property (measured: 1.5B formulations wrote two of them in one ProntoQA item)."""
    name = name.strip().lower().replace(" ", "_")
    if name.endswith("uses") and len(name) > 5:
        return name[:-2]
    if name.endswith("use") and len(name) > 4:
        return name[:-1]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")) and len(name) > 3:
        return name[:-1]
    return name


_RULE_KEYWORDS = frozenset({"and", "or", "not"})
_SENTENCE_WORDS = frozenset({"is", "are", "a", "an", "every", "all", "each", "some", "if", "then", "it", "they"})


def _join_multiword_predicates(body):
    """`bald eagle(x)` -> `bald_eagle(x)`: a name of two words before "(" is one predicate
    (seen: 3 of 30 ProofWriter programs of the 1.5B failed to parse on "bald eagle(x) -> ...");
    and/or/not before it stay words."""
    def join(m):
        words = m.group(1).split()
        cut = max((i + 1 for i, w in enumerate(words) if w.lower() in _RULE_KEYWORDS), default=0)
        name = words[cut:]
        if len(name) > 2 or any(w.lower() in _SENTENCE_WORDS for w in name):
            return m.group(0)  # a sentence, not a name ("every a is a c(x)"): the parse error says so
        return " ".join(words[:cut] + ["_".join(name)]) + "("

    return re.sub(r"\b([A-Za-z]\w*(?:[ \t]+[A-Za-z]\w*)+)\(", join, body)


def _rule_individual(name):
    """`"the bald eagle"`, `Bald_Eagle` and `bald_eagle` name the same individual."""
    name = re.sub(r"\s+", "_", str(name).strip().lower())
    return name[4:] if name.startswith("the_") else name


class _RuleText:
    """A fact, rule or claim written as text, parsed once: `holds(binding)` builds its z3 Bool
    for values of its variables."""

    def __init__(self, puzzle, text, claim=False):
        import ast

        self.text, self.puzzle = text, puzzle
        body = text.split("#", 1)[0]
        body = body.split(" => ", 1)[-1]  # a formulation line "statement => formula"
        # a line copied from a JSON list keeps its quote and comma (`... -> c(x)",`; measured: 2 of
        # 5 ProntoQA tune programs)
        body = body.strip().rstrip(",").strip().strip("\"'").strip().rstrip(".").strip()
        body = re.sub(r"^(?:for\s+(?:every|all|any|each)\s+[a-z](?:\s*,\s*[a-z])*\s*:)\s*", "", body, flags=re.I)
        # `chases(bald eagle, the cat)`: an argument of several words names one individual
        body = re.sub(r"(\w+)\(([^()]*)\)", lambda m: m.group(1) + "(" + ", ".join(
            re.sub(r"\s+", "_", arg.strip()) for arg in m.group(2).split(",")) + ")", body)
        body = _join_multiword_predicates(body)
        self.kind, parts = "fact", [body]
        for arrow, kind in _RULE_ARROWS:
            if arrow in body:
                parts = body.split(arrow)
                if len(parts) != 2:
                    raise PuzzleError(f"{text!r}: write one rule per line, with one {arrow!r}")
                self.kind = kind
                break
        self.variables = set()
        try:
            self.sides = [ast.parse(part.strip(), mode="eval").body for part in parts]
        except SyntaxError:
            raise PuzzleError(
                f"{text!r} is not a fact or rule: write facts as pred(name) or rel(name, name), rules as "
                "\"a(x) and not b(x) -> c(x)\" (and, or, not; x stands for any individual)") from None
        for side in self.sides:
            self._check(puzzle, side)
        if self.kind == "implies" and _truth_constant(self.sides[1]) is True and not self.variables:
            # "Bob is nice. => nice(bob) -> true": a line that would assert nothing was meant as the
            # fact (seen: 13 of 30 ProofWriter programs of the 1.5B had `-> true` lines, 8 of them
            # about named individuals; read as written they asserted nothing; replaying the 30 with
            # it, 5 wrong "Unknown"s became the gold answer: bench/results/rule_readings.md)
            self.kind, self.sides = "fact", self.sides[:1]
        # what this line asserts: a fact's predicates, a rule's conclusion (both sides of <->)
        asserting = [] if claim else self.sides if self.kind in ("fact", "iff") else self.sides[1:]
        for side in asserting:
            puzzle._rule_asserted(side)

    def _check(self, puzzle, node):
        """Validate the syntax tree and record predicates, individuals and variables."""
        import ast

        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._check(puzzle, v)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._check(puzzle, node.operand)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _RULE_CONNECTIVES:
            for a in node.args:
                self._check(puzzle, a)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            args = [_argument_name(a) for a in node.args]
            if None in args:
                raise PuzzleError(f"{self.text!r}: the arguments of {node.func.id}(...) are names, such as x or bob")
            puzzle._rule_arity(node.func.id, len(args), self.text)
            for a in args:
                if a in _RULE_VARIABLES:
                    self.variables.add(a)
                else:
                    puzzle._rule_individual(a)
        elif _truth_constant(node) is not None:
            pass
        elif isinstance(node, ast.Name):
            if node.id in _RULE_VARIABLES:
                raise PuzzleError(f"{self.text!r}: {node.id} stands for an individual; write a property of it, such as red({node.id})")
            puzzle._rule_arity(node.id, 0, self.text)
        elif not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
            raise PuzzleError(f"{self.text!r}: only pred(name), rel(name, name), and, or, not and -> may appear in a fact or rule")

    def _z3(self, node, binding):
        import ast

        if isinstance(node, ast.BoolOp):
            parts = [self._z3(v, binding) for v in node.values]
            return And(*parts) if isinstance(node.op, ast.And) else Or(*parts)
        if isinstance(node, ast.UnaryOp):
            return Not(self._z3(node.operand, binding))
        if isinstance(node, ast.Call) and node.func.id in _RULE_CONNECTIVES:
            return _RULE_CONNECTIVES[node.func.id](*[self._z3(a, binding) for a in node.args])
        if isinstance(node, ast.Call):
            args = [binding[a.id] if isinstance(a, ast.Name) and a.id in _RULE_VARIABLES
                    else _rule_individual(_argument_name(a)) for a in node.args]
            if len(args) == 1 and self.puzzle._identity(node.func.id):
                return BoolVal(args[0] == _rule_individual(node.func.id))
            return Bool("_".join([_rule_predicate(node.func.id)] + args))
        constant = _truth_constant(node)
        if constant is not None:
            return BoolVal(constant)
        if isinstance(node, ast.Name):
            return Bool(_rule_predicate(node.id))
        return BoolVal(node.value)

    def holds(self, binding=None):
        sides = [self._z3(s, binding or {}) for s in self.sides]
        if self.kind == "implies":
            return Implies(*sides)
        if self.kind == "iff":
            return sides[0] == sides[1]
        return sides[0]


def _truth_constant(node):
    """True or False for `true`, `True`, `false`, `False` (as written in a rule), else None."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id.lower() in ("true", "false"):
        return node.id.lower() == "true"
    return None


def _argument_name(node):
    """The name an argument of a predicate gives (a variable or an individual), else None: `bob`,
    `"the cat"`, or `lion(x)`, one name applied to one name, which names the lion
    (`needs(lion(x), dog(y))`, as 1.5B formulations write "The lion needs the dog.")."""
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1
            and not node.keywords and isinstance(node.args[0], ast.Name) and node.func.id not in _RULE_CONNECTIVES):
        return node.func.id
    return None


class _Rules:
    """Puzzle's part for facts and rules written as text (Puzzle subclasses it)."""

    def _rule_asserted(self, node):
        """Record the predicates a fact or a rule's conclusion asserts."""
        import ast

        asserted = self.__dict__.setdefault("_rule_asserted_names", set())
        todo = [node]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in _RULE_CONNECTIVES:
                asserted.add(_rule_predicate(n.func.id))  # not its arguments: lion(x) in needs(lion(x), y) names the lion
            else:
                todo.extend(ast.iter_child_nodes(n))

    def _identity(self, name):
        """Whether `name(x)` means "x is the individual `name`": a name of an individual (in an
        argument or a claim) used as a property that no fact or conclusion asserts. "The tiger is
        blue." written `tiger(x) -> blue(x)` (as 1.5B ProofWriter programs often write facts) then says
        what it means, where read as a kind nothing is one of it decided nothing. Replaying the 30
        stored ProofWriter programs with this reading (and the argument and two-word ones) but not
        the `-> true` one gave no more right answers; a kind such as lorpus(x) is no individual's name."""
        return (_rule_individual(name) in self.__dict__.get("_rule_individuals", ())
                and _rule_predicate(name) not in self.__dict__.get("_rule_asserted_names", ()))

    def _rule_arity(self, name, arity, text):
        arities = self.__dict__.setdefault("_rule_arities", {})
        key = _rule_predicate(name)
        if arities.setdefault(key, (arity, text))[0] != arity:
            raise PuzzleError(f"{name} takes {arities[key][0]} argument(s) in {arities[key][1]!r} but {arity} in {text!r}")

    def _rule_individual(self, name):
        individuals = self.__dict__.setdefault("_rule_individuals", [])
        name = _rule_individual(name)
        if name not in individuals:
            individuals.append(name)

    def _formula(self, c, rule=None):
        """A constraint as z3: text is read as a fact or rule (None for a rule about x, which
        is kept and grounded when the model is checked); anything else is returned as is.
        Text of several lines is one fact or rule per line (a list), "# ..." comments left out:
        the generator then copies the formulation's constraint lines as they are, with no
        quotes and parentheses per line to drop (measured: 2 of 2 ProntoQA tune programs
        written `p.add("...")` per rule had a line ending `",` or a stray `]`)."""
        if not isinstance(c, str):
            return c
        lines = [line for line in c.split("\n") if line.split("#", 1)[0].strip()]
        if len(lines) != 1:
            return [f for f in (self._formula(line) for line in lines) if f is not None]
        rule = rule or _RuleText(self, lines[0])
        if rule.variables:
            self.__dict__.setdefault("_rules", []).append(rule)
            return None
        return rule.holds()

    def _claim(self, c):
        """A claim (p.truth, p.choose, ...) as z3; a claim about x is about nobody in particular."""
        if not isinstance(c, str):
            return c
        rule = _RuleText(self, c, claim=True)  # parsed once; a claim asserts nothing
        if rule.variables:
            raise PuzzleError(f"the claim {c!r} names no individual: write it about one, such as red(bob)")
        return self._formula(c, rule)

    def _ground(self):
        """Add each rule's instances over the named individuals that are not added yet."""
        import itertools

        individuals = self.__dict__.get("_rule_individuals", [])
        done = self.__dict__.setdefault("_rule_instances", set())
        for i, rule in enumerate(self.__dict__.get("_rules", [])):
            names = sorted(rule.variables)
            for values in itertools.product(individuals, repeat=len(names)):
                if (i, values) not in done:
                    done.add((i, values))
                    self.solver.add(rule.holds(dict(zip(names, values))))

# Prelude part for z3 programs (solvers.registry puts it before z3.py, whose Puzzle subclasses
# _Rules): facts and rules written as text.
# `p.add("gimpus(x) and not bright(x) -> cold(x)")`, `p.add("lorpus(sam)")`,
# `p.add("chases(x, dog) -> kind(x)")`, `p.truth("cold(sam)")`: one line per sentence, no
# declarations, no nesting. x, y, z and w stand for any individual; every other argument names
# one. Rules are grounded over the individuals that the facts, rules and claims name, when the
# model is checked (function-free universal rules: grounding over the named individuals
# decides every claim about them).
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


def _rule_individual(name):
    """`"the bald eagle"`, `Bald_Eagle` and `bald_eagle` name the same individual."""
    name = re.sub(r"\s+", "_", str(name).strip().lower())
    return name[4:] if name.startswith("the_") else name


class _RuleText:
    """A fact, rule or claim written as text, parsed once: `holds(binding)` builds its z3 Bool
    for values of its variables."""

    def __init__(self, puzzle, text):
        import ast

        self.text = text
        body = text.split("#", 1)[0]
        body = body.split(" => ", 1)[-1]  # a formulation line "statement => formula"
        # a line copied from a JSON list keeps its quote and comma (`... -> c(x)",`; measured: 2 of
        # 5 ProntoQA tune programs)
        body = body.strip().rstrip(",").strip().strip("\"'").strip().rstrip(".").strip()
        body = re.sub(r"^(?:for\s+(?:every|all|any|each)\s+[a-z](?:\s*,\s*[a-z])*\s*:)\s*", "", body, flags=re.I)
        # `chases(bald eagle, the cat)`: an argument of several words names one individual
        body = re.sub(r"(\w+)\(([^()]*)\)", lambda m: m.group(1) + "(" + ", ".join(
            re.sub(r"\s+", "_", arg.strip()) for arg in m.group(2).split(",")) + ")", body)
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
            args = []
            for a in node.args:
                if isinstance(a, ast.Name):
                    args.append(a.id)
                elif isinstance(a, ast.Constant) and isinstance(a.value, str):
                    args.append(a.value)
                else:
                    raise PuzzleError(f"{self.text!r}: the arguments of {node.func.id}(...) are names, such as x or bob")
            puzzle._rule_arity(node.func.id, len(args), self.text)
            for a in args:
                if a in _RULE_VARIABLES:
                    self.variables.add(a)
                else:
                    puzzle._rule_individual(a)
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
                    else _rule_individual(a.id if isinstance(a, ast.Name) else a.value) for a in node.args]
            return Bool("_".join([_rule_predicate(node.func.id)] + args))
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


class _Rules:
    """Puzzle's part for facts and rules written as text (Puzzle subclasses it)."""

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
        rule = _RuleText(self, c)  # parsed once
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

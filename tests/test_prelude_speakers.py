"""z3 prelude: truth-tellers and liars in the statements' own words (`lies`, `tells_truth`,
`knave`, `knight`), run through the real sandbox as the worked examples write them."""

import pytest

from solvers import execute


def run(code: str):
    return execute(code, backend="z3", timeout_s=30)


# BIG-Bench Hard web_of_lies shape: one fact, four "says" statements. The chain below:
# Kim lies; Lee says Kim tells the truth (Lee lies); Ned says Lee lies (Ned tells the truth);
# Bo says Ned lies (Bo lies); Cy says Bo tells the truth (Cy lies).
WEB = """p = Puzzle()
kim, lee, ned, bo, cy = p.Bools("kim lee ned bo cy")
p.add(lies(kim))
p.add(lee == tells_truth(kim))
p.add(ned == lies(lee))
p.add(bo == lies(ned))
p.add(cy == tells_the_truth(bo))
answer([p.truth(x) for x in (kim, lee, ned, bo, cy)])
"""


def test_a_web_of_lies_chain_in_its_own_words():
    r = run(WEB)
    assert r.status == "ok", r.error
    assert r.answer == "False, False, True, False, False"


@pytest.mark.parametrize("statement, expected", [
    ("b == (knight(a) and knight(b))", "A is a knight, B is a knave"),  # the README's knights puzzle
    ("b == (knights(a) and knights(b))", "A is a knight, B is a knave"),  # the plural reads the same
])
def test_knights_and_knaves_in_their_own_words(statement, expected):
    # A says: 'B is a knave.'  B says: 'A and I are both knights.'
    code = (f"p = Puzzle()\na, b = p.Bools('a b')\np.add(a == knave(b))\np.add({statement})\n"
            "m = p.solve()\nrole = {True: 'a knight', False: 'a knave'}\n"
            "answer(f'A is {role[m[a]]}, B is {role[m[b]]}')\n")
    r = run(code)
    assert r.status == "ok", r.error
    assert r.answer == expected


def test_plain_python_values_keep_python_meaning():
    r = run("answer([lies(True), lies(False), tells_truth(True), liar(0)])\n")
    assert r.answer == "False, True, True, True"

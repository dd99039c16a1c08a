"""Every example of the spec's "Expressions" section, plus the guards and our corrections
of the Rust engine (code-point size, string(), missing fields)."""

from __future__ import annotations

import pytest

from chat_platform.errors import ExpressionError
from chat_platform.expressions import (
    compile_expression,
    compile_template,
    flatten_context,
    is_truthy,
    render_text,
)


def ev(source: str, **ctx: object) -> object:
    return compile_expression(source).evaluate(ctx)


def test_flattening_order_and_conflicts() -> None:
    ctx = flatten_context(
        {"name": "Alice", "age": 30, "status": "pending"}, {"score": 95, "status": "approved"}
    )
    assert ctx["name"] == "Alice" and ctx["age"] == 30 and ctx["score"] == 95
    assert ctx["output"] == {"score": 95, "status": "approved"}
    assert compile_expression("status").evaluate(ctx) == "approved"  # lastOutput wins
    assert compile_expression("output.status").evaluate(ctx) == "approved"
    assert compile_expression("output.score").evaluate(ctx) == 95
    text = flatten_context({"a": 1}, "plain text")
    assert text == {"a": 1, "output": "plain text"}


@pytest.mark.parametrize(
    ("source", "ctx", "expected"),
    [
        ('score > 80 && status == "active"', {"score": 81, "status": "active"}, True),
        ('output.contains("refund")', {"output": "The customer needs a refund."}, True),
        ("size(output)", {"output": "héllo"}, 5),
        ("output.size()", {"output": "👍🏽x"}, 3),
        ("user.profile.email", {"user": {"profile": {"email": "a@b.c"}}}, "a@b.c"),
        ("size(tags)", {"tags": ["urgent", "billing"]}, 2),
        ("tags[0]", {"tags": ["urgent", "billing"]}, "urgent"),
        ('"urgent" in tags', {"tags": ["urgent", "billing"]}, True),
        ("price * quantity + tax", {"price": 2, "quantity": 3, "tax": 1}, 7),
        ("age >= 18 && verified", {"age": 20, "verified": True}, True),
        ('score > 80 ? "pass" : "fail"', {"score": 50}, "fail"),
        ('first + " " + last', {"first": "Ada", "last": "Lovelace"}, "Ada Lovelace"),
        ("[1, 2] + [3, 4]", {}, [1, 2, 3, 4]),
        ('msg.contains("error")', {"msg": "an error"}, True),
        ('name.startsWith("Dr.")', {"name": "Dr. Who"}, True),
        ('file.endsWith(".pdf")', {"file": "a.pdf"}, True),
        ("msg.size() > 100", {"msg": "short"}, False),
        ('email.matches("[a-z]+@[a-z]+")', {"email": "ada@lovelace"}, True),
        ('text.split(", ")', {"text": "a, b, c"}, ["a", "b", "c"]),
        ('text.indexOf("hello")', {"text": "say hello"}, 4),
        ('text.lastIndexOf("o")', {"text": "foo boo"}, 6),
        ("text.charAt(0)", {"text": "héllo"}, "h"),
        ("text.substring(0, 5)", {"text": "hello world"}, "hello"),
        ("text.substring(6)", {"text": "hello world"}, "world"),
        ("name.lowerAscii()", {"name": "ÀDA"}, "Àda"),
        ("code.upperAscii()", {"code": "ab-é"}, "AB-é"),
        ("input.trim()", {"input": "  x  "}, "x"),
        ('text.replace("old", "new")', {"text": "old and old"}, "new and new"),
        ("[1,2,3,4,5].filter(x, x > 2)", {}, [3, 4, 5]),
        ("[1,2,3].map(x, x * 2)", {}, [2, 4, 6]),
        ('["a","b","c"].join(", ")', {}, "a, b, c"),
        ("items.exists(x, x > 10)", {"items": [1, 11]}, True),
        ("items.all(x, x > 0)", {"items": [1, 2]}, True),
        ("has(output.email)", {"output": {"name": "x"}}, False),
        ("int(3.7)", {}, 3),
        ("double(42)", {}, 42.0),
        ("string(42)", {}, "42"),
        ("string(true)", {}, "true"),
        ("wordCount(text)", {"text": "one  two\nthree"}, 3),
        ("lineCount(text)", {"text": "a\nb\nc"}, 3),
        ("max(a, b)", {"a": 3, "b": 7.5}, 7.5),
        ("min(a, b)", {"a": 3, "b": 7}, 3),
        (
            "retry_count < max_retries && !success",
            {"retry_count": 1, "max_retries": 3, "success": False},
            True,
        ),
        ("size(remaining_items) > 0", {"remaining_items": []}, False),
        (
            'output.contains("error") ? output : last_error',
            {"output": "fine", "last_error": "old"},
            "old",
        ),
        ('"Hello " + name.upperAscii()', {"name": "alice"}, "Hello ALICE"),
    ],
)
def test_spec_cel_examples(source: str, ctx: dict, expected: object) -> None:
    assert compile_expression(source).evaluate(ctx) == expected


def test_fan_in_examples() -> None:
    fan_in = {
        "_fanIn": True,
        "branches": {
            "n8": {"approve": True, "reason": "Well written"},
            "n9": {"approve": False, "reason": "Needs sources"},
            "n10": {"approve": True, "reason": "Great work"},
        },
    }
    ctx = flatten_context({"branches": "shadowed"}, fan_in)
    vote = (
        "(branches.n8.approve ? 1 : 0) + (branches.n9.approve ? 1 : 0) + "
        "(branches.n10.approve ? 1 : 0) >= 2"
    )
    assert compile_expression(vote).evaluate(ctx) is True
    assert compile_expression("branches.n8.reason").evaluate(ctx) == "Well written"
    assert compile_expression("branches.n8.approve && branches.n10.approve").evaluate(ctx)
    assert compile_expression("branches.n99.field").evaluate(ctx) is None  # safe, no error
    assert compile_expression("output.branches.n9.approve").evaluate(ctx) is False
    summary = compile_template(
        "Review 1: {{branches.n8.reason}}, Review 2: "
        "{{branches.n9.reason}}, Review 3: {{branches.n10.reason}}"
    )
    assert summary.render(ctx) == (
        "Review 1: Well written, Review 2: Needs sources, Review 3: Great work"
    )
    assert compile_template("x{{branches.n99.field}}y").render(ctx) == "xy"


def test_template_examples() -> None:
    ctx = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "name": "Alice",
        "score": 95,
        "age": 28,
        "user": {"name": "Alice"},
    }
    assert compile_template("${firstName} ${lastName}").render(ctx) == "Ada Lovelace"
    assert compile_template("{{name}}: score={{score}}").render(ctx) == "Alice: score=95"
    assert compile_template("{{age + 1}}").render(ctx) == 29
    assert compile_template("{{user}}").render(ctx) == {"name": "Alice"}
    assert compile_template("Hello ${unknown}!").render(ctx) == "Hello !"
    assert compile_template("Hello {{name}}, score=${score}").render(ctx) == (
        "Hello Alice, score=95"
    )
    # substituted text is never rendered again
    assert compile_template("{{x}}").render({"x": "{{name}}"}) == "{{name}}"
    assert render_text("no markers", ctx) == "no markers"
    assert compile_template("{{flag}} {{obj}}").render({"flag": True, "obj": {"a": 1}}) == (
        'true {"a":1}'
    )


def test_errors_are_short_and_typed() -> None:
    with pytest.raises(ExpressionError, match="invalid expression"):
        compile_expression("1 +")
    with pytest.raises(ExpressionError, match="unknown variable 'nope'"):
        ev("nope > 1")
    with pytest.raises(ExpressionError) as info:
        ev("1 / zero", zero=0)
    assert len(info.value.message) < 300 and info.value.expression == "1 / zero"
    with pytest.raises(ExpressionError):
        ev('"x" + 1')


def test_guards() -> None:
    with pytest.raises(ExpressionError, match="longer than 2048"):
        compile_expression("a" * 2049)
    with pytest.raises(ExpressionError, match="nested comprehension"):
        compile_expression("items.map(a, items.map(b, items.map(c, a + b + c)))")
    assert compile_expression("items.map(a, items.map(b, a + b))").evaluate({"items": [1, 2]}) == [
        [2, 3],
        [3, 4],
    ]
    # "map(" inside a string literal is not a macro
    assert ev('"x.map(a, y.map(b, z.map(c, 1)))".size() > 0') is True
    with pytest.raises(ExpressionError, match="more than 10000 items"):
        ev("size(items)", items=list(range(10_001)))
    with pytest.raises(ExpressionError, match=r"lists\.range|unknown|Undefined|failed"):
        ev("lists.range(100000000)")


def test_condition_truthiness() -> None:
    assert is_truthy(True) and not is_truthy(None) and not is_truthy(1) and not is_truthy("true")

"""Calculator: a keypad, the expression and the result after "=". Evaluation is a small parser over
exact fractions (no ``eval``)."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from autoglm_agent.sim.apps.base import App, Ctx
from autoglm_agent.sim.ui import Node, col, grid, stack, text

OPS = {"+": "+", "-": "−", "*": "×", "/": "÷", "−": "−", "×": "×", "÷": "÷"}


class CalcError(ValueError):
    pass


class _Parser:
    """expr := term (('+'|'−') term)* ; term := unary (('×'|'÷') unary | implicit-mult)* ;
    unary := '−' unary | postfix ; postfix := atom '%'* ; atom := number | '(' expr ')'"""

    def __init__(self, src: str) -> None:
        self.s = src
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self) -> Fraction:
        if not self.s:
            raise CalcError("empty")
        v = self.expr()
        while self.peek() == ")":  # tolerate stray closing parentheses at the end
            self.i += 1
        if self.i != len(self.s):
            raise CalcError("junk")
        return v

    def expr(self) -> Fraction:
        v = self.term()
        while self.peek() in ("+", "−"):
            op = self.s[self.i]
            self.i += 1
            r = self.term()
            v = v + r if op == "+" else v - r
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while True:
            c = self.peek()
            if c in ("×", "÷"):
                self.i += 1
                r = self.unary()
                if c == "÷":
                    if r == 0:
                        raise ZeroDivisionError
                    v = v / r
                else:
                    v = v * r
            elif c == "(" or (c and (c.isdigit() or c == ".")):
                v = v * self.unary()
            else:
                return v

    def unary(self) -> Fraction:
        if self.peek() == "−":
            self.i += 1
            return -self.unary()
        v = self.atom()
        while self.peek() == "%":
            self.i += 1
            v = v / 100
        return v

    def atom(self) -> Fraction:
        c = self.peek()
        if c == "(":
            self.i += 1
            v = self.expr()
            if self.peek() == ")":
                self.i += 1
            return v
        start = self.i
        while self.peek() and (self.peek().isdigit() or self.peek() == "."):
            self.i += 1
        num = self.s[start : self.i]
        if not num or num == "." or num.count(".") > 1:
            raise CalcError("number expected")
        return Fraction(num)


def format_number(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    f = float(v)
    out = f"{f:.10g}"
    if "e" in out:
        return out
    return out.rstrip("0").rstrip(".") if "." in out else out


def evaluate(expression: str) -> str:
    """The result of a calculator expression ("12+30" -> "42"); "Error" or "Can't divide by 0"."""
    src = "".join(OPS.get(ch, ch) for ch in expression.replace(" ", ""))
    try:
        return format_number(_Parser(src).parse())
    except ZeroDivisionError:
        return "Can't divide by 0"
    except (CalcError, ValueError):
        return "Error"


KEYS: tuple[tuple[str, str, str], ...] = (
    ("AC", "clr", "clear"),
    ("( )", "parens", "parentheses"),
    ("%", "op_pct", "percent"),
    ("÷", "op_div", "divide"),
    ("7", "digit_7", "7"),
    ("8", "digit_8", "8"),
    ("9", "digit_9", "9"),
    ("×", "op_mul", "multiply"),
    ("4", "digit_4", "4"),
    ("5", "digit_5", "5"),
    ("6", "digit_6", "6"),
    ("−", "op_sub", "minus"),
    ("1", "digit_1", "1"),
    ("2", "digit_2", "2"),
    ("3", "digit_3", "3"),
    ("+", "op_add", "plus"),
    ("0", "digit_0", "0"),
    (".", "dec_point", "point"),
    ("⌫", "del", "delete"),
    ("=", "eq", "equals"),
)


class Calculator(App):
    package = "com.android.calculator2"
    activity = "com.android.calculator2.Calculator"
    label = "Calculator"
    label_zh = "计算器"
    aliases: ClassVar[dict[str, str]] = {}

    def press(self, ctx: Ctx, key: str) -> None:
        c = ctx.st.calculator
        expr = c.expression
        if key == "AC":
            c.expression, c.display, c.evaluated = "", "", False
            return
        if key == "=":
            if expr:
                c.display = evaluate(expr)
                c.evaluated = True
            return
        if c.evaluated:
            ok = c.display not in ("", "Error", "Can't divide by 0")
            if key in ("+", "−", "×", "÷", "%") and ok:
                expr = c.display.replace("-", "−")
            elif key == "⌫":
                expr = expr
            else:
                expr = ""
            c.display, c.evaluated = "", False
        if key == "⌫":
            expr = expr[:-1]
        elif key == "( )":
            opened = expr.count("(") - expr.count(")")
            expr += ")" if opened > 0 and expr and (expr[-1].isdigit() or expr[-1] in ").%") else "("
        elif key in ("+", "×", "÷"):
            if not expr or expr[-1] == "(":
                return
            if expr[-1] in "+−×÷":
                expr = expr[:-1]
            expr += key
        elif key == "−":
            if expr and expr[-1] in "+−":
                expr = expr[:-1]
            expr += key
        elif key == ".":
            tail = ""
            for ch in reversed(expr):
                if ch.isdigit() or ch == ".":
                    tail = ch + tail
                else:
                    break
            if "." in tail:
                return
            expr += "0." if not tail else "."
        else:
            expr += key
        c.expression = expr

    def page_main(self, ctx: Ctx) -> Node:
        c = ctx.st.calculator
        s = ctx.s
        preview = ""
        if not c.evaluated and any(op in c.expression for op in "+−×÷%"):
            p = evaluate(c.expression)
            preview = "" if p in ("Error", "Can't divide by 0") else p
        shown = c.display
        if ctx.zh and shown == "Can't divide by 0":
            shown = "不能除以0"
        elif ctx.zh and shown == "Error":
            shown = "错误"
        # five rows of keys take at most ~62% of the content area (small screens keep a display)
        cell = min(84.0, ((ctx.height_dp - 76) * 0.62 - 32) / 5)
        keys = []
        for label, rid, desc in KEYS:
            if label.isdigit() or label == ".":
                bg, fg = "card", "text"
            elif label == "=":
                bg, fg = "primary", "on_primary"
            elif label in ("AC", "( )", "%"):
                bg, fg = "key2", "text"
            else:
                bg, fg = "tonal", "on_tonal"
            desc_l = {
                "clear": s("clear", "清除"),
                "delete": s("delete", "删除"),
                "equals": s("equals", "等于"),
            }.get(desc, desc)
            keys.append(
                stack(
                    Node(
                        kind="glyph" if label == "⌫" else "button",
                        glyph="backspace",
                        cls="android.widget.Button",
                        text=label,
                        desc=desc_l,
                        id=rid,
                        size=26 if label != "⌫" else 24,
                        align="center",
                        bg=bg,
                        fg=fg,
                        radius=(cell - 12) / 2,
                        h=cell - 12,
                        w=min(cell - 4, (ctx.width_dp - 48) / 4),
                        gravity="center",
                        on_tap=(lambda k=label: self.press(ctx, k)),
                    ),
                    h=cell,
                    a11y=False,
                )
            )
        return stack(
            col(
                col(
                    text(
                        c.expression,
                        34 if c.evaluated else 44,
                        fg="text2" if c.evaluated else "text",
                        align="right",
                        lines=3,
                        id="formula",
                        valign="bottom",
                        weight=1,
                    ),
                    text(
                        shown or preview,
                        48 if c.evaluated else 28,
                        fg="text" if c.evaluated else "text2",
                        align="right",
                        id="result",
                        h=72,
                    ),
                    weight=1,
                    pad=(24, 16, 24, 8),
                    bg="bg",
                    id="display",
                ),
                grid(4, *keys, pad=(12, 12, 12, 20), bg="surface", id="pad_numeric"),
                a11y=False,
            ),
            bg="bg",
            id="android:id/content",
        )

    def on_text(self, ctx: Ctx, text: str) -> bool:
        """Hardware-keyboard style input: digits, operators, parentheses, '=' and newline."""
        for ch in text:
            if ch.isdigit() or ch in ".%":
                self.press(ctx, ch)
            elif ch in OPS:
                self.press(ctx, OPS[ch] if OPS[ch] != "−" else "−")
            elif ch in "()":
                c = ctx.st.calculator
                if c.evaluated:
                    c.expression, c.display, c.evaluated = "", "", False
                c.expression += ch
            elif ch in "=\n":
                self.press(ctx, "=")
            elif ch in "cC":
                self.press(ctx, "AC")
        return True

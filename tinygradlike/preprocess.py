"""The source the compiler sees: `compiled_source` resolves a kernel's #if blocks as the
preprocessor would, for TGL_DEBUG=4 (runtime prints every program through it).

The matmul template holds three kernels, and variants of them, in #if blocks chosen by its
#defines: printed whole, 220 lines per matmul bury the one kernel that runs. Only the
conditionals are resolved: #define lines, macros and comments stay as written. Pure text: no
device, no pyopencl.
"""
from __future__ import annotations

import re

_DIRECTIVE = re.compile(r"\s*#\s*(\w+)\s*(.*)", re.DOTALL)
_MACRO = re.compile(r"(\w+)(\()?\s*(.*)", re.DOTALL)  # a #define's name, "(" if it takes arguments, body
_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(\w+)|(&&|\|\||<<|>>|[<>=!]=|[-+*/%<>()!~&|^?:]))")
_BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
           "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}  # C's precedences, loosest first


class _Unreadable(Exception):
    """A conditional this evaluator does not handle: the source is printed as it is."""


def compiled_source(source: str, options: tuple[str, ...] = ()) -> str:
    """source with its #if/#ifdef/#ifndef/#elif/#else/#endif blocks resolved for the -D options
    and the source's own #defines, as the preprocessor resolves them: the branches not taken
    and the directives themselves are left out, every other line stays. A condition it cannot
    evaluate (a function-like macro or ?: in it) leaves the whole source as it is."""
    try:
        kept = _resolve_conditionals(source.split("\n"), _option_defines(options))
    except _Unreadable:
        return source
    return "\n".join(kept)


def _option_defines(options: tuple[str, ...]) -> dict[str, str | None]:
    """The macros -DNAME, -DNAME=value and -D NAME define (value "1" when none is given)."""
    defines: dict[str, str | None] = {}
    words = iter(options)
    for word in words:
        if word.startswith("-D"):
            name, _, value = (word[2:] or next(words, "")).partition("=")
            defines[name] = value or "1"
    return defines


def _resolve_conditionals(lines: list[str], defines: dict[str, str | None]) -> list[str]:
    """The lines the compiler sees. defines maps a macro to its body (None: takes arguments);
    the source's #define and #undef lines in taken branches update it as they come."""
    kept: list[str] = []
    open_blocks: list[list[bool]] = []  # per open #if: [enclosing code kept, a branch was taken]
    active = True
    i = 0
    while i < len(lines):
        start = i
        while lines[i].endswith("\\") and i + 1 < len(lines):  # a directive may go on over several lines
            i += 1
        i += 1
        directive = _DIRECTIVE.match(lines[start])
        word, rest = "", ""
        if directive:
            word = directive.group(1)
            rest = " ".join(part.rstrip("\\") for part in [directive.group(2), *lines[start + 1:i]])
        if word in ("if", "ifdef", "ifndef"):
            taken = active and _condition(word, rest, defines)
            open_blocks.append([active, taken])
            active = taken
        elif word in ("elif", "else"):
            if not open_blocks:
                raise _Unreadable(f"#{word} without #if")
            outer, done = open_blocks[-1]
            active = outer and not done and (word == "else" or _condition("if", rest, defines))
            open_blocks[-1][1] = done or active
        elif word == "endif":
            if not open_blocks:
                raise _Unreadable("#endif without #if")
            active = open_blocks.pop()[0]
        elif active:
            if word == "define":
                macro = _MACRO.match(rest)
                if macro is None:
                    raise _Unreadable("#define without a name")
                name, takes_arguments, body = macro.groups()
                defines[name] = None if takes_arguments else body.split("//")[0].strip()
            elif word == "undef":
                defines.pop(rest.split()[0] if rest.split() else "", None)
            kept.extend(lines[start:i])
    if open_blocks:
        raise _Unreadable("#if without #endif")
    return kept


def _condition(word: str, rest: str, defines: dict[str, str | None]) -> bool:
    """Whether `#word rest` (if, ifdef or ifndef) holds."""
    rest = re.sub(r"//.*|/\*.*?\*/", " ", rest).strip()
    if word != "if":
        return (rest.split()[0] in defines) == (word == "ifdef") if rest else False
    tokens = _tokens(rest, defines, depth=0)
    value, end = _parse(tokens, 0, 1)
    if end != len(tokens):
        raise _Unreadable(f"cannot read the condition {rest!r}")
    return value != 0


def _tokens(expr: str, defines: dict[str, str | None], depth: int) -> list:
    """expr as numbers and operators, with defined(X) and object-like macros replaced (an
    undefined name is 0, as in C)."""
    if depth > 32:
        raise _Unreadable("a macro that expands without end")
    tokens: list = []
    pos, expr = 0, expr.strip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise _Unreadable(f"cannot read {expr[pos:]!r}")
        pos = match.end()
        number, name, operator = match.groups()
        if number is not None:
            tokens.append(int(number, 0))
        elif operator is not None:
            tokens.append(operator)
        elif name == "defined":
            asked = re.match(r"\s*(?:\(\s*(\w+)\s*\)|(\w+))", expr[pos:])
            if asked is None:
                raise _Unreadable("defined without a name")
            pos += asked.end()
            tokens.append(int((asked.group(1) or asked.group(2)) in defines))
        elif name not in defines:
            tokens.append(0)
        elif defines[name] is None:
            raise _Unreadable(f"the macro {name} takes arguments")
        else:
            tokens.extend(["(", *_tokens(defines[name] or "0", defines, depth + 1), ")"])
    return tokens


def _parse(tokens: list, pos: int, min_precedence: int) -> tuple[int, int]:
    """(value, next position) of the expression at tokens[pos:] whose operators bind at least
    as tightly as min_precedence (precedence climbing)."""
    value, pos = _unary(tokens, pos)
    while pos < len(tokens) and _BINARY.get(tokens[pos], 0) >= min_precedence:
        op = tokens[pos]
        right, pos = _parse(tokens, pos + 1, _BINARY[op] + 1)
        value = _apply(op, value, right)
    return value, pos


def _unary(tokens: list, pos: int) -> tuple[int, int]:
    if pos >= len(tokens):
        raise _Unreadable("a condition ends too early")
    token = tokens[pos]
    if isinstance(token, int):
        return token, pos + 1
    if token == "(":
        value, pos = _parse(tokens, pos + 1, 1)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise _Unreadable("unbalanced parentheses")
        return value, pos + 1
    if token in ("!", "-", "+", "~"):
        value, pos = _unary(tokens, pos + 1)
        return {"!": int(not value), "-": -value, "+": value, "~": ~value}[token], pos
    raise _Unreadable(f"unexpected {token!r}")


def _apply(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise _Unreadable("division by zero in a condition")
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates toward zero
        return quotient if op == "/" else a - b * quotient
    return {"||": lambda: int(bool(a or b)), "&&": lambda: int(bool(a and b)), "|": lambda: a | b,
            "^": lambda: a ^ b, "&": lambda: a & b, "==": lambda: int(a == b), "!=": lambda: int(a != b),
            "<": lambda: int(a < b), ">": lambda: int(a > b), "<=": lambda: int(a <= b), ">=": lambda: int(a >= b),
            "<<": lambda: a << b, ">>": lambda: a >> b, "+": lambda: a + b, "-": lambda: a - b,
            "*": lambda: a * b}[op]()

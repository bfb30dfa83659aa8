"""The assembler: IR text (as the white paper writes it) to a code object.

Accepted, line by line:
  `:label` or `label:`            a label
  `14. OPCODE a, b -> R`          an instruction; the step number is optional; the output is
                                  `-> R` or `out=R`; keyword arguments `name=value`
  `#define NAME value`            a named constant
  `IF cond [THEN]` / `ELSE` / `ENDIF`
  `.region NAME locked|self|council` ... `.endregion`
  `.test NAME [REGION]` ... `.endtest`, with lines `entry L`, `args v, ...`, `storage K = V`,
                                  `expect V`, `expect_storage K = V`, `expect_revert`, `gas N`
  `;` comments, and markdown code fences (the paper's listings come with them).

Operands are expressions (avm/expressions.py parses them): literals, registers, register paths
(`R_state.conversation[-1].text`), arithmetic, comparisons and AND/OR/NOT. Compound expressions
are lowered here to instructions writing temporary registers `%tN`; IF conditions are lowered
to short-circuit jumps.

Errors carry file:line:col; an unknown opcode lists the nearest known ones; a name read but never
defined is a warning that suggests the nearest defined name.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from avm.code import (
    ARGS_REGISTER,
    IMPLICIT_RESULT,
    KEYWORD_CONSTANTS,
    MAX_INSTRUCTIONS,
    RESERVED_WORDS,
    CodeObject,
    Instruction,
    Label,
    Operand,
    OperandKind,
    Policy,
    Region,
    TestCase,
    normalize,
)
from avm.errors import AssemblyError, CodeFormatError, SourcePos
from avm.expressions import (
    Binary,
    Const,
    Expr,
    ExpressionParser,
    Line,
    ListExpr,
    MapExpr,
    Name,
    Not,
    Path,
    constant_value,
)
from avm.gas import DEFAULT_GAS
from avm.instructions import MAX_AVM_VERSION, OPCODES, VERSIONS
from avm.lexer import Tok, Token, tokenize_line
from avm.opcodes import FROM_ACC, REQUIRED, OpSpec, ParamKind
from avm.validation import validate
from avm.values import (
    Value,
)

MAX_SOURCE_BYTES = 1024 * 1024
PARAM_ALIASES = {"new_code_ref": "patch"}
_BINARY_OPCODES = {
    "+": "ADD",
    "-": "SUB",
    "*": "MUL",
    "/": "DIV",
    "==": "EQ",
    "!=": "NE",
    "<": "LT",
    "<=": "LE",
    ">": "GT",
    ">=": "GE",
    "AND": "AND",
    "OR": "OR",
}


@dataclass(frozen=True, slots=True)
class AssemblyWarning:
    """Something that assembles but is probably a mistake (a name read but never defined)."""

    pos: SourcePos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: warning: {self.message}"


@dataclass(frozen=True, slots=True)
class Assembly:
    """What assembling gives: the code object, warnings, and pc -> source position."""

    code: CodeObject
    warnings: tuple[AssemblyWarning, ...]
    source_map: dict[int, SourcePos] = field(default_factory=dict)

    def lines(self) -> dict[int, int]:
        return {pc: pos.line for pc, pos in self.source_map.items()}


def suggest(name: str, candidates: list[str] | set[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, sorted(candidates), n=n, cutoff=0.6)


@dataclass
class _If:
    else_label: str
    end_label: str | None
    pos: SourcePos


@dataclass(slots=True)
class _TestFields:
    """The lines of a `.test` block read so far."""

    entry: tuple[str, SourcePos] | None = None
    args: tuple[Value, ...] = ()
    storage: list[tuple[Value, Value]] = field(default_factory=list)
    expect: tuple[Value, ...] = ()
    expect_storage: list[tuple[Value, Value]] = field(default_factory=list)
    revert: bool = False
    gas: int = DEFAULT_GAS


@dataclass
class _Emitted:
    opcode: str
    operands: list[tuple[OperandKind, Value]]  # REG: name, CONST: value, LABEL: name
    out: str | None
    pos: SourcePos


class Assembler:
    """One assembly run. Use `assemble()` rather than this class directly."""

    def __init__(self, file: str, fragment: bool = False) -> None:
        self.file = file
        self.fragment = fragment
        self.instructions: list[_Emitted] = []
        self.labels: dict[str, tuple[int, str | None, SourcePos]] = {}
        self.regions: list[Region] = []
        self.region_open: tuple[str, Policy, int, SourcePos] | None = None
        self.tests: list[TestCase] = []
        self.defines: dict[str, Value] = {}
        self.ifs: list[_If] = []
        self.generated = 0
        self.temps = 0
        self.label_refs: list[tuple[str, SourcePos]] = []
        self.reads: list[tuple[str, SourcePos]] = []
        self.warnings: list[AssemblyWarning] = []
        self.test_regions: list[tuple[str | None, SourcePos]] = []
        # `.avm N`: the instruction set the program is for. A patch names opcodes of any version
        # (the patched code is checked against its own); its `.avm N` moves the code it patches
        # to version N (an agent opting in to a newer AVM; never back).
        self.avm_version = 1
        self.opcodes = OPCODES if fragment else VERSIONS[1]

    # -- driver ---------------------------------------------------------------------------------

    def run(self, text: str) -> Assembly:
        if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            raise AssemblyError(SourcePos(self.file, 1, 1), "source exceeds 1 MiB")
        lines = text.split("\n")
        n = 0
        while n < len(lines):
            raw = lines[n]
            n += 1
            if raw.strip().startswith("```"):
                continue  # markdown fences around the paper's listings
            tokens = tokenize_line(raw, self.file, n)
            if tokens[0].kind is Tok.DIRECTIVE and tokens[0].text == ".test":
                n = self._test_block(tokens, lines, n)
                continue
            self._line(Line(tokens))
        end = SourcePos(self.file, len(lines), 1)
        if self.ifs:
            raise AssemblyError(self.ifs[-1].pos, "IF without ENDIF")
        if self.region_open is not None:
            raise AssemblyError(
                self.region_open[3], f"region {self.region_open[0]} has no .endregion"
            )
        return self._finish(end)

    def _line(self, line: Line) -> None:
        self.temps = 0
        tok = line.tok
        if tok.kind is Tok.INT and line.peek().is_punct("."):
            line.next()
            line.next()  # a step number such as `14.`
            tok = line.tok
        if tok.kind is Tok.END:
            return
        if tok.kind is Tok.DIRECTIVE:
            self._directive(line)
        elif tok.is_punct(":"):
            line.next()
            name = line.expect_ident("a label name after ':'")
            line.expect_end()
            self._label(name.text, name.pos)
        elif tok.kind is Tok.IDENT and line.peek().is_punct(":") and line.peek(2).kind is Tok.END:
            line.next()
            line.next()
            self._label(tok.text, tok.pos)
        elif tok.kind is Tok.IDENT:
            self._statement(line)
        else:
            raise AssemblyError(tok.pos, f"expected an opcode or a label, found {tok.describe()}")

    def _label(self, name: str, pos: SourcePos) -> None:
        if name in self.labels:
            first = self.labels[name][2]
            raise AssemblyError(pos, f"label {name} is already defined at line {first.line}")
        region = self.region_open[0] if self.region_open else None
        self.labels[name] = (len(self.instructions), region, pos)

    def _new_label(self, kind: str) -> str:
        self.generated += 1
        return f"%{kind}{self.generated}"

    def _place(self, name: str, pos: SourcePos) -> None:
        self._label(name, pos)

    # -- directives -----------------------------------------------------------------------------

    def _directive(self, line: Line) -> None:
        tok = line.next()
        if tok.text == "#define":
            name = line.expect_ident("a name after #define")
            value = constant_value(ExpressionParser(line, self.defines).expr())
            line.expect_end()
            if name.text in self.defines:
                raise AssemblyError(name.pos, f"{name.text} is already defined")
            self.defines[name.text] = value
        elif tok.text == ".avm":
            number = line.next()
            line.expect_end()
            if self.instructions or self.labels or self.avm_version != 1:
                raise AssemblyError(tok.pos, ".avm comes first, once, before any instruction")
            if self.fragment:
                # Any version, known here or not: the chain judges it against the enacted one
                # before anything reads the patch, alike on every node.
                if not (number.text.isdecimal() and 2 <= int(number.text) <= MAX_AVM_VERSION):
                    raise AssemblyError(number.pos, f".avm takes a version in 2..{MAX_AVM_VERSION}")
                self.avm_version = int(number.text)
                return
            known = ", ".join(str(v) for v in VERSIONS)
            if not (number.text.isdecimal() and int(number.text) in VERSIONS):
                raise AssemblyError(number.pos, f".avm takes a version this AVM knows: {known}")
            self.avm_version = int(number.text)
            self.opcodes = VERSIONS[self.avm_version]
        elif tok.text == ".region":
            if self.fragment:
                raise AssemblyError(tok.pos, "a patch cannot open a region")
            if self.region_open is not None:
                raise AssemblyError(tok.pos, f"region {self.region_open[0]} is still open")
            name = line.expect_ident("a region name")
            policy_tok = line.expect_ident("a policy: locked, self or council")
            line.expect_end()
            try:
                policy = Policy(policy_tok.text.lower())
            except ValueError:
                raise AssemblyError(
                    policy_tok.pos, f"unknown policy {policy_tok.text}; use locked, self or council"
                ) from None
            if any(r.name == name.text for r in self.regions):
                raise AssemblyError(name.pos, f"region {name.text} is already defined")
            self.region_open = (name.text, policy, len(self.instructions), tok.pos)
        elif tok.text == ".endregion":
            line.expect_end()
            if self.region_open is None:
                raise AssemblyError(tok.pos, ".endregion without .region")
            if self.ifs and self.ifs[-1].pos.line > self.region_open[3].line:
                raise AssemblyError(tok.pos, "an IF inside the region is not closed")
            region_name, policy, start, _ = self.region_open
            self.regions.append(Region(region_name, policy, start, len(self.instructions)))
            self.region_open = None
        else:
            raise AssemblyError(tok.pos, f"{tok.text} outside a .test block")

    def _test_block(self, header: list[Token], lines: list[str], n: int) -> int:
        line = Line(header)
        start = line.next()
        if self.fragment:
            raise AssemblyError(start.pos, "a patch cannot define tests")
        name = line.expect_ident("a test name")
        region: str | None = self.region_open[0] if self.region_open else None
        if line.accept_word("REGION") is not None:
            line.expect("=", "'=' after region")
        if not line.at_end():
            region = line.expect_ident("a region name").text
        line.expect_end()
        fields = _TestFields()
        while True:
            if n >= len(lines):
                raise AssemblyError(start.pos, f"test {name.text} has no .endtest")
            n += 1
            body = Line(tokenize_line(lines[n - 1], self.file, n))
            if body.at_end():
                continue
            if body.tok.kind is Tok.DIRECTIVE and body.tok.text == ".endtest":
                body.next()
                body.expect_end()
                break
            self._test_line(body, fields)
        if fields.entry is None:
            raise AssemblyError(start.pos, f"test {name.text} needs an `entry LABEL` line")
        if any(t.name == name.text for t in self.tests):
            raise AssemblyError(name.pos, f"test {name.text} is already defined")
        entry_text, entry_pos = fields.entry
        self.label_refs.append((entry_text, entry_pos))
        self.tests.append(
            TestCase(
                name.text,
                region,
                entry_text,
                fields.args,
                tuple(fields.storage),
                fields.expect,
                tuple(fields.expect_storage),
                fields.revert,
                fields.gas,
            )
        )
        self.test_regions.append((region, name.pos))
        return n

    def _test_line(self, line: Line, fields: _TestFields) -> None:
        word = line.expect_ident(
            "a test line: entry, args, storage, expect, expect_storage, expect_revert or gas"
        )
        parser = ExpressionParser(line, self.defines)
        key = word.text.lower()
        if key == "entry":
            label = line.expect_ident("an entry label")
            fields.entry = (label.text, label.pos)
        elif key == "args":
            args = []
            while not line.at_end():
                args.append(constant_value(parser.expr()))
                if not line.accept(","):
                    break
            fields.args = tuple(args)
        elif key in ("storage", "expect_storage"):
            k = constant_value(parser.expr())
            line.expect("=", "'=' between key and value")
            pairs = fields.storage if key == "storage" else fields.expect_storage
            pairs.append((k, constant_value(parser.expr())))
        elif key == "expect":
            fields.expect = (constant_value(parser.expr()),)
        elif key == "expect_revert":
            fields.revert = True
        elif key == "gas":
            gas = constant_value(parser.expr())
            if type(gas) is not int or gas <= 0:
                raise AssemblyError(word.pos, "test gas is a positive integer (milligas)")
            fields.gas = gas
        else:
            options = [
                "entry",
                "args",
                "storage",
                "expect",
                "expect_storage",
                "expect_revert",
                "gas",
            ]
            hint = suggest(key, options)
            raise AssemblyError(
                word.pos,
                f"unknown test line {word.text!r}" + (f"; did you mean {hint[0]}?" if hint else ""),
            )
        line.expect_end()

    # -- statements -----------------------------------------------------------------------------

    def _statement(self, line: Line) -> None:
        tok = line.next()
        word = tok.text.upper()
        if word == "IF":
            cond = ExpressionParser(line, self.defines).expr()
            line.accept_word("THEN")
            line.expect_end()
            block = _If(self._new_label("else"), None, tok.pos)
            self._branch(cond, block.else_label, when=False)
            self.ifs.append(block)
            return
        if word == "ELSE":
            line.expect_end()
            if not self.ifs or self.ifs[-1].end_label is not None:
                raise AssemblyError(tok.pos, "ELSE without IF")
            block = self.ifs[-1]
            block.end_label = self._new_label("endif")
            self._emit("JUMP", [(OperandKind.LABEL, block.end_label)], None, tok.pos)
            self._place(block.else_label, tok.pos)
            return
        if word == "ENDIF":
            line.expect_end()
            if not self.ifs:
                raise AssemblyError(tok.pos, "ENDIF without IF")
            block = self.ifs.pop()
            self._place(block.end_label or block.else_label, tok.pos)
            return
        spec = self.opcodes.get(word)
        if spec is None:
            later = next((v for v, table in VERSIONS.items() if word in table), None)
            if later is not None:
                raise AssemblyError(
                    tok.pos, f"{word} is an AVM {later} opcode: start with `.avm {later}`"
                )
            hint = suggest(word, set(self.opcodes), n=3)
            more = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise AssemblyError(tok.pos, f"unknown opcode {tok.text}{more}")
        self._instruction(spec, line, tok.pos)

    def _instruction(self, spec: OpSpec, line: Line, pos: SourcePos) -> None:
        parser = ExpressionParser(line, self.defines)
        positional: list[Expr] = []
        keywords: dict[str, tuple[Expr, SourcePos]] = {}
        out: Token | None = None
        if spec.dest_first and line.tok.kind is Tok.IDENT and line.peek().is_punct("=", ","):
            out = line.next()
            line.next()  # the '=' or ',' after the destination
        while not line.at_end() and not line.tok.is_punct("->"):
            if line.tok.kind is Tok.IDENT and line.peek().is_punct("="):
                key = line.next()
                line.next()
                name = PARAM_ALIASES.get(key.text.lower(), key.text.lower())
                if name == "out":
                    out = line.expect_ident("an output register after out=")
                else:
                    if name in keywords:
                        raise AssemblyError(key.pos, f"{key.text} is given twice")
                    keywords[name] = (parser.expr(), key.pos)
            else:
                if keywords:
                    raise AssemblyError(line.tok.pos, "a positional operand after a keyword one")
                positional.append(parser.expr())
            if not line.accept(","):
                break
        if line.accept("->"):
            if out is not None:
                raise AssemblyError(line.tok.pos, "the output is given twice")
            out = line.expect_ident("an output register after '->'")
        line.expect_end()
        self._bind(spec, positional, keywords, out, pos)

    def _bind(
        self,
        spec: OpSpec,
        positional: list[Expr],
        keywords: dict[str, tuple[Expr, SourcePos]],
        out: Token | None,
        pos: SourcePos,
    ) -> None:
        params = spec.params
        bound: dict[str, Expr] = {}
        if spec.variadic:
            fixed = params[:-1]
            if len(positional) < len(fixed):
                raise AssemblyError(pos, f"{spec.name} needs at least {len(fixed)} operands")
            bound.update(zip([p.name for p in fixed], positional, strict=False))
            rest = positional[len(fixed) :]
        else:
            rest = []
            if len(positional) > len(params):
                raise AssemblyError(
                    pos, f"{spec.name} takes at most {len(params)} operands, got {len(positional)}"
                )
            required = [p for p in params if p.required]
            # `JUMP_IF label` binds the one operand to the required label, not the condition.
            targets = required if len(positional) == len(required) else list(params)
            bound.update(zip([p.name for p in targets], positional, strict=False))
        for name, (expr, kpos) in keywords.items():
            if name not in {p.name for p in params} or (spec.variadic and name == params[-1].name):
                hint = suggest(name, [p.name for p in params])
                more = f"; did you mean {hint[0]}?" if hint else ""
                raise AssemblyError(kpos, f"{spec.name} has no parameter {name}{more}")
            if name in bound:
                raise AssemblyError(kpos, f"{name} is given both by position and by keyword")
            bound[name] = expr
        operands: list[tuple[OperandKind, Value]] = []
        fixed_params = params[:-1] if spec.variadic else params
        for p in fixed_params:
            given = bound.get(p.name)
            if given is None:
                if p.default is REQUIRED:
                    raise AssemblyError(pos, f"{spec.name} needs its {p.name} operand")
                if p.default is FROM_ACC:
                    self.reads.append((IMPLICIT_RESULT, pos))
                    operands.append((OperandKind.REG, IMPLICIT_RESULT))
                else:
                    operands.append((OperandKind.CONST, p.default))
            elif p.kind is ParamKind.LABEL:
                if not isinstance(given, Name):
                    raise AssemblyError(given.pos, f"{spec.name} needs a label for {p.name}")
                self.label_refs.append((given.name, given.pos))
                operands.append((OperandKind.LABEL, given.name))
            else:
                operands.append(self._operand(given))
        operands.extend(self._operand(e) for e in rest)
        out_name: str | None = None
        if out is not None:
            if not spec.returns:
                raise AssemblyError(out.pos, f"{spec.name} produces no value to write")
            out_name = self._register(out)
        elif spec.updates_first and positional and isinstance(positional[0], Name | Path):
            target = positional[0]
            if isinstance(target, Name):
                out_name = target.name
            else:
                result = self._temp()
                self._emit(spec.name, operands, result, pos)
                self._store_path(target, (OperandKind.REG, result), pos)
                return
        elif spec.returns:
            out_name = IMPLICIT_RESULT
        self._emit(spec.name, operands, out_name, pos)

    def _register(self, tok: Token) -> str:
        if tok.text in KEYWORD_CONSTANTS or tok.text in self.defines:
            raise AssemblyError(tok.pos, f"{tok.text} is a constant, not a register")
        if tok.text.upper() in RESERVED_WORDS:
            raise AssemblyError(tok.pos, f"{tok.text} is a keyword, not a register")
        return tok.text

    # -- lowering -------------------------------------------------------------------------------

    def _temp(self) -> str:
        self.temps += 1
        return f"%t{self.temps - 1}"

    def _emit(
        self,
        opcode: str,
        operands: list[tuple[OperandKind, Value]],
        out: str | None,
        pos: SourcePos,
    ) -> None:
        self.instructions.append(_Emitted(opcode, operands, out, pos))

    def _operand(self, expr: Expr) -> tuple[OperandKind, Value]:
        """An operand for `expr`, emitting instructions for compound expressions."""
        if isinstance(expr, Const):
            return (OperandKind.CONST, expr.value)
        if isinstance(expr, Name):
            self.reads.append((expr.name, expr.pos))
            return (OperandKind.REG, expr.name)
        try:
            return (OperandKind.CONST, constant_value(expr))
        except AssemblyError:
            pass  # not constant: lowered below
        if isinstance(expr, Path):
            current = self._operand(expr.base)
            for key in expr.keys:
                k = self._operand(key)
                result = self._temp()
                self._emit("GET", [current, k], result, expr.pos)
                current = (OperandKind.REG, result)
            return current
        if isinstance(expr, Binary):
            left, right = self._operand(expr.left), self._operand(expr.right)
            result = self._temp()
            self._emit(_BINARY_OPCODES[expr.op], [left, right], result, expr.pos)
            return (OperandKind.REG, result)
        if isinstance(expr, Not):
            inner = self._operand(expr.operand)
            result = self._temp()
            self._emit("NOT", [inner], result, expr.pos)
            return (OperandKind.REG, result)
        if isinstance(expr, ListExpr):
            items = [self._operand(e) for e in expr.items]
            result = self._temp()
            self._emit("LIST", items, result, expr.pos)
            return (OperandKind.REG, result)
        assert isinstance(expr, MapExpr)
        flat = [self._operand(e) for pair in expr.pairs for e in pair]
        result = self._temp()
        self._emit("MAP", flat, result, expr.pos)
        return (OperandKind.REG, result)

    def _store_path(self, path: Path, value: tuple[OperandKind, Value], pos: SourcePos) -> None:
        """Write `value` at `path`, rebuilding each container up to the root register."""
        if not isinstance(path.base, Name):
            raise AssemblyError(path.pos, "only a register path can be updated")
        self.reads.append((path.base.name, path.pos))
        containers: list[tuple[OperandKind, Value]] = [(OperandKind.REG, path.base.name)]
        keys = [self._operand(k) for k in path.keys]
        for k in keys[:-1]:
            result = self._temp()
            self._emit("GET", [containers[-1], k], result, pos)
            containers.append((OperandKind.REG, result))
        current = value
        for i in reversed(range(len(keys))):
            result = path.base.name if i == 0 else self._temp()
            self._emit("PUT", [containers[i], keys[i], current], result, pos)
            current = (OperandKind.REG, result)

    def _branch(self, cond: Expr, label: str, when: bool) -> None:
        """Jump to `label` when `cond` is `when`; AND/OR short-circuit."""
        if isinstance(cond, Not):
            self._branch(cond.operand, label, not when)
        elif isinstance(cond, Binary) and cond.op in ("AND", "OR"):
            # For OR jumping on true (or AND on false), either side decides alone.
            if (cond.op == "OR") == when:
                self._branch(cond.left, label, when)
                self._branch(cond.right, label, when)
            else:
                skip = self._new_label("skip")
                self._branch(cond.left, skip, not when)
                self._branch(cond.right, label, when)
                self._place(skip, cond.pos)
        else:
            operand = self._operand(cond)
            self._emit(
                "JUMP_IF" if when else "JUMP_IF_FALSE",
                [operand, (OperandKind.LABEL, label)],
                None,
                cond.pos,
            )
            self.temps = 0

    # -- finishing ------------------------------------------------------------------------------

    def _finish(self, end: SourcePos) -> Assembly:
        for name, pos in self.label_refs:
            if name not in self.labels and not self.fragment:
                hint = suggest(name, set(self.labels))
                more = f"; did you mean {hint[0]}?" if hint else ""
                raise AssemblyError(pos, f"unknown label {name}{more}")
        region_names = {r.name for r in self.regions}
        for region, pos in self.test_regions:
            if region is not None and region not in region_names:
                raise AssemblyError(pos, f"unknown region {region}")
        written = {e.out for e in self.instructions if e.out is not None}
        implicit = {IMPLICIT_RESULT, ARGS_REGISTER}
        warned: set[str] = set()
        for name, pos in self.reads:
            if name in written or name in implicit or name in warned:
                continue
            warned.add(name)
            hint = suggest(name, set(self.defines) | (written - {IMPLICIT_RESULT}), n=1)
            more = f"; did you mean {hint[0]}?" if hint else ""
            self.warnings.append(
                AssemblyWarning(pos, f"{name} is read but never defined (it reads as null){more}")
            )
        registers: dict[str, int] = {}
        constants: list[Value] = []
        instructions = []
        source_map = {}

        def reg(name: str) -> int:
            return registers.setdefault(name, len(registers))

        for pc, e in enumerate(self.instructions):
            ops = []
            for kind, ref in e.operands:
                if kind is OperandKind.CONST:
                    constants.append(ref)
                    ops.append(Operand(kind, len(constants) - 1))
                elif type(ref) is str:  # a register or a label name
                    ops.append(Operand(kind, reg(ref) if kind is OperandKind.REG else ref))
                else:
                    raise AssemblyError(e.pos, f"operand {ref!r} is not a name")
            out = None if e.out is None else reg(e.out)
            instructions.append(Instruction(e.opcode, tuple(ops), out))
            source_map[pc] = e.pos
        labels = tuple(Label(name, pc, region) for name, (pc, region, _) in self.labels.items())
        code = CodeObject(
            tuple(registers),
            tuple(constants),
            tuple(instructions),
            labels,
            tuple(self.regions),
            tuple(self.tests),
            self.avm_version,
        )
        code = normalize(code)
        if len(code.instructions) > MAX_INSTRUCTIONS:
            raise AssemblyError(end, f"more than {MAX_INSTRUCTIONS} instructions")
        if not self.fragment:
            try:
                code.to_bytes()
                validate(code)
            except CodeFormatError as exc:
                raise AssemblyError(end, str(exc)) from None
        return Assembly(code, tuple(self.warnings), source_map)


def assemble(text: str, file: str = "<input>") -> Assembly:
    """Assemble IR text. Raises AssemblyError (with file:line:col) on the first error."""
    return Assembler(file).run(text)


def assemble_fragment(text: str, file: str = "<patch>") -> CodeObject:
    """Assemble a region body (a patch): no regions or tests; labels may refer outside it."""
    return Assembler(file, fragment=True).run(text).code


def assemble_file(path: str) -> Assembly:
    with open(path, encoding="utf-8") as f:
        return assemble(f.read(), path)


def parse_constant(text: str, file: str = "<argument>") -> Value:
    """An IR literal (int, decimal, string, x"bytes", list, map, true/false/null) as a value."""
    line = Line(tokenize_line(text, file, 1))
    value = constant_value(ExpressionParser(line, {}).expr())
    line.expect_end()
    return value

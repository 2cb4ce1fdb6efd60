"""GraphSpec -> the source of a Metaflow flow file, readable enough to serve as a bug reproduction.

Every step does data work a wrong input path would change: it appends its name, foreach position and
`self.input` to `trace`, and folds its number and input into `value`. Joins merge their inputs'
traces (sorted) and sum their values. Foreach lists, switch choices and loop counts all depend on
`value`, so different foreach splits take different switch cases and loop a different number of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graph_specs import Block, Branch, Foreach, GraphSpec, Loop, Seq, Switch, Work, describe

HELPERS = '''
    def work(self, label, weight):
        """Record this task in `trace` and fold it into `value`."""
        item = self.input if isinstance(self.input, int) else 0
        stack = [(frame[0], frame[1]) for frame in self.foreach_stack()]
        self.trace = self.trace + [f"{label} at {stack} input={self.input!r}"]
        self.value = (self.value * 3 + weight + item) % 1009

    def join_inputs(self, label, inputs):
        """Merge the inputs' traces and values; both depend on which tasks the inputs are."""
        self.trace = sorted(entry for inp in inputs for entry in inp.trace)
        self.value = sum(inp.value for inp in inputs) % 1009
        self.work(label, 1)
'''


@dataclass
class _Step:
    name: str
    kind: str  # work, split, foreach, join, switch, loop, merge, end
    doc: str
    targets: dict[str, str | None] = field(default_factory=dict)  # key -> step; None: not wired yet
    foreach_depth: int = 0  # foreaches this step is inside
    is_start: bool = False


@dataclass(frozen=True)
class _Exit:
    """A transition not wired yet: `key` of `step`. A switch's exits must not go straight to a join."""

    step: _Step
    key: str

    @property
    def from_switch(self) -> bool:
        return self.step.kind in ("switch", "loop")


class _Builder:
    def __init__(self, spec: GraphSpec) -> None:
        self.spec = spec
        self.steps: list[_Step] = []
        self.count = 0
        self.first_name: str | None = spec.start if spec.fused_start else None

    def new(self, kind: str, doc: str, depth: int) -> _Step:
        self.count += 1
        created = _Step(name=f"{kind}_{self.count}", kind=kind, doc=doc, foreach_depth=depth)
        if self.first_name is not None:
            if kind == "loop":
                raise ValueError(f"{self.spec.id}: a start step cannot be a recursive switch")
            created.name, created.is_start, self.first_name = self.first_name, True, None
        self.steps.append(created)
        return created

    @staticmethod
    def connect(exits: list[_Exit], target: _Step) -> None:
        for way in exits:
            way.step.targets[way.key] = target.name

    def before_join(self, exits: list[_Exit], depth: int) -> list[_Exit]:
        """Metaflow forbids a switch going straight to a join: put a merge step in between.
        `exits` are one arm's or one foreach body's: alternatives of the switches inside it."""
        if not any(way.from_switch for way in exits):
            return exits
        merge = self.new("merge", "Where a switch's paths meet before the join.", depth)
        self.connect(exits, merge)
        return [_Exit(merge, "next")]

    def emit(self, block: Block, depth: int) -> tuple[str, list[_Exit]]:
        """Create the steps of `block`; return its first step and its unwired exits."""
        match block:
            case Work():
                step = self.new("work", "A plain step.", depth)
                return step.name, [_Exit(step, "next")]
            case Loop():
                step = self.new("loop", "A recursive switch: repeats itself 0-3 extra times.", depth)
                step.targets["again"] = step.name
                return step.name, [_Exit(step, "done")]
            case Seq(parts=parts):
                return self._sequence(parts, depth)
            case Branch(arms=arms):
                return self._branch(arms, depth)
            case Foreach(body=body):
                return self._foreach(body, depth)
            case Switch(cases=cases, merge=merge):
                return self._switch(cases, merge, depth)
        raise TypeError(f"not a block: {block!r}")

    def _sequence(self, parts: tuple[Block, ...], depth: int) -> tuple[str, list[_Exit]]:
        entry, exits = self.emit(parts[0], depth)
        for part in parts[1:]:
            next_entry, next_exits = self.emit(part, depth)
            self.connect(exits, self.step_named(next_entry))
            exits = next_exits
        return entry, exits

    def _branch(self, arms: tuple[Block, ...], depth: int) -> tuple[str, list[_Exit]]:
        split = self.new("split", f"A static split into {len(arms)} arms.", depth)
        arm_exits: list[_Exit] = []
        for number, arm in enumerate(arms):
            split.targets[f"arm{number}"], exits = self.emit(arm, depth)
            arm_exits += self.before_join(exits, depth)
        join = self.new("join", f"Joins the arms of {split.name}.", depth)
        self.connect(arm_exits, join)
        return split.name, [_Exit(join, "next")]

    def _foreach(self, body: Block, depth: int) -> tuple[str, list[_Exit]]:
        fan = self.new("foreach", "A foreach over 2-3 items that depend on the data.", depth)
        fan.targets["body"], exits = self.emit(body, depth + 1)
        exits = self.before_join(exits, depth + 1)
        join = self.new("join", f"Joins the splits of {fan.name}.", depth)
        self.connect(exits, join)
        return fan.name, [_Exit(join, "next")]

    def _switch(self, cases: tuple[Block | None, ...], merge: bool, depth: int) -> tuple[str, list[_Exit]]:
        if sum(case is None for case in cases) > 1:
            raise ValueError(f"{self.spec.id}: a switch may have at most one empty case")
        decide = self.new("switch", f"A switch between {len(cases)} cases; the data decides.", depth)
        exits: list[_Exit] = []
        for key, case in zip(_case_keys(cases), cases, strict=True):
            if case is None:
                decide.targets[key] = None
                exits.append(_Exit(decide, key))
            else:
                decide.targets[key], case_exits = self.emit(case, depth)
                exits += case_exits
        if merge:
            merge_step = self.new("merge", f"Where the cases of {decide.name} meet.", depth)
            self.connect(exits, merge_step)
            exits = [_Exit(merge_step, "next")]
        return decide.name, exits

    def step_named(self, name: str) -> _Step:
        return next(step for step in self.steps if step.name == name)


def _case_keys(cases: tuple[Block | None, ...]) -> list[str]:
    """Readable switch keys: what each case holds (`skip` for an empty case), unique."""
    keys: list[str] = []
    for case in cases:
        base = "skip" if case is None else type(case).__name__.lower()
        key, number = base, 2
        while key in keys:
            key, number = f"{base}{number}", number + 1
        keys.append(key)
    return keys


def render(spec: GraphSpec) -> str:
    """The flow file for `spec`."""
    builder = _Builder(spec)
    if not spec.fused_start:
        start = _Step(name=spec.start, kind="work", doc="Starts the trace.", is_start=True)
        builder.steps.append(start)
        start.targets["next"], exits = builder.emit(spec.body, 0)
    else:
        _, exits = builder.emit(spec.body, 0)
    end = _Step(name=spec.end, kind="end", doc="Ends the flow.")
    builder.steps.append(end)
    builder.connect(exits, end)
    body = "".join(_step_source(step, spec) for step in builder.steps)
    return (
        f'"""Generated by tests/matrix (flow_source.py) from the spec {spec.id!r}:\n'
        f"    {_describe_spec(spec)}\n"
        f'"""\n\nfrom metaflow import FlowSpec, step\n\n\n'
        f"class {spec.class_name}(FlowSpec):\n"
        f'    """{spec.about or spec.id}"""\n{HELPERS}{body}\n\n'
        f'if __name__ == "__main__":\n    {spec.class_name}()\n'
    )


def _describe_spec(spec: GraphSpec) -> str:
    start = f"{spec.start} (fused with the body's first step)" if spec.fused_start else spec.start
    return f"{start} -> {describe(spec.body)} -> {spec.end}"


def _step_source(step: _Step, spec: GraphSpec) -> str:
    starts, kind = step.is_start, step.kind
    decorator = "@step"
    if starts and spec.start != "start":
        decorator = "@step(start=True)"
    if kind == "end" and spec.end != "end":
        decorator = "@step(end=True)"
    weight = _weight(step.name)
    signature = f"def {step.name}(self, inputs):" if kind == "join" else f"def {step.name}(self):"
    lines = [f'"""{step.doc}"""']
    if starts:
        lines += ["self.trace = []", "self.value = 1"]
    if kind == "join":
        lines.append(f'self.join_inputs("{step.name}", inputs)')
    elif kind == "loop":
        rounds, extra = f"rounds_{weight}", f"extra_rounds_{weight}"
        lines += [
            f'self.{rounds} = getattr(self, "{rounds}", 0) + 1',
            f"if self.{rounds} == 1:",
            f"    self.{extra} = self.value % 4",
            f'self.work(f"{step.name}#{{self.{rounds}}}", {weight})',
        ]
    else:
        lines.append(f'self.work("{step.name}", {weight})')
    lines += _transition(step, kind, weight)
    body = "\n".join(f"        {line}" for line in lines)
    return f"\n    {decorator}\n    {signature}\n{body}\n"


def _transition(step: _Step, kind: str, weight: int) -> list[str]:
    targets = step.targets
    if kind == "end":
        return ['print("trace:", len(self.trace), "entries, value", self.value)']
    if kind == "foreach":
        width = "3" if step.foreach_depth == 0 else "2 + self.value % 2"
        return [
            f"self.items_{weight} = [(self.value + k) % 10 for k in range({width})]",
            f'self.next(self.{targets["body"]}, foreach="items_{weight}")',
        ]
    if kind == "split":
        return ["self.next(" + ", ".join(f"self.{name}" for name in targets.values()) + ")"]
    if kind == "switch":
        keys = tuple(targets)
        cases = ", ".join(f'"{key}": self.{name}' for key, name in targets.items())
        return [
            f"self.choice_{weight} = {keys!r}[self.value % {len(keys)}]",
            f'self.next({{{cases}}}, condition="choice_{weight}")',
        ]
    if kind == "loop":
        rounds, extra = f"rounds_{weight}", f"extra_rounds_{weight}"
        return [
            f'self.repeat_{weight} = "again" if self.{rounds} <= self.{extra} else "done"',
            f'self.next({{"again": self.{targets["again"]}, "done": self.{targets["done"]}}}, '
            f'condition="repeat_{weight}")',
        ]
    return [f"self.next(self.{targets['next']})"]


def _weight(name: str) -> int:
    """A number per step, folded into `value`: the step's number, 0 for the named start/end."""
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0

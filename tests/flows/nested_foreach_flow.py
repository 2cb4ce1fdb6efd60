from metaflow import FlowSpec, step


class NestedForeachFlow(FlowSpec):
    """Three foreach levels with ragged inner widths and multi-step bodies at every level."""

    @step
    def start(self):
        self.groups = ["a", "b"]
        self.next(self.outer, foreach="groups")

    @step
    def outer(self):
        self.group = self.input
        self.members = {"a": [1], "b": [2, 3]}[self.input]
        self.next(self.prepare)

    @step
    def prepare(self):
        self.next(self.middle, foreach="members")

    @step
    def middle(self):
        self.member = self.input
        self.parts = list(range(self.member % 3 + 1))  # 2, 3 and 1 parts: ragged
        self.next(self.inner, foreach="parts")

    @step
    def inner(self):
        self.value = f"{self.group}{self.member}.{self.input}"
        self.next(self.inner_more)

    @step
    def inner_more(self):
        self.value = self.value.upper()
        self.next(self.join_parts)

    @step
    def join_parts(self, inputs):
        self.values = [i.value for i in inputs]
        self.merge_artifacts(inputs, include=["group", "member"])
        self.next(self.join_members)

    @step
    def join_members(self, inputs):
        self.values = [v for i in inputs for v in i.values]
        self.merge_artifacts(inputs, include=["group"])
        self.next(self.after_members)

    @step
    def after_members(self):
        self.count = len(self.values)
        self.next(self.join_groups)

    @step
    def join_groups(self, inputs):
        self.values = [v for i in inputs for v in i.values]
        self.counts = {i.group: i.count for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        print(self.counts)


if __name__ == "__main__":
    NestedForeachFlow()

from metaflow import FlowSpec, step


class BranchFlow(FlowSpec):
    """A static branch with a second branch nested inside one arm."""

    @step
    def start(self):
        self.base = 10
        self.next(self.left, self.right)

    @step
    def left(self):
        self.value = self.base + 1
        self.next(self.left_a, self.left_b)

    @step
    def left_a(self):
        self.part = "a"
        self.next(self.left_join)

    @step
    def left_b(self):
        self.part = "b"
        self.next(self.left_join)

    @step
    def left_join(self, inputs):
        self.parts = sorted(i.part for i in inputs)
        self.merge_artifacts(inputs, exclude=["part"])
        self.next(self.join)

    @step
    def right(self):
        self.value = self.base + 2
        self.parts = ["r"]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.all_parts = sorted(p for i in inputs for p in i.parts)
        self.base = inputs[0].base
        self.next(self.end)

    @step
    def end(self):
        print("values", self.values, self.all_parts)


if __name__ == "__main__":
    BranchFlow()

from metaflow import FlowSpec, step


class BranchyForeachFlow(FlowSpec):
    """A foreach inside one arm of a static branch, with a static branch inside its body."""

    @step
    def start(self):
        self.next(self.fan, self.plain)

    @step
    def fan(self):
        self.items = [2, 3, 5]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.n = self.input
        self.next(self.double, self.square)

    @step
    def double(self):
        self.out = self.n * 2
        self.next(self.body_join)

    @step
    def square(self):
        self.out = self.n * self.n
        self.next(self.body_join)

    @step
    def body_join(self, inputs):
        self.outs = sorted(i.out for i in inputs)
        self.merge_artifacts(inputs, include=["n"])
        self.next(self.collect)

    @step
    def collect(self, inputs):
        self.results = {i.n: i.outs for i in inputs}
        self.next(self.join)

    @step
    def plain(self):
        self.note = "plain arm"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = inputs.collect.results
        self.note = inputs.plain.note
        self.next(self.end)

    @step
    def end(self):
        print(self.results, self.note)


if __name__ == "__main__":
    BranchyForeachFlow()

from metaflow import FlowSpec, step


class ForeachFlow(FlowSpec):
    """A foreach with a one-step body."""

    @step
    def start(self):
        self.items = ["a", "bb", "ccc", "dddd"]
        self.next(self.measure, foreach="items")

    @step
    def measure(self):
        self.item = self.input
        self.length = len(self.input)
        print("measured", self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.lengths = [i.length for i in inputs]
        self.items = inputs[0].items
        self.next(self.end)

    @step
    def end(self):
        print("lengths", self.lengths)


if __name__ == "__main__":
    ForeachFlow()

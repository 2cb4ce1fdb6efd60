from metaflow import FlowSpec, step


class SwitchIntoForeachJoinFlow(FlowSpec):
    """Each split takes a switch branch, and the branches go straight into the foreach join."""

    @step
    def start(self):
        self.numbers = [1, 2, 3]
        self.next(self.decide, foreach="numbers")

    @step
    def decide(self):
        self.n = self.input
        self.kind = "even" if self.n % 2 == 0 else "odd"
        self.next({"even": self.handle_even, "odd": self.handle_odd}, condition="kind")

    @step
    def handle_even(self):
        self.label = f"{self.n} is even"
        self.next(self.join)

    @step
    def handle_odd(self):
        self.label = f"{self.n} is odd"
        self.next(self.join)

    @step
    def join(self, inputs):
        # Metaflow passes a join's inputs from different parent steps in no fixed order.
        self.labels = [i.label for i in sorted(inputs, key=lambda i: i.n)]
        self.total = sum(i.n for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(self.labels, self.total)


if __name__ == "__main__":
    SwitchIntoForeachJoinFlow()

from metaflow import FlowSpec, step


class SwitchInForeachFlow(FlowSpec):
    """Each split of a foreach takes its own switch branch."""

    @step
    def start(self):
        self.numbers = [1, 2, 3, 4]
        self.next(self.classify, foreach="numbers")

    @step
    def classify(self):
        self.n = self.input
        self.kind = "even" if self.n % 2 == 0 else "odd"
        self.next({"even": self.even, "odd": self.odd}, condition="kind")

    @step
    def even(self):
        self.label = f"{self.n} is even"
        self.next(self.label_done)

    @step
    def odd(self):
        self.label = f"{self.n} is odd"
        self.next(self.odd_more)

    @step
    def odd_more(self):
        self.label += "!"
        self.next(self.label_done)

    @step
    def label_done(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.labels = [i.label for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(self.labels)


if __name__ == "__main__":
    SwitchInForeachFlow()

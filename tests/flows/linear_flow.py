from metaflow import FlowSpec, Parameter, step


class LinearFlow(FlowSpec):
    """A straight line of steps with typed Parameters."""

    alpha = Parameter("alpha", default=0.5, type=float, help="a number")
    count = Parameter("count", default=3, type=int)
    label = Parameter("label", default="plain")
    loud = Parameter("loud", default=False, type=bool)

    @step
    def start(self):
        print("start with", self.alpha, self.count, self.label, self.loud)
        self.values = [self.alpha * i for i in range(self.count)]
        self.next(self.middle)

    @step
    def middle(self):
        self.total = sum(self.values)
        self.next(self.end)

    @step
    def end(self):
        self.summary = {"total": self.total, "label": self.label, "loud": self.loud}
        print("total is", self.total)


if __name__ == "__main__":
    LinearFlow()

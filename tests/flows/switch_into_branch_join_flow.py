from metaflow import FlowSpec, Parameter, step


class SwitchIntoBranchJoinFlow(FlowSpec):
    """One arm of a static branch ends in a switch whose branches feed the branch join directly."""

    size = Parameter("size", default="small")

    @step
    def start(self):
        self.next(self.measure, self.other)

    @step
    def measure(self):
        self.size_seen = self.size
        self.next({"small": self.small, "big": self.big}, condition="size_seen")

    @step
    def small(self):
        self.result = "small result"
        self.next(self.join)

    @step
    def big(self):
        self.result = "big result"
        self.next(self.join)

    @step
    def other(self):
        self.result = "other result"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.results = sorted(i.result for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(self.results)


if __name__ == "__main__":
    SwitchIntoBranchJoinFlow()

from metaflow import FlowSpec, Parameter, step


class SwitchFlow(FlowSpec):
    """A switch whose taken branch depends on a Parameter; the 'big' branch holds a foreach."""

    size = Parameter("size", default="small")

    @step
    def start(self):
        self.size_seen = self.size
        self.next({"small": self.small, "big": self.big}, condition="size_seen")

    @step
    def small(self):
        self.result = ["small"]
        self.next(self.small_more)

    @step
    def small_more(self):
        self.result.append("more")
        self.next(self.merge)

    @step
    def big(self):
        self.items = [1, 2, 3]
        self.next(self.big_body, foreach="items")

    @step
    def big_body(self):
        self.part = self.input * 10
        self.next(self.big_join)

    @step
    def big_join(self, inputs):
        self.result = [i.part for i in inputs]
        self.next(self.merge)

    @step
    def merge(self):
        self.final = list(self.result)
        self.next(self.end)

    @step
    def end(self):
        print(self.final)


if __name__ == "__main__":
    SwitchFlow()

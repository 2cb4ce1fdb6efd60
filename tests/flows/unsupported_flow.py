from metaflow import FlowSpec, Parameter, step, trigger


@trigger(event="data_ready")
class UnsupportedFlow(FlowSpec):
    """Several shapes and features the compiler must refuse, all in one flow."""

    needed = Parameter("needed", type=int, required=True)

    @step
    def start(self):
        self.choice = "a"
        self.next({"a": self.a, "b": self.b}, condition="choice")

    @step
    def a(self):
        self.next(self.outer)

    @step
    def b(self):
        self.next(self.outer)

    @step
    def outer(self):
        self.xs = [1, 2]
        self.next(self.inner, foreach="xs")

    @step
    def inner(self):
        self.ys = [1, 2]
        self.next(self.leaf, foreach="ys")

    @step
    def leaf(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UnsupportedFlow()

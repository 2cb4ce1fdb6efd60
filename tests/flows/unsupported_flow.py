from metaflow import FlowSpec, Parameter, parallel, step


class UnsupportedFlow(FlowSpec):
    """Several things the compiler must refuse, all in one flow, reported together."""

    when = Parameter("when", default=3 + 4j)

    @step
    def start(self):
        self.next(self.gang, num_parallel=2)

    @parallel
    @step
    def gang(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UnsupportedFlow()

from metaflow import FlowSpec, Parameter, step


class UpstreamFlow(FlowSpec):
    """A flow others wait for: its successful runs start them."""

    number = Parameter("number", default=7, type=int)

    @step
    def start(self):
        self.doubled = self.number * 2
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UpstreamFlow()

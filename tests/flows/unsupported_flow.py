from metaflow import FlowSpec, Parameter, step, trigger


@trigger(event="data_ready")
class UnsupportedFlow(FlowSpec):
    """Several things the compiler must refuse, all in one flow, reported together."""

    when = Parameter("when", default=3 + 4j)

    @step
    def start(self):
        self.next(self.poll)

    @step
    def poll(self):
        self.done = True
        self.next({"again": self.poll, "finished": self.end}, condition="state")

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UnsupportedFlow()

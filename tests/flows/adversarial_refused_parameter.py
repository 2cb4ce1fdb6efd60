from metaflow import FlowSpec, Parameter, step


class AdversarialRefusedParameterFlow(FlowSpec):
    """Metaflow reserves some Parameter names for its own command-line options."""

    tags = Parameter("tags", default="a")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    AdversarialRefusedParameterFlow()

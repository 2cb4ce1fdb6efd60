from metaflow import FlowSpec, Parameter, step


class MistypedDefaultFlow(FlowSpec):
    """An int Parameter whose default is no int: `python flow.py run` refuses it."""

    count = Parameter("count", type=int, default="many")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MistypedDefaultFlow()

from metaflow import FlowSpec, step


class EmptyForeachFlow(FlowSpec):
    """A foreach over an empty list fails, as Metaflow's runtime fails it."""

    @step
    def start(self):
        self.items = []
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmptyForeachFlow()

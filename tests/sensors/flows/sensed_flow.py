from metaflow import FlowSpec, step


class SensedFlow(FlowSpec):
    """A flow another DAG waits for."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SensedFlow()

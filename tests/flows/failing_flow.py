from metaflow import FlowSpec, step


class FailingFlow(FlowSpec):
    """A step that fails with a message the Airflow task log must show."""

    @step
    def start(self):
        self.next(self.explode)

    @step
    def explode(self):
        raise ValueError("the explode step gives up on purpose: code 5c1e")
        self.next(self.end)  # unreachable; Metaflow reads the graph from the source

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailingFlow()

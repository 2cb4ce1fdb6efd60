from metaflow import FlowSpec, kubernetes, step


class PodXComFlow(FlowSpec):
    """A pod step whose artifacts its Airflow task pushes to XCom, read from the datastore."""

    @kubernetes
    @step
    def start(self):
        self.summary = {"rows": 3, "names": ["a", "b"], "ratio": 0.25}
        self.note = "from a pod"
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodXComFlow()

from metaflow import FlowSpec, kubernetes, resources, step


class PodEverywhereFlow(FlowSpec):
    """No compute decorators but one: compiled with `--with kubernetes` or METAFLOW_DECOSPECS."""

    @step
    def start(self):
        self.next(self.bigger)

    @resources(memory=9000)
    @step
    def bigger(self):
        self.next(self.own_pod)

    @kubernetes(cpu=1.5)
    @step
    def own_pod(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodEverywhereFlow()

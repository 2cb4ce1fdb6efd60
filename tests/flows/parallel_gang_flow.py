from metaflow import FlowSpec, parallel, step


class ParallelGangFlow(FlowSpec):
    """@parallel needs gang-scheduled workers: not supported on Airflow."""

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
    ParallelGangFlow()

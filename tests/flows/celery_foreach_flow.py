import os

from metaflow import FlowSpec, step


class CeleryForeachFlow(FlowSpec):
    """A foreach whose splits report, in their output, which Airflow worker ran them."""

    @step
    def start(self):
        self.items = list(range(6))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        print("worker:", os.environ.get("TEST_WORKER_NAME", "none"))
        self.cube = self.input**3
        self.next(self.join)

    @step
    def join(self, inputs):
        self.cubes = sorted(i.cube for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(sum(self.cubes))


if __name__ == "__main__":
    CeleryForeachFlow()

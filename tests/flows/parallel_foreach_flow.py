import time

from metaflow import FlowSpec, Parameter, step


class ParallelForeachFlow(FlowSpec):
    """A foreach whose splits sleep, so parallel runs overlap in time."""

    width = Parameter("width", default=4, type=int)
    nap = Parameter("nap", default=3.0, type=float)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        time.sleep(self.nap)
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = sorted(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print(self.squares)


if __name__ == "__main__":
    ParallelForeachFlow()

import time

from metaflow import FlowSpec, Parameter, step


class PodForeachFlow(FlowSpec):
    """Every step runs as a pod when compiled with `--with kubernetes`."""

    scale = Parameter("scale", default=1, type=int)
    nap = Parameter("nap", default=0.0, type=float, help="seconds each step sleeps")

    @step
    def start(self):
        time.sleep(self.nap)
        self.items = [1, 2, 3]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        time.sleep(self.nap)
        print("squaring", self.input)
        self.value = self.input * self.input * self.scale
        self.next(self.join)

    @step
    def join(self, inputs):
        time.sleep(self.nap)
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        time.sleep(self.nap)
        print("values", self.values)


if __name__ == "__main__":
    PodForeachFlow()

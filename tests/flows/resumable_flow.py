import os

from metaflow import FlowSpec, Parameter, current, step


class ResumableFlow(FlowSpec):
    """Split 1 of the foreach fails until the file named by `gate` exists: resume finishes it."""

    gate = Parameter("gate", default="", help="a file that must exist for split 1 to succeed")
    scale = Parameter("scale", default=2, type=int)

    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        if self.input == 1 and not os.path.exists(self.gate):
            raise RuntimeError(f"split 1 waits for {self.gate}")
        self.value = self.input * self.scale
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        self.origin = current.origin_run_id
        print("values", self.values)


if __name__ == "__main__":
    ResumableFlow()

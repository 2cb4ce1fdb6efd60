import os

from metaflow import FlowSpec, step


class WiringFlow(FlowSpec):
    """A foreach for hand-wired DAGs; start leaves a marker file when its user code runs."""

    @step
    def start(self):
        marker = os.environ.get("WIRING_MARKER")
        if marker:
            with open(marker, "w") as handle:
                handle.write("start ran")
        self.items = [1, 2, 3]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = sorted(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("squares", self.squares)


if __name__ == "__main__":
    WiringFlow()

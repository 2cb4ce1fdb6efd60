from metaflow import FlowSpec, step


class RecursiveInForeachFlow(FlowSpec):
    """Each split of a foreach loops a different number of times."""

    @step
    def start(self):
        self.items = [0, 1, 2, 3]
        self.next(self.loop, foreach="items")

    @step
    def loop(self):
        if not hasattr(self, "steps"):
            self.item = self.input
            self.steps = []
        self.steps.append(len(self.steps))
        self.state = "again" if len(self.steps) <= self.item else "done"
        self.next({"again": self.loop, "done": self.finish}, condition="state")

    @step
    def finish(self):  # Metaflow does not let a switch lead straight into a join
        self.loops = len(self.steps)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.steps_per_item = {i.item: i.steps for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        print(self.steps_per_item)


if __name__ == "__main__":
    RecursiveInForeachFlow()

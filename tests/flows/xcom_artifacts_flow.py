from metaflow import FlowSpec, step


class XComArtifactsFlow(FlowSpec):
    """Artifacts of JSON kinds for XCom, and some that cannot go there; a recursive step whose
    last iteration alone sets an artifact."""

    @step
    def start(self):
        self.items = ["a", "bb", "ccc"]
        self.tags_seen = {"when": {"monday", "friday"}}  # a set: not JSON
        self.long_text = "x" * 200  # 202 bytes of JSON text
        self.next(self.measure, foreach="items")

    @step
    def measure(self):
        self.length = len(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.lengths = [i.length for i in inputs]
        self.rounds = 0
        self.next(self.settle)

    @step
    def settle(self):
        self.rounds += 1
        self.state = "done" if self.rounds == 2 else "again"
        if self.state == "done":
            self.settled = {"after_rounds": self.rounds}  # only the last iteration has it
        self.next({"again": self.settle, "done": self.end}, condition="state")

    @step
    def end(self):
        self.metrics = {"total": sum(self.lengths), "lengths": self.lengths, "ratio": 0.5, "ok": True}
        self.label = "it's {{ not jinja }} done"
        self.count = len(self.lengths)


if __name__ == "__main__":
    XComArtifactsFlow()

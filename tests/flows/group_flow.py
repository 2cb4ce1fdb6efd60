from metaflow import FlowSpec, Parameter, step


class GroupFlow(FlowSpec):
    """A foreach whose width and values come from Parameters, for flows inside hand-written DAGs."""

    rows = Parameter("rows", default=3, type=int)
    label = Parameter("label", default="plain")
    ratio = Parameter("ratio", default=0.5, type=float)

    @step
    def start(self):
        self.kinds = {"rows": type(self.rows).__name__, "ratio": type(self.ratio).__name__}
        self.items = list(range(self.rows))
        self.next(self.scale, foreach="items")

    @step
    def scale(self):
        self.value = self.input * self.ratio
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [task.value for task in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.summary = {"label": self.label, "total": sum(self.values), "count": len(self.values)}


if __name__ == "__main__":
    GroupFlow()

from metaflow import FlowSpec, Parameter, retry, step


class FlüssÉtude中文Flow(FlowSpec):
    """A unicode flow name, Parameter names Metaflow accepts but Python and Airflow might trip on,
    and step names that are also names the generated DAG file uses (flow, datetime, dag, ...)."""

    größe = Parameter("größe", default="groß")
    dashed = Parameter("dashed-name", default="dash")
    upper = Parameter("UpperCase", default=1, type=int)
    klass = Parameter("class", default="keyword")
    ds = Parameter("ds", default="not {{ ds }}")

    @step
    def start(self):
        self.seen = {
            "größe": self.größe,
            "dashed-name": self.dashed,
            "UpperCase": self.upper,
            "class": self.klass,
            "ds": self.ds,
        }
        self.items = ["ü", "{{ ds }}"]
        self.next(self.flow, foreach="items")

    @step
    def flow(self):
        self.item = self.input
        self.next(self.datetime)

    @step
    def datetime(self):
        self.marked = f"[{self.item}]"
        self.next(self.dag)

    @step
    def dag(self, inputs):
        self.marked = sorted(i.marked for i in inputs)
        self.merge_artifacts(inputs, include=["seen"])
        self.next(self.annotations)

    @retry(times=1, minutes_between_retries=0)
    @step
    def annotations(self):
        self.next(self.match)

    @step
    def match(self):
        self.next(self.type)

    @retry(times=1, minutes_between_retries=0)
    @step
    def type(self):
        self.next(self.end)

    @step
    def end(self):
        self.result = {"seen": self.seen, "marked": self.marked}


if __name__ == "__main__":
    FlüssÉtude中文Flow()

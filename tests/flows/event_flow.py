from metaflow import FlowSpec, Parameter, step, trigger


@trigger(event={"name": "table_ready", "parameters": {"rows": "row_count", "table": "table_name"}})
class EventFlow(FlowSpec):
    """Starts when the table_ready event arrives; its payload fills the Parameters."""

    rows = Parameter("rows", default=0, type=int)
    table = Parameter("table", default="none")

    @step
    def start(self):
        self.summary = f"{self.table}: {self.rows} rows"
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EventFlow()

from metaflow import FlowSpec, JSONType, Parameter, step


class NonFiniteDefaultsFlow(FlowSpec):
    """Defaults Metaflow takes but Airflow params cannot carry: inf and nan, also inside JSON."""

    limit = Parameter("limit", default=float("inf"))
    floor = Parameter("floor", default="-inf", type=float)
    missing = Parameter("missing", default=float("nan"), type=float)
    payload = Parameter("payload", type=JSONType, default='{"bounds": [0, Infinity], "scale": 1.5}')
    ratio = Parameter("ratio", default=0.5)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NonFiniteDefaultsFlow()

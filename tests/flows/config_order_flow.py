from metaflow import Config, FlowSpec, step


def reorder(text):
    """A parser whose result is not in alphabetical key order, nested dicts included."""
    import json

    parsed = json.loads(text)
    return {"zeta": parsed, "alpha": {"y": 1, "b": 2, "a": {"z": 0, "c": 3}}, "mid": [3, 1, 2]}


class ConfigOrderFlow(FlowSpec):
    """Config values keep Metaflow's key order on Airflow."""

    plain = Config("plain", default_value={"zulu": 1, "alpha": {"yankee": 2, "bravo": 3}, "mike": None})
    parsed = Config("parsed", default_value='{"second": 2, "first": 1}', parser=reorder)

    @step
    def start(self):
        self.plain_keys = list(self.plain.keys())
        self.plain_nested_keys = list(self.plain.alpha.keys())
        self.parsed_keys = list(self.parsed.keys())
        self.parsed_nested_keys = list(self.parsed.alpha.keys()) + list(self.parsed.alpha.a.keys())
        self.parsed_inner = list(self.parsed.zeta.keys())
        self.next(self.end)

    @step
    def end(self):
        print(self.plain_keys, self.parsed_keys)


if __name__ == "__main__":
    ConfigOrderFlow()

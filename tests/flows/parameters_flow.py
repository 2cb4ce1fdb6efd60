from metaflow import Config, FlowSpec, IncludeFile, JSONType, Parameter, config_expr, step


def default_owner(context):
    return "owner-of-" + context.flow_name


class ParametersFlow(FlowSpec):
    """Every kind of Parameter, and a Config, as the flow sees them."""

    settings = Config("settings", default_value={"alpha": 0.25, "label": "from {{ config }}"})

    text = Parameter("text", default="plain")
    count = Parameter("count", default=2, type=int)
    ratio = Parameter("ratio", default=0.5, type=float)
    flag = Parameter("flag", default=True, type=bool)
    mapping = Parameter("mapping", type=JSONType, default='{"a": [1, 2], "b": {"c": null}}')
    items = Parameter("items", type=JSONType, default="[1, 2, 3]")
    needed = Parameter("needed", type=int, required=True)
    owner = Parameter("owner", default=default_owner)
    tags_csv = Parameter("tags_csv", default="x,y", separator=",")
    from_config = Parameter("from_config", default=config_expr("settings.alpha"), type=float)
    notes = IncludeFile("notes", default="parameters_notes.txt")
    maybe = Parameter("maybe", type=str, default=None)

    @step
    def start(self):
        self.seen = {
            "text": self.text,
            "count": self.count,
            "ratio": self.ratio,
            "flag": self.flag,
            "mapping": self.mapping,
            "items": self.items,
            "needed": self.needed,
            "owner": self.owner,
            "tags_csv": list(self.tags_csv),
            "from_config": self.from_config,
            "notes": self.notes,
            "maybe": self.maybe,
            "settings": dict(self.settings),
        }
        self.types = {name: type(value).__name__ for name, value in self.seen.items()}
        self.next(self.end)

    @step
    def end(self):
        self.label = self.settings.label


if __name__ == "__main__":
    ParametersFlow()

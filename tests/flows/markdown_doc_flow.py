from metaflow import FlowSpec, step


class MarkdownDocFlow(FlowSpec):
    """docs/training.md"""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MarkdownDocFlow()

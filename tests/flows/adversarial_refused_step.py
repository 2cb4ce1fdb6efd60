from metaflow import FlowSpec, step


class AdversarialRefusedStepFlow(FlowSpec):
    """Metaflow allows only lowercase ASCII letters, digits and '_' in step names."""

    @step
    def start(self):
        self.next(self.étape)

    @step
    def étape(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    AdversarialRefusedStepFlow()

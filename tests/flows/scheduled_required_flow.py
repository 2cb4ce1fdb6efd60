from metaflow import FlowSpec, Parameter, schedule, step


@schedule(daily=True)
class ScheduledRequiredFlow(FlowSpec):
    """A required Parameter without a default cannot be scheduled on Airflow."""

    day = Parameter("day", type=str, required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScheduledRequiredFlow()

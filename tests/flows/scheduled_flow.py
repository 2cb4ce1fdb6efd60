from metaflow import FlowSpec, schedule, step


@schedule(cron="30 6 ? * 2-6 *")
class ScheduledFlow(FlowSpec):
    """Runs at 06:30 UTC on weekdays (Metaflow's six-field EventBridge cron)."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScheduledFlow()

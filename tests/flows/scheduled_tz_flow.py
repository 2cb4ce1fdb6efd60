from metaflow import FlowSpec, schedule, step


@schedule(cron="0 9 ? * MON-FRI *", timezone="Europe/Paris")
class ScheduledTzFlow(FlowSpec):
    """Runs at 09:00 Paris time on weekdays, whatever the season."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScheduledTzFlow()

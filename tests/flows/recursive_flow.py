from metaflow import FlowSpec, Parameter, current, retry, step


class RecursiveFlow(FlowSpec):
    """A step that runs again until a condition holds: Metaflow's recursive switch. Iteration 2
    fails on its first attempt, so @retry must land on that iteration as attempt 1."""

    rounds = Parameter("rounds", default=4, type=int)

    @step
    def start(self):
        self.count = 0
        self.history = []
        self.next(self.loop)

    @retry(times=1, minutes_between_retries=0)
    @step
    def loop(self):
        if self.count == 2 and current.retry_count == 0:
            raise RuntimeError("iteration 2 fails on its first attempt on purpose")
        self.history.append((self.count, current.retry_count))
        self.count += 1
        self.state = "again" if self.count < self.rounds else "done"
        self.next({"again": self.loop, "done": self.end}, condition="state")

    @step
    def end(self):
        print("looped", self.count, "times:", self.history)


if __name__ == "__main__":
    RecursiveFlow()

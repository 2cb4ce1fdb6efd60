from metaflow import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flow="UpstreamFlow")
class DownstreamFlow(FlowSpec):
    """Runs after each successful run of UpstreamFlow, and reads that run."""

    @step
    def start(self):
        run = current.trigger.run if current.trigger else None
        self.upstream = run.pathspec if run else None
        self.upstream_doubled = run.data.doubled if run else None
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DownstreamFlow()

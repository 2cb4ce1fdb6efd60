from metaflow import FlowSpec, exit_hook, step, trigger_on_finish


def notify(run=None):
    print("finished", run)


@exit_hook(on_success=[notify])
@trigger_on_finish(flow="upstream")
class CollidingTaskIdsFlow(FlowSpec):
    """Steps named like the tasks the compiler adds: the sensor waiting for flow 'upstream', the
    splits task after nested foreach 'outer', and the @exit_hook task."""

    @step
    def start(self):
        self.groups = [[1, 2], [3]]
        self.next(self.outer, foreach="groups")

    @step
    def outer(self):
        self.next(self.outer__splits, foreach="input")

    @step
    def outer__splits(self):
        self.value = self.input
        self.next(self.join_inner)

    @step
    def join_inner(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.join_outer)

    @step
    def join_outer(self, inputs):
        self.values = [v for i in inputs for v in i.values]
        self.next(self.wait_for_upstream)

    @step
    def wait_for_upstream(self):
        self.next(self.metaflow_exit_hook)

    @step
    def metaflow_exit_hook(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CollidingTaskIdsFlow()

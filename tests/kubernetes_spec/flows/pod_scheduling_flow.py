from metaflow import FlowSpec, kubernetes, step


class PodSchedulingFlow(FlowSpec):
    """Where the pod may run, and how it is labelled."""

    @kubernetes(node_selector="kubernetes.io/arch=amd64,pool=training")
    @step
    def start(self):
        self.next(self.compute_pool)

    @kubernetes(node_selector={"kubernetes.io/os": "linux"}, compute_pool="big-gpus")
    @step
    def compute_pool(self):
        self.next(self.tolerant)

    @kubernetes(
        tolerations=[
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": "ml",
                "effect": "NoExecute",
                "toleration_seconds": 300,
            },
        ]
    )
    @step
    def tolerant(self):
        self.next(self.labelled)

    @kubernetes(
        labels={"team": "ml", "cost-center": ""},
        annotations={"example.com/owner": "ml-team@example.com", "note": "{{ not jinja }}"},
    )
    @step
    def labelled(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodSchedulingFlow()

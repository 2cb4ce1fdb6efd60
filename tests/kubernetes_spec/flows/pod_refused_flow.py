from metaflow import FlowSpec, kubernetes, resources, step, timeout


class PodRefusedFlow(FlowSpec):
    """One value Kubernetes or Metaflow would refuse per step (compiled, never run)."""

    @kubernetes(gpu_vendor="intel", gpu=1)
    @step
    def start(self):
        self.next(self.misspelt_toleration)

    @kubernetes(tolerations=[{"key": "dedicated", "opertor": "Equal", "value": "ml"}])
    @step
    def misspelt_toleration(self):
        self.next(self.exists_with_value)

    @kubernetes(tolerations=[{"key": "dedicated", "operator": "Exists", "value": "ml"}])
    @step
    def exists_with_value(self):
        self.next(self.not_a_toleration)

    @kubernetes(tolerations={"key": "dedicated"})
    @step
    def not_a_toleration(self):
        self.next(self.best_effort)

    @kubernetes(qos="BestEffort")
    @step
    def best_effort(self):
        self.next(self.memory_with_unit)

    @kubernetes(memory="8Gi")
    @step
    def memory_with_unit(self):
        self.next(self.resources_cpu)

    @resources(cpu="many")
    @kubernetes
    @step
    def resources_cpu(self):
        self.next(self.label_value)

    @kubernetes(labels={"team": "ML team!"})
    @step
    def label_value(self):
        self.next(self.namespace)

    @kubernetes(namespace="ML_Jobs")
    @step
    def namespace(self):
        self.next(self.camel_security)

    @kubernetes(security_context={"runAsUser": 1000})
    @step
    def camel_security(self):
        self.next(self.relative_mount)

    @kubernetes(persistent_volume_claims={"data": "relative/path"})
    @step
    def relative_mount(self):
        self.next(self.shared_mount)

    @kubernetes(persistent_volume_claims={"data": "/dev/shm"}, shared_memory=64)
    @step
    def shared_mount(self):
        self.next(self.high_port)

    @kubernetes(port=70000)
    @step
    def high_port(self):
        self.next(self.short_timeout)

    @timeout(seconds=30)
    @kubernetes
    @step
    def short_timeout(self):
        self.next(self.pull_policy)

    @kubernetes(image_pull_policy="always")
    @step
    def pull_policy(self):
        self.next(self.pull_secret_string)

    @kubernetes(image_pull_secrets="regcred")
    @step
    def pull_secret_string(self):
        self.next(self.fractional_gpu)

    @kubernetes(gpu=0.5)
    @step
    def fractional_gpu(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodRefusedFlow()

from metaflow import FlowSpec, kubernetes, resources, step


class PodResourcesFlow(FlowSpec):
    """cpu, memory, disk, GPUs, QoS and extended resources, alone and with @resources."""

    @kubernetes(cpu=2, memory=8192, disk=20480)
    @step
    def start(self):
        self.next(self.with_resources)

    @resources(cpu=4, memory=16000, disk=5000)
    @kubernetes(cpu=2, memory=8192)
    @step
    def with_resources(self):
        self.next(self.gpus)

    @resources(gpu=2)
    @kubernetes(gpu=1, gpu_vendor="AMD")
    @step
    def gpus(self):
        self.next(self.no_gpus)

    @kubernetes(gpu=0)
    @step
    def no_gpus(self):
        self.next(self.guaranteed)

    @kubernetes(cpu=0.5, memory=1024, qos="guaranteed", gpu=1)
    @step
    def guaranteed(self):
        self.next(self.extended)

    @kubernetes(extended_resources={"example.com/fpga": "1", "hugepages-2Mi": "256Mi"})
    @step
    def extended(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodResourcesFlow()

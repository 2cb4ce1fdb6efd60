from metaflow import FlowSpec, kubernetes, resources, step


class PodVolumesFlow(FlowSpec):
    """tmpfs, shared memory and persistent volume claims."""

    @kubernetes(use_tmpfs=True, memory=6000)
    @step
    def start(self):
        self.next(self.sized_tmpfs)

    @kubernetes(tmpfs_size=512, tmpfs_path="/scratch", tmpfs_tempdir=False)
    @step
    def sized_tmpfs(self):
        self.next(self.tmpfs_and_resources)

    @resources(memory=16000)
    @kubernetes(use_tmpfs=True)
    @step
    def tmpfs_and_resources(self):
        self.next(self.shared_memory)

    @kubernetes(shared_memory=1024)
    @step
    def shared_memory(self):
        self.next(self.shared_memory_from_resources)

    @resources(shared_memory=2048)
    @kubernetes(shared_memory=512)
    @step
    def shared_memory_from_resources(self):
        self.next(self.claims)

    @kubernetes(persistent_volume_claims={"training-data": "/data", "model.cache": "/cache"})
    @step
    def claims(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodVolumesFlow()

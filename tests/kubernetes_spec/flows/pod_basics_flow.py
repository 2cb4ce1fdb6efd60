from metaflow import FlowSpec, kubernetes, step


class PodBasicsFlow(FlowSpec):
    """Image, identity and the container's surroundings."""

    @kubernetes
    @step
    def start(self):
        self.next(self.custom_image)

    @kubernetes(
        image="ghcr.io/acme/train:1.4",
        image_pull_policy="Always",
        image_pull_secrets=["regcred", "mirror-cred"],
        executable="/opt/venv/bin/python",
    )
    @step
    def custom_image(self):
        self.next(self.identity)

    @kubernetes(
        namespace="ml-jobs", service_account="trainer", secrets=["db-credentials", "api-token"], port=8080
    )
    @step
    def identity(self):
        self.next(self.one_secret)

    @kubernetes(secrets="db-credentials")
    @step
    def one_secret(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodBasicsFlow()

"""Root conftest: applies to tests/ and to the notebooks nbval collects (a conftest only reaches files below it)."""


def pytest_collectstart(collector):
    # Library warnings and progress bars go to stderr and differ between machines and versions:
    # notebooks compare stdout and displayed results only.
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)

import pytest

pytest_plugins = ["tests.support.fixtures", "pytester"]

_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def report():
    """Tests that measure something add lines here; they are printed after the run."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("figures measured by the tests")
        for line in _FIGURES:
            terminalreporter.write_line(line)

"""config.progress: a long step's progress as a few plain lines."""

from config.progress import ProgressLines


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_line_at_most_every_interval_and_always_the_last():
    lines, clock = [], Clock()
    progress = ProgressLines(lines.append, "seeding demo", total=300, unit="rows", clock=clock)

    progress.update(100)  # at once: not yet a line
    clock.now += 2.5
    progress.update(100)
    clock.now += 0.5
    progress.update(50)  # too soon after the last line
    clock.now += 0.2
    progress.update(50, ", 12 series")

    assert lines == [
        "seeding demo: 200 / 300 rows (2.5 s)",
        "seeding demo: 300 / 300 rows, 12 series (3.2 s)",
    ]


def test_at_sets_the_count_and_big_numbers_get_separators():
    lines, clock = [], Clock()
    progress = ProgressLines(lines.append, "scanning", total=269_694, unit="rows", clock=clock)

    progress.at(269_694)

    assert lines == ["scanning: 269,694 / 269,694 rows (0.0 s)"]
    assert progress.done == 269_694

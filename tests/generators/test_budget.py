"""fit_within_budget stops before a chunk that would end past the budget, and at the profile's epochs."""

from types import SimpleNamespace

from augkit.generators.budget import fit_within_budget


class FakeGenerator:
    """Counts epochs; each epoch advances a fake clock by ``seconds_per_epoch``."""

    def __init__(self, epochs: int, seconds_per_epoch: float):
        self.profile = SimpleNamespace(epochs=epochs)
        self.epochs_trained = 0
        self.now = 0.0
        self.seconds_per_epoch = seconds_per_epoch
        self.calls = []

    def fit(self, samples, *, epochs, seed, checkpoint_dir, progress):
        self.calls.append(epochs)
        self.now += (epochs - self.epochs_trained) * self.seconds_per_epoch
        self.epochs_trained = epochs

    def clock(self):
        return self.now


def test_stops_before_a_chunk_that_would_overrun(tmp_path):
    gen = FakeGenerator(epochs=100, seconds_per_epoch=10.0)
    told = []
    seconds = fit_within_budget(gen, [], minutes=1.0, chunk=2, seed=0, checkpoint_dir=tmp_path,
                                on_chunk=lambda e, s: told.append((e, s)), clock=gen.clock)
    # after 6 epochs (60 s) one more chunk of 2 would end at 80 s > 60 s
    assert gen.epochs_trained == 6
    assert gen.calls == [2, 4, 6]
    assert told == [(2, 20.0), (4, 40.0), (6, 60.0)]
    assert seconds == 60.0


def test_ends_at_the_profile_epochs_with_a_short_last_chunk(tmp_path):
    gen = FakeGenerator(epochs=5, seconds_per_epoch=1.0)
    fit_within_budget(gen, [], minutes=10.0, chunk=2, seed=0, checkpoint_dir=tmp_path, clock=gen.clock)
    assert gen.calls == [2, 4, 5]

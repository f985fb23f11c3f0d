"""Random programs over the whole public Tensor API agree with the same programs in torch.

Each program is a small DAG of op calls (elementwise ops with constants of either sign on
either side, comparisons, where, casts, reductions, movement ops, matmul with epilogues,
gradients of gradients), drawn by hypothesis (fuzz_generate) from one op table (fuzz_ops),
run on tinygradlike and on a float64 torch reference that follows tinygradlike's semantics
(fuzz_ref). The session keeps going after a failure, so one run collects every class of
failure; each class is shown once, with its program shrunk to a short Python repro.

    pytest tests/fuzz                          # the CI budget (60 programs)
    pytest tests/fuzz --fuzz-budget 5000 -s -n 0   # a long hunt, in one process (its report prints)
"""
import pytest

from fuzz_session import LAST_SESSION, Session


@pytest.mark.filterwarnings("ignore:Non-empty compiler output")
def test_random_programs_agree_with_torch(fuzz_budget, fuzz_shrink_seconds):
    session = Session(budget=fuzz_budget, shrink_seconds=fuzz_shrink_seconds)
    LAST_SESSION[:] = [session]
    session.run()
    if session.classes:
        pytest.fail(f"{session.failed_programs} of {session.programs} programs disagree with torch, "
                    f"in {len(session.classes)} classes:\n{session.summary()}\n\n{session.failure_report()}",
                    pytrace=False)

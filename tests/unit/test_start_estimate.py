"""When a queued run should start, with several runs at once (issue 15):
backend/runs/start_estimate.py's simulation and status.py's pacing of it."""
from types import SimpleNamespace

from backend.runs.start_estimate import UNKNOWN, Busy, Waiting, simulate_starts
from backend.runs.status import MIN_OVERHEAD_S, estimated_starts


def waiting(*names, takes=60.0, owners=None):
    return [Waiting(name, (owners or {}).get(name, ""), takes) for name in names]


def test_one_place_queues_behind_one_run_at_a_time():
    starts = simulate_starts([Busy("", 100)], waiting("a", "b"), per_user=1)
    assert starts == {"a": 100, "b": 160}


def test_with_two_places_each_run_takes_the_first_place_that_frees():
    # Places free at 40 and 100; a takes the one at 40 and holds it until 100.
    starts = simulate_starts([Busy("", 100), Busy("", 40)], waiting("a", "b", "c"), per_user=1)
    assert starts == {"a": 40, "b": 100, "c": 100}


def test_a_student_with_a_run_going_waits_for_it_and_the_next_goes_first():
    busy = [Busy("ana", 100), Busy("ben", 30)]
    queue = waiting("ana-2", "cid-1", owners={"ana-2": "ana", "cid-1": "cid"})
    starts = simulate_starts(busy, queue, per_user=1)
    # ben's place frees at 30; ana-2 is passed over (ana's first run goes on), cid-1 takes it.
    assert starts == {"cid-1": 30, "ana-2": 100}
    assert simulate_starts(busy, queue, per_user=2) == {"ana-2": 30, "cid-1": 90}


def test_unknown_ends_leave_only_what_depends_on_them_unknown():
    starts = simulate_starts([Busy("", 50), Busy("", UNKNOWN)], waiting("a", "b", "c"),
                             per_user=1)
    assert starts == {"a": 50, "b": 110, "c": 170}  # the known place turns over
    assert simulate_starts([Busy("", UNKNOWN)], waiting("a"), per_user=1) == {"a": None}
    assert simulate_starts([], waiting("a"), per_user=1) == {"a": None}
    unpaced = [Waiting("a", "", UNKNOWN), Waiting("b", "", UNKNOWN)]
    assert simulate_starts([Busy("", 10)], unpaced, per_user=1) == {"a": 10, "b": None}


def fake_jobs(active: dict, queued: list, per_user: int = 1):
    """What estimated_starts reads of a JobManager: active snapshots, the queue in order."""
    runs = {**active, **{q["run_id"]: q for q in queued}}
    return SimpleNamespace(
        active_runs=lambda: {run_id: "cpu" for run_id in active},
        snapshot=lambda run_id: runs[run_id],
        list_runs=lambda: list(runs.values()),
        queue_position=lambda run_id: next((i for i, q in enumerate(queued, 1)
                                            if q["run_id"] == run_id), None),
        cluster_wait=lambda run_id: None,  # no cluster: every wait is the app's queue
        pool=SimpleNamespace(max_active_per_user=per_user))


def run(run_id, state, iteration=0, max_iters=100, eta=None, owner=""):
    return {"run_id": run_id, "state": state, "iter": iteration, "max_iters": max_iters,
            "eta_s": eta, "owner": owner}


def test_status_paces_the_queue_by_the_runs_training_now():
    active = {"trains": run("trains", "running", 50, 150, eta=100.0),   # 1 s an iteration
              "starts": run("starts", "running", 0, 100)}               # no pace of its own
    queued = [run("q1", "queued", max_iters=20), run("q2", "queued", max_iters=20)]
    starts = estimated_starts(fake_jobs(active, queued))
    # q1 takes the place "trains" frees; "starts" is paced like "trains" (100 x 1 s).
    assert starts["q1"] == 100 + MIN_OVERHEAD_S / 2
    assert starts["q2"] == 100 * 1.0 + MIN_OVERHEAD_S
    converting = {"conv": run("conv", "converting", 150, 150)}
    assert estimated_starts(fake_jobs(converting, queued)) == {
        "q1": MIN_OVERHEAD_S / 2, "q2": None}  # nothing paced: only the first is known

"""The device pool's placement (backend/runs/slots.py): several fake GPUs with
given free memory, runs placed where they fit and never over, the rest left
waiting in the order they came."""
import pytest

from backend.runs.slots import (MAX_AUTO_SLOTS, DevicePool, GpuMemory, Holding, Placement, Want,
                                slots_per_device)
from backend.training.memory import GIB, with_margin

RUN = 10 * GIB                  # one run's estimate
ROOM = with_margin(RUN)         # what it needs free: estimate + 10% + 1 GiB


def wants(*names, memory=RUN, count=1):
    """'a1' = alice's first run (owners by first letter), in the order given."""
    owners = {"a": "alice", "b": "bob", "c": "carol", "x": ""}
    return [Want(n, owners[n[0]], memory, count) for n in names]


def placed(placements):
    return {p.run_id: p.label for p in placements}


def test_runs_go_where_they_fit_and_none_over_the_free_memory():
    pool = DevicePool.for_gpus({0: 40 * GIB, 1: 40 * GIB})
    # GPU 0 has room for three runs, GPU 1 for one.
    memory = GpuMemory(free={0: 3 * ROOM + GIB // 2, 1: ROOM + GIB // 2})
    result = pool.place(wants("x1", "x2", "x3", "x4", "x5", "x6"), [], memory)
    assert placed(result) == {"x1": "cuda:0", "x2": "cuda:0", "x3": "cuda:1", "x4": "cuda:0"}
    on = [p.label for p in result]
    assert on.count("cuda:0") == 3 and on.count("cuda:1") == 1  # no GPU over its memory


def test_the_rest_wait_in_fair_order_and_nothing_overtakes_the_head():
    pool = DevicePool.for_gpus({0: 80 * GIB}, max_active_per_user=4)
    memory = GpuMemory(free={0: ROOM})
    # a2 is next and does not fit: the small b1 behind it must not start first.
    waiting = wants("a2") + [Want("b1", "bob", 1 * GIB)]
    assert pool.place(waiting, [Holding("a1", ("cuda:0",), "alice", RUN)],
                      GpuMemory(free={0: ROOM // 2})) == []
    assert placed(pool.place(waiting, [], memory)) == {"a2": "cuda:0"}


def test_starting_runs_count_with_their_estimate_until_they_train():
    pool = DevicePool.for_gpus({0: 80 * GIB})
    # Measured free covers two runs, but one placed there has not allocated yet.
    memory = GpuMemory(free={0: 2 * ROOM})
    starting = Holding("x0", ("cuda:0",), "", RUN, starting=True)
    assert placed(pool.place(wants("x1", "x2"), [starting], memory)) == {"x1": "cuda:0"}
    training = Holding("x0", ("cuda:0",), "", RUN, starting=False)  # already in the measure
    assert placed(pool.place(wants("x1", "x2"), [training], memory)) == {"x1": "cuda:0",
                                                                         "x2": "cuda:0"}


def test_a_starting_run_counts_only_what_it_has_still_to_take():
    """What its process group holds already is in the measured free memory:
    counting its whole estimate again would hold the next run back."""
    pool = DevicePool.for_gpus({0: 80 * GIB})
    starting = Holding("x0", ("cuda:0",), "", RUN, starting=True, group=4242)
    # It has loaded 6 of its 10 GiB: free shows that, its share is known by group.
    free = GpuMemory(free={0: 2 * ROOM - 6 * GIB}, used={(0, 4242): 6 * GIB})
    assert placed(pool.place(wants("x1", "x2"), [starting], free)) == {"x1": "cuda:0"}
    # Fully loaded: only its margin is still counted.
    loaded = GpuMemory(free={0: 2 * ROOM - RUN}, used={(0, 4242): RUN})
    assert placed(pool.place(wants("x1"), [starting], loaded)) == {"x1": "cuda:0"}
    # Another group's memory (or another GPU's) is not its share.
    others = GpuMemory(free={0: 2 * ROOM - RUN}, used={(0, 99): RUN, (1, 4242): RUN})
    assert pool.place(wants("x1"), [starting], others) == []
    # Over its estimate: nothing left to take, never a negative count.
    over = GpuMemory(free={0: ROOM}, used={(0, 4242): 3 * RUN})
    assert placed(pool.place(wants("x1"), [starting], over)) == {"x1": "cuda:0"}


def test_nvidia_smi_s_process_list_becomes_bytes_per_gpu_and_process_group():
    from backend.training.gpu_processes import MIB, parse_group_usage

    gpus = "0, GPU-aaa\n1, GPU-bbb\n"
    apps = ("GPU-aaa, 100, 2048\nGPU-aaa, 101, 1024\nGPU-bbb, 100, 512\n"
            "GPU-aaa, 300, [N/A]\nGPU-ccc, 100, 64\nGPU-aaa, 400, 64\n")
    groups = {100: 100, 101: 100, 300: 300}  # 400: not ours to see
    usage = parse_group_usage(gpus, apps, groups.get)
    assert usage == {(0, 100): 3072 * MIB, (1, 100): 512 * MIB}


def test_a_slot_count_caps_a_device_even_with_memory_to_spare():
    pool = DevicePool.for_gpus({0: 140 * GIB, 1: 140 * GIB}, runs_per_device=2)
    memory = GpuMemory(free={0: 140 * GIB, 1: 140 * GIB})
    result = pool.place(wants(*[f"x{i}" for i in range(6)]), [], memory)
    assert sorted(p.label for p in result) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]


def test_auto_is_at_most_eight_on_a_gpu_and_one_on_the_cpu():
    assert slots_per_device("auto", gpu=True) == MAX_AUTO_SLOTS == 8
    assert slots_per_device("auto", gpu=False) == 1
    assert slots_per_device("3", gpu=False) == 3
    with pytest.raises(ValueError, match="runs-per-device"):
        slots_per_device("0", gpu=True)
    small = Want("x", "", 1 * GIB)
    pool = DevicePool.for_gpus({0: 1000 * GIB})
    memory = GpuMemory(free={0: 1000 * GIB})
    result = pool.place([Want(f"x{i}", "", small.memory_bytes) for i in range(12)], [], memory)
    assert len(result) == 8
    cpu = DevicePool.for_cpu()
    assert placed(cpu.place(wants("x1", "x2"), [])) == {"x1": "cpu"}
    assert placed(DevicePool.for_cpu(2).place(wants("x1", "x2", "x3"), [])) == {
        "x1": "cpu", "x2": "cpu"}


def test_two_gpus_per_run_take_two_whole_free_gpus():
    pool = DevicePool.for_gpus({0: 80 * GIB, 1: 80 * GIB, 2: 80 * GIB, 3: 80 * GIB})
    memory = GpuMemory(free={i: 80 * GIB for i in range(4)})
    busy = Holding("x0", ("cuda:1",), "", RUN)  # a one-GPU run on GPU 1
    result = pool.place(wants("x1", "x2", count=2), [busy], memory)
    assert placed(result) == {"x1": "cuda:0,cuda:2"}  # x2 would need GPU 1: it waits
    assert result[0].gpu_indices == (0, 2)
    # Nothing joins a GPU a multi-GPU run holds.
    held = [Holding("x1", ("cuda:0", "cuda:2"), "", RUN)]
    assert placed(pool.place(wants("x3"), held, memory)) == {"x3": "cuda:1"}
    assert pool.never_fits(Want("big", "", RUN, 5)) is not None


def test_an_owner_at_the_limit_waits_and_does_not_block_the_others():
    pool = DevicePool.for_gpus({0: 80 * GIB}, max_active_per_user=1)
    memory = GpuMemory(free={0: 80 * GIB})
    running = [Holding("a1", ("cuda:0",), "alice", RUN)]
    assert placed(pool.place(wants("a2", "b1", "b2", "c1"), running, memory)) == {
        "b1": "cuda:0", "c1": "cuda:0"}
    # With two allowed, alice's second starts too.
    pool.max_active_per_user = 2
    assert "a2" in placed(pool.place(wants("a2", "b1"), running, memory))


def test_runs_without_an_owner_are_not_limited():
    """Without login every run is "": the one user may fill every slot."""
    pool = DevicePool.for_cpu(3, max_active_per_user=1)
    running = [Holding("x1", ("cpu",), "", 0)]
    assert placed(pool.place(wants("x2", "x3", "x4"), running)) == {"x2": "cpu", "x3": "cpu"}


def test_a_run_from_before_devices_were_recorded_holds_every_device():
    pool = DevicePool.for_cpu(4)
    assert pool.place(wants("x1"), [Holding("old", ())]) == []
    assert not pool.has_room([Holding("old", ())])
    gpus = DevicePool.for_gpus({0: 80 * GIB, 1: 80 * GIB})
    assert gpus.place(wants("x1"), [Holding("old", ())], GpuMemory(free={0: 80 * GIB})) == []


def test_the_chat_models_memory_is_taken_only_when_a_run_needs_it():
    pool = DevicePool.for_gpus({0: 80 * GIB, 1: 80 * GIB})
    chat = GpuMemory(free={0: ROOM - GIB, 1: 0}, reclaimable={0: 8 * GIB})
    assert pool.place(wants("x1"), [], chat) == [Placement("x1", ("cuda:0",), reclaim=True)]
    # Room beside them: they stay.
    roomy = GpuMemory(free={0: 2 * ROOM, 1: 0}, reclaimable={0: 8 * GIB})
    assert pool.place(wants("x1"), [], roomy) == [Placement("x1", ("cuda:0",), reclaim=False)]
    # While they load, their GPU takes no run (its free memory is changing).
    loading = GpuMemory(free={0: 2 * ROOM, 1: ROOM}, unsettled=frozenset({0}))
    assert placed(pool.place(wants("x1", "x2"), [], loading)) == {"x1": "cuda:1"}


def test_without_a_measurement_start_up_memory_less_every_run_there_decides():
    pool = DevicePool.for_gpus({0: 2 * ROOM})
    held = [Holding("x0", ("cuda:0",), "", RUN)]
    assert placed(pool.place(wants("x1", "x2"), held, GpuMemory(free={}))) == {"x1": "cuda:0"}

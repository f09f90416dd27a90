"""Slurm's command lines and outputs (backend/runs/slurm/commands.py), no cluster needed."""
import time
from pathlib import Path

from backend.runs.slurm.commands import (
    JOB_SCRIPT, SlurmOptions, exit_code_of, parse_job_id, parse_scontrol, parse_squeue,
    queue_position, sbatch_argv, why_it_ended)


def test_a_step_is_the_fixed_script_with_its_arguments_after_the_options():
    argv = ["python", "train.py", "a b; rm -rf /", "$(whoami)"]
    command = sbatch_argv(SlurmOptions(partition="gpu", gres="shard:2", account="class",
                                       time="1:00:00"),
                          Path("/w/slurm/studio_step.sh"), argv, job_name="studio-run-1-train",
                          cwd=Path("/w/runs/run-1"), log_file=Path("/w/runs/run-1/run.log"))
    separator = command.index("--")
    assert command[separator + 1:] == ["/w/slurm/studio_step.sh", *argv]  # arguments, not text
    options = command[:separator]
    for expected in ("--partition=gpu", "--gres=shard:2", "--account=class", "--time=1:00:00",
                     "--output=/w/runs/run-1/run.log", "--open-mode=append",
                     "--chdir=/w/runs/run-1", "--parsable"):
        assert expected in options
    # The script holds no argument: whatever a step's arguments are, it is this text.
    assert "train.py" not in JOB_SCRIPT and '"$@"' in JOB_SCRIPT


def test_options_left_empty_are_slurms_defaults():
    assert SlurmOptions(gres="").argv() == []
    assert SlurmOptions().argv() == ["--gres=gpu:1"]


def test_a_run_over_several_gpus_is_one_job_of_one_task_a_gpu_anywhere():
    options = SlurmOptions(partition="gpu", gres="gpu:1")
    assert options.argv(tasks=4) == ["--partition=gpu", "--ntasks=4", "--gpus-per-task=1"]
    command = sbatch_argv(options, Path("/w/s.sh"), ["srun", "python"], job_name="j",
                          cwd=Path("/w"), log_file=Path("/w/log"), tasks=4)
    assert "--ntasks=4" in command and not any(a.startswith("--gres") for a in command)
    # Two multi-GPU runs on one node: each job its own rendezvous port.
    assert "MASTER_PORT" in JOB_SCRIPT and "SLURM_JOB_ID" in JOB_SCRIPT


def test_the_cluster_launcher_trains_on_the_nodes_gpus_with_xtuners_slurm_launch(tmp_path):
    from backend.training.gpu import choose_recipe
    from backend.training.launchers import ClusterGpuLauncher
    from backend.xtuner.config import TrainConfig
    from backend.xtuner.options import TrainOptions

    lesson = choose_recipe("lesson", False)

    def config_for(launcher):  # as TrainingService.plan makes a run's config
        return TrainConfig(llm_path=tmp_path, visual_encoder_path=tmp_path,
                           pretrained_pth=tmp_path / "p.pth", data_file=tmp_path / "d.json",
                           image_file=tmp_path / "i.png", questions_file=tmp_path / "q.json",
                           work_dir=tmp_path / "run", options=TrainOptions(), device="cuda",
                           **launcher.config_fields())

    one = ClusterGpuLauncher(lesson)
    argv = one.train_argv(config_for(one), "py")
    assert one.tasks == 1 and argv[:3] == ["py", "-m", "xtuner.tools.train"]
    assert "--deepspeed" not in argv
    assert one.config_fields()["quantize_4bit"]  # the lesson's QLoRA, whatever the server has
    four = ClusterGpuLauncher(lesson, gpus_per_run=4, deepspeed="deepspeed_zero2")
    argv = four.train_argv(config_for(four), "py")
    assert four.tasks == 4 and argv[0] == "srun" and argv[-2:] == ["--launcher", "slurm"]
    assert ["--deepspeed", "deepspeed_zero2"] == argv[argv.index("--deepspeed"):][:2]
    assert str(tmp_path / "run" / "train") in argv


def test_job_ids_from_sbatch():
    assert parse_job_id("42\n") == "42"
    assert parse_job_id("42;cluster2\n") == "42"
    for bad in ("", "sbatch: error: something\n"):
        try:
            parse_job_id(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} gave a job id")


SQUEUE = """\
10|RUNNING|node1|2026-12-03T10:00:00|100|studio|None
11|PENDING||2026-12-03T12:30:00|100|studio|Resources
12|PENDING||N/A|500|studio|Priority
13|PENDING||N/A|100|other|Resources
14|PENDING||N/A|100|studio|Priority
"""


def test_a_pending_jobs_place_counts_higher_priority_then_older_jobs_of_its_partition():
    entries = parse_squeue(SQUEUE)
    assert queue_position(entries, "12") == 1   # highest priority
    assert queue_position(entries, "11") == 2
    assert queue_position(entries, "14") == 3
    assert queue_position(entries, "13") == 1   # another partition's queue
    assert queue_position(entries, "10") is None  # running
    assert queue_position(entries, "99") is None  # not in Slurm's queue


def test_squeue_fields():
    entries = parse_squeue(SQUEUE + "garbage line\n")
    assert set(entries) == {"10", "11", "12", "13", "14"}
    assert entries["10"].nodes == "node1" and not entries["10"].pending
    assert entries["11"].start == time.mktime(time.strptime("2026-12-03T12:30:00",
                                                            "%Y-%m-%dT%H:%M:%S"))
    assert entries["12"].start is None and entries["12"].reason == "Priority"


def test_how_a_job_ended():
    done = parse_scontrol("JobId=5 JobName=x JobState=COMPLETED Reason=None ExitCode=0:0 "
                          "Command=/w/slurm/studio_step.sh")
    assert exit_code_of(done) == 0 and why_it_ended(done) == ""
    failed = parse_scontrol("JobId=6 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0")
    assert exit_code_of(failed) == 3
    assert why_it_ended(failed) == "Slurm ended the job: FAILED (NonZeroExitCode)"
    timeout = parse_scontrol("JobId=7 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15")
    assert exit_code_of(timeout) == 128 + 15
    assert "TIMEOUT (TimeLimit)" in why_it_ended(timeout)
    assert exit_code_of({}) is None and why_it_ended({}) == ""

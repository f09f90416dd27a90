"""A step for warm-start tests: says where and how it runs, then exits.

Prints its working directory, arguments, REPORT_VAR from its environment,
its process group and its thread count (environment / torch's pool, when a
warm trainer imported torch) (stdout), a line on stderr; exits with REPORT_EXIT (default
0), or raises when REPORT_RAISE is set; sleeps REPORT_SLEEP seconds first.
"""
import os
import sys
import time


def main() -> int:
    time.sleep(float(os.environ.get("REPORT_SLEEP", 0)))
    print(f"cwd={os.getcwd()}", flush=True)
    print(f"args={sys.argv[1:]}", flush=True)
    print(f"var={os.environ.get('REPORT_VAR', '')}", flush=True)
    print(f"group_leader={os.getpgid(0) == os.getpid()}", flush=True)
    torch = sys.modules.get("torch")  # imported ahead of the job by a warm trainer
    print(f"threads={os.environ.get('OMP_NUM_THREADS', '')}/"
          f"{torch.get_num_threads() if torch else '-'}", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    if os.environ.get("REPORT_RAISE"):
        raise RuntimeError("the step failed on purpose")
    return int(os.environ.get("REPORT_EXIT", 0))


if __name__ == "__main__":
    sys.exit(main())

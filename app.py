"""XTuner LLaVA Studio: parse settings, build services, build the UI, launch."""
from __future__ import annotations

import logging
import sys

from backend.training.gpu import GpuSelectionError
from backend.training.launch_checks import exposure_warning, gpu_stack_warning
from backend.access.login_throttle import LoginThrottle
from backend.models.profiles import ProfileError
from backend.runs.slurm.executor import SlurmError
from backend.services import build_services
from backend.settings import parse_settings

STARTUP_ERRORS = (ProfileError, GpuSelectionError, SlurmError, ValueError, OSError)


def main(argv: list[str] | None = None) -> None:
    settings = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        services = build_services(settings)
    except STARTUP_ERRORS as error:
        # A setting that cannot work (missing model folder, unknown GPU,
        # DeepSpeed not installed, a malformed class list): say which, no traceback.
        sys.exit(f"XTuner LLaVA Studio cannot start: {error}")
    # gradio is imported only here and in ui/: the backend never needs it.
    from ui.app_ui import build_app
    from ui.login_guard import login_middleware, throttled_auth
    from ui.messages import I18N
    from ui.security import middleware

    for warning in (exposure_warning(settings, services.accounts.enabled),
                    gpu_stack_warning(services.gpu_problem)):
        if warning:
            logging.warning(warning)
    app = build_app(services)
    # Bounded: a classroom of clients waits in line; beyond max_waiting they
    # are told the queue is full instead of piling up memory.
    app.queue(default_concurrency_limit=4, max_size=settings.max_waiting)
    logging.info("profile %s; work dir %s", services.profile.name, settings.work_dir)
    try:
        auth = (throttled_auth(services.accounts.check, LoginThrottle(settings.login_failures))
                if services.accounts.enabled else None)
        app.launch(server_name=settings.host, server_port=settings.port, share=settings.share,
                   auth=auth, auth_message="XTuner LLaVA Studio",
                   i18n=I18N, max_file_size=f"{settings.max_upload_mb}mb",
                   allowed_paths=[],
                   app_kwargs={"middleware": middleware(services.access.can_read_run)
                               + login_middleware()},
                   show_error=False)
    finally:
        services.close()


if __name__ == "__main__":
    main(sys.argv[1:])

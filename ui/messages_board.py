"""The class board's strings (the teacher's Class tab and presenter mode at
/board), English and Chinese. Merged into the page's gr.I18n table by
ui/messages.py."""
from __future__ import annotations

EN_BOARD = {
    "tab_class": "Class",
    "board_intro": "Every run of the class, refreshed every few seconds: active first, then the queue, then the rest. [Presenter mode for the projector](board) (large type, no controls; one run: click its id below).",
    "board_heading": "Class board",
    "board_empty": "No runs yet: the board fills in as students start Finetune.",
    "board_refused": "The class board is for teachers. Log in with a teacher's account to see it.",
    "board_unknown_run": "There is no run {run_id} on this board.",
    "board_updated": "updated {time}",
    "board_col_run": "run",
    "board_col_owner": "student",
    "board_col_state": "state",
    "board_col_iter": "iteration",
    "board_col_loss": "loss",
    "board_col_curve": "loss curve",
    "board_col_queue": "queue",
    "board_col_device": "device",
    "board_local_user": "(local)",
    "board_page_name": "Class board",
}

ZH_BOARD = {
    "tab_class": "全班",
    "board_intro": "全班的每个训练任务，每隔几秒刷新：进行中的在前，然后是排队的，再后是其余的。[投影演示模式](board)（大字号、没有按钮；只看一个任务：点下面它的编号）。",
    "board_heading": "全班看板",
    "board_empty": "还没有训练任务：学生开始 Finetune 后会显示在这里。",
    "board_refused": "全班看板只对教师开放。请用教师账号登录后查看。",
    "board_unknown_run": "看板上没有训练任务 {run_id}。",
    "board_updated": "更新于 {time}",
    "board_col_run": "任务",
    "board_col_owner": "学生",
    "board_col_state": "状态",
    "board_col_iter": "迭代",
    "board_col_loss": "loss",
    "board_col_curve": "loss 曲线",
    "board_col_queue": "排队",
    "board_col_device": "设备",
    "board_local_user": "（本机）",
    "board_page_name": "全班看板",
}

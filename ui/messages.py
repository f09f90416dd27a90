"""Every user-facing string of the page, in English and Chinese.

Two ways out of these tables:
- ``t(key)``: a gr.I18n value for labels and fixed text; the browser translates it, so it
  follows the page's language switch live. Keep ``{`` ``}`` out of these: the browser
  formats them as ICU messages.
- ``tr(key, lang, **fields)``: text built on the server (status lines, summaries, errors),
  formatted with ``str.format`` in the request's language (see ui/language.py).

The lesson's own terms (Pretrain, Finetune, Image Projector, iter_2181, pth_to_hf) stay as
students know them in both languages.
"""
from __future__ import annotations

import gradio as gr

EN = {
    # page
    "page_title": "XTuner LLaVA Studio",
    "title": "# XTuner LLaVA Studio\nGive InternLM2-Chat eyes: Q&A about one image → Finetune → compare with the Pretrain model (iter_2181).",
    "language": "Language / 语言",
    "models_heading": "Models",
    "models_ready": "✅ Models ready · profile **{profile}** · {description} · device: {device}",
    "models_building": "⏳ Preparing the **{profile}** models: {message} ({percent}%)",
    "models_error": "⚠️ The **{profile}** models are not available: {error}",
    "registry_rebuilt": "⚠️ The run registry (studio.db) could not be read at start-up ({reason}). It was kept as `{moved}` and rebuilt from the run folders: **{runs}** runs recovered. Runs that were active show as failed or stopped; resume them.",
    "is_all": "**InternStudio**: the lesson's models are all under `{root}`: {items}",
    "is_some": "**InternStudio**: {items} under `{root}`. Missing: {missing}. The **{profile}** profile is used until all three are there.",
    "is_none": "Not on InternStudio (nothing under `{root}`), so the **{profile}** profile is used.",
    "gpu_unusable": "GPU {gpu} is not used: its driver {driver} supports CUDA {driver_cuda}, but this torch {torch_version} is built for CUDA {torch_cuda}, so the app runs on the CPU. Fix: `{fix}`, then restart the app.",
    "tab_data": "1 · Data",
    "tab_train": "2 · Finetune",
    "tab_compare": "3 · Compare",
    # tab 1
    "upload_image": "Image",
    "qa_table": "Q&A pairs (one row per question)",
    "question": "question",
    "answer": "answer",
    "import_json": "Import unique_data.json (the lesson's format) or a list of question/answer objects",
    "repeats": "Repeat count (the lesson uses 200)",
    "load_example": "Load the example",
    "build_dataset": "Build dataset",
    "dataset_summary": "Dataset",
    "dataset_built": "**{conversations}** conversations × **{repeats}** repeats = **{samples}** samples → **{iterations}** iterations at batch size {batch_size}, {epochs} epoch(s). Dataset id: `{dataset_id}`",
    "preview": "One sample exactly as the model sees it",
    "dataset_id": "Dataset id",
    "err_need_image": "Upload an image first (or load the example).",
    "err_dataset": "The dataset was not built: {error}",
    "err_import": "This file could not be imported: {error}",
    # tab 2
    "advanced": "Advanced",
    "options": "More options (JSON; a key here wins over the form): epochs, lr, llm_lora_r, …",
    "start": "Start Finetune",
    "stop": "Stop",
    "resume": "Resume",
    "run_id": "Run",
    "progress": "Progress",
    "loss_curve": "Loss",
    "log": "Log (last lines)",
    "commands": "The same steps in a terminal",
    "runs": "All runs",
    "refresh": "Refresh",
    "start_same_run": "This dataset with the same options is already {state} as run {run_id}: showing that run instead of starting a copy. Change an option to start a new run.",
    "toast_note": "Note",
    "log_show_all": "Show everything (library warnings too)",
    "opt_epochs": "Epochs",
    "opt_lr": "Learning rate",
    "opt_lora_r": "LoRA rank (LLM)",
    "opt_max_length": "Max length (tokens)",
    "next_finetune": "**Next:** open **2 · Finetune** and press **Start Finetune**.",
    "next_compare": "**Next:** training is done: open **3 · Compare** and ask both models about your image.",
    "err_image_unreadable": "This file could not be read as an image ({formats}). Choose another file: a photo or a drawing saved as JPEG or PNG works.",
    "toast_warning": "Warning",
    "warn_few_repeats": "⚠️ Only {repeats} repeats: the lesson uses 200, and with fewer the finetuned answers may come out garbled (at 50 they did on the demo models). Raise the repeat count and build again unless you want to see that.",
    "status_iter": "iteration {iter} / {max_iters}",
    "status_elapsed": "elapsed {time}",
    "status_eta": "ETA {time}",
    "status_loss": "loss {loss:.4f}",
    "status_queue": "queue position {position}",
    "status_stopping": "stopping: saving a checkpoint at this iteration",
    "status_start_in": "starts in about {time}",
    "status_start_unknown": "start time: estimated once the run ahead is training",
    "phase_waiting": "waiting for the runs ahead",
    "phase_loading_models": "loading the models",
    "phase_preparing_data": "preparing the dataset",
    "phase_evaluating": "answering the evaluation questions",
    "phase_training": "training",
    "phase_saving": "saving a checkpoint",
    "phase_converting": "converting the model for Compare (pth_to_hf)",
    "progress_label": "Whole run (start-up, training, conversion)",
    "state_queued": "queued",
    "state_running": "training",
    "state_converting": "converting (pth_to_hf); Compare is ready",
    "state_done": "done",
    "state_failed": "failed",
    "state_stopped": "stopped",
    "state_stopping": "stopping",
    "col_run": "run",
    "col_owner": "student",
    "who": "Logged in as **{user}** ({role}) · [Log out]({logout})",
    "role_student": "student",
    "role_teacher": "teacher",
    "col_state": "state",
    "col_iterations": "iterations",
    "col_final_loss": "final loss",
    "col_duration": "duration",
    "err_need_dataset": "Build a dataset first (tab 1).",
    "err_start": "Finetune did not start: {error}",
    "err_resume": "This run cannot be resumed: {error}",
    "err_run": "No such run: {error}",
    # tab 3 (ui/compare_tab.py; its newer strings come from ui/messages_compare.py)
    "compare_run": "Finished run",
    "compare_image": "Image to ask about",
    "compare_question": "Question",
    "compare_button": "Ask both models",
    "base_answer": "Pretrain only (iter_2181)",
    "finetuned_answer": "After Finetune",
}

ZH = {
    "page_title": "XTuner LLaVA Studio",
    "title": "# XTuner LLaVA Studio\n给 InternLM2-Chat 装上眼睛：为一张图片写问答对 → Finetune → 与 Pretrain 模型（iter_2181）对比。",
    "language": "语言 / Language",
    "models_heading": "模型",
    "models_ready": "✅ 模型已就绪 · 配置 **{profile}** · {description} · 设备：{device}",
    "models_building": "⏳ 正在准备 **{profile}** 模型：{message}（{percent}%）",
    "models_error": "⚠️ **{profile}** 模型不可用：{error}",
    "registry_rebuilt": "⚠️ 启动时无法读取训练任务记录（studio.db）（{reason}）。原文件已保留为 `{moved}`，并已根据各训练任务的文件夹重建：恢复了 **{runs}** 个训练任务。之前正在进行的任务显示为失败或已停止，请点击「继续训练」。",
    "is_all": "**InternStudio**：课程的模型都在 `{root}` 下：{items}",
    "is_some": "**InternStudio**：在 `{root}` 下找到 {items}。缺少：{missing}。三个都齐之前使用 **{profile}** 配置。",
    "is_none": "不在 InternStudio 上（`{root}` 下没有课程的模型），因此使用 **{profile}** 配置。",
    "gpu_unusable": "GPU {gpu} 没有被使用：它的驱动 {driver} 支持 CUDA {driver_cuda}，但当前 torch {torch_version} 是为 CUDA {torch_cuda} 编译的，所以应用在 CPU 上运行。解决：运行 `{fix}`，然后重启应用。",
    "tab_data": "1 · 数据",
    "tab_train": "2 · Finetune",
    "tab_compare": "3 · 对比",
    "upload_image": "图片",
    "qa_table": "问答对（每行一个问题）",
    "question": "问题",
    "answer": "回答",
    "import_json": "导入 unique_data.json（课程格式）或问题/回答对象的列表",
    "repeats": "重复次数（课程中为 200）",
    "load_example": "加载示例",
    "build_dataset": "生成数据集",
    "dataset_summary": "数据集",
    "dataset_built": "**{conversations}** 组对话 × 重复 **{repeats}** 次 = **{samples}** 条样本 → batch size 为 {batch_size}、{epochs} 个 epoch 共 **{iterations}** 次迭代。数据集 id：`{dataset_id}`",
    "preview": "模型实际看到的一条样本",
    "dataset_id": "数据集 id",
    "err_need_image": "请先上传图片（或加载示例）。",
    "err_dataset": "数据集没有生成：{error}",
    "err_import": "无法导入这个文件：{error}",
    "advanced": "高级",
    "options": "更多选项（JSON；这里写的键优先于表单）：epochs、lr、llm_lora_r……",
    "start": "开始 Finetune",
    "stop": "停止",
    "resume": "继续训练",
    "run_id": "训练任务",
    "progress": "进度",
    "loss_curve": "Loss 曲线",
    "log": "日志（最后几行）",
    "commands": "在终端里执行相同步骤的命令",
    "runs": "全部训练任务",
    "refresh": "刷新",
    "start_same_run": "同一个数据集、同样的选项已有训练任务 {run_id}（{state}）：这里显示那个任务，不再重复开始。改动任一选项才会开始新的训练任务。",
    "toast_note": "提示",
    "log_show_all": "显示全部（包括库的警告）",
    "opt_epochs": "训练轮数（epochs）",
    "opt_lr": "学习率",
    "opt_lora_r": "LoRA 秩（LLM）",
    "opt_max_length": "最大长度（token）",
    "next_finetune": "**下一步：** 打开 **2 · Finetune**，点击 **开始 Finetune**。",
    "next_compare": "**下一步：** 训练已完成：打开 **3 · Compare**，就你的图片同时问两个模型。",
    "err_image_unreadable": "这个文件无法作为图片读取（{formats}）。请换一个文件：保存为 JPEG 或 PNG 的照片或图画都可以。",
    "toast_warning": "注意",
    "warn_few_repeats": "⚠️ 只重复了 {repeats} 次：课程用 200 次，次数更少时 Finetune 后的回答可能是乱的（演示模型在 50 次时就是这样）。除非你想看到这种情况，请调高重复次数并重新生成数据集。",
    "status_iter": "迭代 {iter} / {max_iters}",
    "status_elapsed": "已用时 {time}",
    "status_eta": "预计剩余 {time}",
    "status_loss": "loss {loss:.4f}",
    "status_queue": "排队第 {position} 位",
    "status_stopping": "正在停止：保存当前迭代的检查点",
    "status_start_in": "预计约 {time} 后开始",
    "status_start_unknown": "开始时间：前面的训练任务开始训练后才能估计",
    "phase_waiting": "正在等待前面的训练任务",
    "phase_loading_models": "正在加载模型",
    "phase_preparing_data": "正在准备数据集",
    "phase_evaluating": "正在回答评估问题",
    "phase_training": "正在训练",
    "phase_saving": "正在保存检查点",
    "phase_converting": "正在转换模型供对比使用（pth_to_hf）",
    "progress_label": "整个训练任务（启动、训练、转换）",
    "state_queued": "排队中",
    "state_running": "训练中",
    "state_converting": "转换中（pth_to_hf）；已可对比",
    "state_done": "已完成",
    "state_failed": "失败",
    "state_stopped": "已停止",
    "state_stopping": "正在停止",
    "col_run": "训练任务",
    "col_owner": "学生",
    "who": "已登录：**{user}**（{role}）· [退出登录]({logout})",
    "role_student": "学生",
    "role_teacher": "教师",
    "col_state": "状态",
    "col_iterations": "迭代次数",
    "col_final_loss": "最终 loss",
    "col_duration": "用时",
    "err_need_dataset": "请先生成数据集（第 1 步）。",
    "err_start": "Finetune 没有启动：{error}",
    "err_resume": "这个训练任务无法继续：{error}",
    "err_run": "没有这个训练任务：{error}",
    "compare_run": "已完成的训练任务",
    "compare_image": "要提问的图片",
    "compare_question": "问题",
    "compare_button": "同时问两个模型",
    "base_answer": "仅 Pretrain（iter_2181）",
    "finetuned_answer": "Finetune 之后",
}

# The language switch shows each language in its own script, whatever the page's language.
LANGUAGE_CHOICES = [("中文", "zh-CN"), ("English", "en")]

# The compare tab's strings live in their own file (it has many); merged here so
# one gr.I18n table holds every string. A clash is a bug (tests/test_i18n.py).
from .messages_board import EN_BOARD, ZH_BOARD  # noqa: E402
from .messages_compare import EN_COMPARE, ZH_COMPARE  # noqa: E402

CLASHES = sorted((set(EN_COMPARE) | set(ZH_COMPARE)) & (set(EN) | set(ZH))
                 | (set(EN_BOARD) | set(ZH_BOARD)) & (set(EN) | set(ZH) | set(EN_COMPARE)))
EN = {**EN_BOARD, **EN_COMPARE, **EN}
ZH = {**ZH_BOARD, **ZH_COMPARE, **ZH}
TABLES = {"en": EN, "zh": ZH}
I18N = gr.I18n(en=TABLES["en"], zh=TABLES["zh"])


def t(key: str):
    """A translated string for a component label or text (translated in the browser)."""
    if key not in TABLES["en"]:
        raise KeyError(f"no message {key!r}")
    return I18N(key)


def tr(key: str, lang: str = "en", **fields) -> str:
    """The message in lang ('en' or 'zh'), formatted on the server."""
    table = TABLES.get(lang, TABLES["en"])
    return table[key].format(**fields) if fields else table[key]

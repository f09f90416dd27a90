"""Every user-facing string of the page, in English and Chinese (gr.I18n).

The lesson's own terms (Pretrain, Finetune, Image Projector, iter_2181) stay
as students know them in both languages.
"""
from __future__ import annotations

import gradio as gr

EN = {
    "title": "# XTuner LLaVA Studio\nGive InternLM2-Chat eyes: Q&A about one image → Finetune → compare with the Pretrain model (iter_2181).",
    "models_heading": "Models",
    "tab_data": "1 · Data",
    "tab_train": "2 · Finetune",
    "tab_compare": "3 · Compare",
    "image": "Image",
    "qa_table": "Q&A pairs (one row per question)",
    "question": "question",
    "answer": "answer",
    "import_json": "Import unique_data.json (the lesson's format) or a [{question, answer}] list",
    "repeats": "Repeat count (the lesson uses 200)",
    "load_example": "Load the example",
    "build_dataset": "Build dataset",
    "dataset_summary": "Dataset",
    "preview": "One sample exactly as the model sees it",
    "dataset_id": "Dataset id",
    "options": "Options (JSON): epochs, lr, llm_lora_r, …",
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
    "compare_run": "Finished run",
    "compare_image": "Image to ask about",
    "compare_question": "Question",
    "compare_button": "Ask both models",
    "base_answer": "Pretrain only (iter_2181)",
    "finetuned_answer": "After Finetune",
    "advanced": "Advanced",
}

ZH = {
    "title": "# XTuner LLaVA Studio\n给 InternLM2-Chat 装上眼睛：为一张图片写问答对 → Finetune → 与 Pretrain 模型（iter_2181）对比。",
    "models_heading": "模型",
    "tab_data": "1 · 数据",
    "tab_train": "2 · Finetune",
    "tab_compare": "3 · 对比",
    "image": "图片",
    "qa_table": "问答对（每行一个问题）",
    "question": "问题",
    "answer": "回答",
    "import_json": "导入 unique_data.json（课程格式）或 [{question, answer}] 列表",
    "repeats": "重复次数（课程中为 200）",
    "load_example": "加载示例",
    "build_dataset": "生成数据集",
    "dataset_summary": "数据集",
    "preview": "模型实际看到的一条样本",
    "dataset_id": "数据集 id",
    "options": "选项（JSON）：epochs、lr、llm_lora_r……",
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
    "compare_run": "已完成的训练任务",
    "compare_image": "要提问的图片",
    "compare_question": "问题",
    "compare_button": "同时问两个模型",
    "base_answer": "仅 Pretrain（iter_2181）",
    "finetuned_answer": "Finetune 之后",
    "advanced": "高级",
}

I18N = gr.I18n(en=EN, zh=ZH)


def t(key: str):
    """A translated string for a component label or text."""
    if key not in EN:
        raise KeyError(f"no message {key!r}")
    return I18N(key)

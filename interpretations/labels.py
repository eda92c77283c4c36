"""The Chinese words staff read for the codes the software stores: release states, roles,
audit actions, confidentiality findings (kind, state, where found), document kinds and
forms, and the push outbox's states and channels.

One place, so that a page, a flash message, a workflow refusal and the CLI say the same
thing: `label("release_state", "submitted")` → 「待审核」. The codes themselves stay English
in the database and the API (they are hashed into the audit chain and matched by code).
The push outbox lives a layer above (bot/push) and stores the same plain codes listed here.
An unknown code comes back as it is, so that a test that reads every page finds it.
"""
from __future__ import annotations

import re

LABELS: dict[str, dict[str, str]] = {
    "release_state": {
        "draft": "草稿", "submitted": "待审核", "reviewed": "已审核（待签发）",
        "signed": "已签发（待发布）", "published": "已发布", "withdrawn": "已撤回",
        "retired": "已停用（失效或废止）",
    },
    "role": {
        "drafter": "起草", "reviewer": "审核/保密审查", "signer": "签发", "admin": "管理员",
        "system": "系统",
    },
    # Actors that are not people: the importer, daily retirement, the command line.
    "actor": {"import": "批量导入", "system": "系统（定时任务）", "cli": "命令行"},
    "audit_action": {
        "create": "新建发布", "edit": "修改内容", "submit": "提交审核", "review": "审核通过",
        "send back": "退回起草人", "sign": "签发", "publish": "发布", "withdraw": "撤回",
        "retire": "标记失效/废止", "import": "导入",
        "finding resolved": "保密审查：确认已修改", "finding overridden": "保密审查：保留并记录理由",
        "add staff": "新建账号", "disable staff": "停用账号", "enable staff": "启用账号",
        "change role": "修改角色", "reset password": "重置密码",
        "clear login throttle": "解除登录限制", "seal audit log": "用审计密钥封记日志",
        "tasks raised": "生成整改任务", "task linked": "任务关联解读", "task assigned": "指定任务责任人",
        "commitment added": "登记回应承诺", "commitment done": "承诺已兑现",
    },
    "finding_kind": {
        "id_number": "身份证号", "mobile": "手机号码", "landline": "固定电话",
        "bank_card": "银行卡号", "email": "电子邮箱", "marking": "密级或内部标记",
        "internal_ip": "内网地址", "key": "密码或密钥",
    },
    "finding_state": {
        "open": "待处理", "resolved": "已修改", "overridden": "保留（已记录理由）",
        "stale": "已过时（内容已改，重新扫描）",
    },
    "document_kind": {"policy": "政策文件", "interpretation": "政策解读"},
    "importance": {"normal": "一般", "major": "重大政策"},
    "interpretation_form": {
        "text": "文字解读", "faq": "问答", "graphic": "图解", "audio": "音频", "video": "视频",
        "press": "新闻发布会", "guide": "办事指南",
    },
    "media_kind": {"graphic": "图解", "audio": "音频", "video": "视频"},
    "document_status": {
        "effective": "现行有效", "expired": "已失效", "repealed": "已废止", "amended": "已被修订",
    },
    "visibility": {"draft": "未公开（草稿）", "public": "已公开", "withdrawn": "已撤回"},
    # Where in a document a finding was made (hidden parts of an uploaded file included).
    "document_part": {
        "title": "标题", "text": "正文", "doc_number": "文号", "issuing_body": "发文机关",
        "comments": "批注", "headers": "页眉", "footers": "页脚", "footnotes": "脚注/尾注",
        "tracked deletions": "修订（删除的文字）", "tracked insertions": "修订（插入的文字）",
        "metadata": "文件属性",
        "metadata statistics": "文件统计信息（页数、字数、编辑软件等，不含文字内容）",
    },
    "push_state": {
        "pending": "待发", "sending": "发送中", "sent": "已发", "failed": "失败",
        "unknown": "状态未知", "cancelled": "已取消",
    },
    "push_channel": {"template": "模板消息", "subscribe": "订阅通知", "custom": "客服消息"},
    "push_decision": {"sent": "已送达", "failed": "未送达", "resend": "重新发送"},
    "push_sender_state": {
        "not_configured": "推送尚未设置好，不会发出", "paused": "已暂停：当日额度用尽（45009）",
        "sending": "正在发送", "stalled": "没有发送程序在运行", "queued": "已排队，等待发送程序领取",
        "waiting": "等待重试", "idle": "没有待发的推送",
    },
    "subscriber_kind": {"resident": "居民个人", "enterprise": "企业"},
    # The properties a Word, PDF or web file records about itself (who wrote it, when, with what).
    "file_property": {
        "title": "标题", "Title": "标题", "subject": "主题", "Subject": "主题", "creator": "作者",
        "Author": "作者", "author": "作者", "keywords": "关键词", "Keywords": "关键词",
        "description": "备注", "lastModifiedBy": "最后修改者", "revision": "修订次数",
        "created": "创建时间", "modified": "修改时间", "lastPrinted": "最后打印时间",
        "category": "类别", "contentStatus": "内容状态", "language": "语言", "version": "版本",
        "identifier": "标识", "Template": "模板", "TotalTime": "编辑总时长（分钟）", "Pages": "页数",
        "Words": "字数", "Characters": "字符数", "CharactersWithSpaces": "字符数（含空格）",
        "Application": "编辑软件", "AppVersion": "软件版本", "DocSecurity": "文档保护",
        "Lines": "行数", "Paragraphs": "段落数", "ScaleCrop": "缩略图裁剪", "LinksUpToDate": "链接已更新",
        "SharedDoc": "共享文档", "HyperlinksChanged": "超链接已更改", "HyperlinkBase": "超链接基址",
        "Company": "单位", "Manager": "负责人", "lpstr": "文本项", "i4": "数值项",
        "Creator": "创建程序", "Producer": "生成程序", "CreationDate": "创建时间", "ModDate": "修改时间",
        "Trapped": "陷印", "generator": "生成程序",
    },
    "upload_type": {"docx": "Word 文档", "pdf": "PDF 文件", "html": "网页", "txt": "纯文本",
                    "md": "纯文本（Markdown）"},
}


def label(kind: str, code: str | None) -> str:
    """The Chinese word for `code`; the code itself when there is none (so tests see it)."""
    if code is None:
        return ""
    return LABELS[kind].get(code, code)


PROPERTY_LINE = re.compile(r"(?m)^([A-Za-z][A-Za-z0-9]*): ")


def label_properties(text: str) -> str:
    """A file's properties, one `key: value` a line, with each known key in Chinese (the
    values are the file's own and stay as they are)."""
    def named(match: re.Match) -> str:
        key = match.group(1)
        return f"{LABELS['file_property'][key]}：" if key in LABELS["file_property"] else match.group(0)
    return PROPERTY_LINE.sub(named, text)


def part_label(part: str) -> str:
    """Where a finding was made: 'text' → 正文, 'faq 3 q' → 问答第3组（问）,
    'section 政策背景' → 解读栏目「政策背景」, 'upload:comments' → 原文件的批注."""
    if part.startswith("upload:"):
        return "原文件的" + label("document_part", part.removeprefix("upload:"))
    head, _, rest = part.partition(" ")
    if head == "faq" and rest[:-2].isdigit():
        return f"问答第{rest[:-2]}组（{'问' if rest.endswith(' q') else '答'}）"
    if head == "section" and rest:
        return f"解读栏目「{rest}」"
    if head == "media" and rest.isdigit():
        return f"多媒体链接第{rest}项"
    return label("document_part", part)

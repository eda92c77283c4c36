"""Fixed texts of the bot (plain text, no Markdown), in one place for review by staff."""
from bot.answer import RELATED_FIRST_NUMBER

HELP = ("您好！这里是政策解读助手。您可以直接提问，例如：\n"
        "· 失业保险金怎么申领？\n· 积分制入户需要什么条件？\n"
        "回复「目录」查看现行有效政策目录；\n"
        "回复「订阅 主题或人群」（如：订阅 就业创业）在相关政策发布时收到推送，"
        "「退订 …」取消，「我的订阅」查看；\n回复「转人工」联系工作人员。")
WELCOME = "感谢关注！" + HELP
VOICE_NOT_RECOGNISED = "抱歉，没能识别这条语音。请用文字输入您的问题，例如：失业保险金怎么申领？"
GUIDANCE = {
    "image": ("收到您的图片。目前我只能回答文字提问，请用文字描述您想了解的政策；"
              "需要人工帮助请回复「转人工」。"),
    "video": "收到您的视频。目前我只能回答文字提问，请用文字描述您想了解的政策。",
    "shortvideo": "收到您的视频。目前我只能回答文字提问，请用文字描述您想了解的政策。",
    "location": "收到您的位置。办事地点请以政策原文和办事指南为准；您可以直接问「××在哪里办理」。",
    "link": "收到您分享的链接。我只能解答已公开的政策文件和解读，请用文字说明您想了解的问题。",
    "file": "收到您的文件。我不读取附件，请用文字说明您想了解的问题。",
}
UNKNOWN_MESSAGE = "抱歉，暂不支持这种消息。请用文字输入您的问题；回复「帮助」查看用法。"
EMPTY_TEXT = HELP
FEEDBACK_THANKS = {"satisfied": "感谢您的评价！",
                   "unsatisfied": "感谢反馈，我们会改进解读内容。需要人工帮助请回复「转人工」。"}
FEEDBACK_NOTHING = "暂时没有可以评价的答复。您可以直接提问。"
NO_RELATED = (f"没有这个序号的相关文件。请先提问；答复末尾的相关文件从 {RELATED_FIRST_NUMBER} 起编号，"
              "回复序号查看要点（1、2 用于评价答复）。")
SUBSCRIBE_HOW = "请回复「订阅 主题或人群」，例如：订阅 就业创业。可订阅："
NO_SUBSCRIPTIONS = "您还没有订阅任何主题。回复「订阅 主题或人群」即可订阅，例如：订阅 就业创业。"
SUBSCRIPTIONS_OFF = "订阅功能暂未开放。"
KEPT_PREFIX = "您上一个问题的答复：\n"
BUSY = "系统繁忙，请稍后再试；或回复「转人工」联系工作人员。"

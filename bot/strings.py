"""The bot's UI strings in simplified Chinese, traditional Chinese and English (bot.i18n fills them).

Templates are plain text without HTML special characters (`<`, `>`, `&`), so a template is also
valid Telegram HTML; values substituted into it must be escaped by the caller when the result is
sent as HTML (bot.render does this). Quotes from the corpus never pass through here: they keep
their original script.
"""

from __future__ import annotations

from bot.admin_strings import ADMIN_STRINGS
from bot.languages import Lang
from bot.source_strings import SOURCE_STRINGS

STRINGS: dict[str, dict[Lang, str]] = {
    # /start and /help
    "start": {
        "zh-hans": "你好！我用新闻原文回答问题：每个答案都是逐字引用的段落，"
        "附上标题、来源和日期，绝不编造。\n"
        "我目前收录 {articles} 篇文章（{passages} 个段落），日期从 {date_min} 到 {date_max}。",
        "zh-hant": "你好！我用新聞原文回答問題：每個答案都是逐字引用的段落，"
        "附上標題、來源和日期，絕不編造。\n"
        "我目前收錄 {articles} 篇文章（{passages} 個段落），日期從 {date_min} 到 {date_max}。",
        "en": "Hello! I answer questions with the news itself: every answer is a word-for-word quote of "
        "the paragraphs that answer it, with title, outlet and date. Nothing is made up.\n"
        "I know {articles} articles ({passages} paragraphs) dated {date_min} to {date_max}.",
    },
    "start_undated": {
        "zh-hans": "你好！我用新闻原文回答问题：每个答案都是逐字引用的段落，"
        "附上标题、来源和日期，绝不编造。\n"
        "我目前收录 {articles} 篇文章（{passages} 个段落）。",
        "zh-hant": "你好！我用新聞原文回答問題：每個答案都是逐字引用的段落，"
        "附上標題、來源和日期，絕不編造。\n"
        "我目前收錄 {articles} 篇文章（{passages} 個段落）。",
        "en": "Hello! I answer questions with the news itself: every answer is a word-for-word quote of "
        "the paragraphs that answer it, with title, outlet and date. Nothing is made up.\n"
        "I know {articles} articles ({passages} paragraphs).",
    },
    "start_empty": {
        "zh-hans": "你好！我用新闻原文回答问题，但语料库目前是空的。请管理员添加网页并重建索引。",
        "zh-hant": "你好！我用新聞原文回答問題，但語料庫目前是空的。請管理員新增網頁並重建索引。",
        "en": "Hello! I answer questions by quoting the news, but the corpus is empty for now. "
        "An admin needs to add pages and reindex.",
    },
    "start_examples": {
        "zh-hans": "直接发送你的问题，或点下面的例子试试：",
        "zh-hant": "直接傳送你的問題，或點下面的例子試試：",
        "en": "Just send your question, or tap an example below:",
    },
    "help": {
        "zh-hans": "怎么用：\n"
        "• 直接发送问题，例如「上海的房价怎么样？」，我会引用最相关的新闻段落（最多三段）。\n"
        "• 粗体是最切题的句子；点「更多」看更多结果，点「上下文」看引文前后的段落。\n"
        "• 在群组里，请 @ 我、回复我的消息，或使用 /ask 问题。\n"
        "• 在任何聊天中输入 @机器人名 问题，可以直接插入引文。\n"
        "• 找不到答案时，我会如实说明，并列出最接近的新闻标题。\n"
        "命令：/start 开始，/help 帮助，/ask 提问",
        "zh-hant": "怎麼用：\n"
        "• 直接傳送問題，例如「上海的房價怎麼樣？」，我會引用最相關的新聞段落（最多三段）。\n"
        "• 粗體是最切題的句子；點「更多」看更多結果，點「上下文」看引文前後的段落。\n"
        "• 在群組裡，請 @ 我、回覆我的訊息，或使用 /ask 問題。\n"
        "• 在任何聊天中輸入 @機器人名稱 問題，可以直接插入引文。\n"
        "• 找不到答案時，我會如實說明，並列出最接近的新聞標題。\n"
        "指令：/start 開始，/help 說明，/ask 提問",
        "en": "How to use me:\n"
        "• Send a question, e.g. “What happened to Shanghai house prices?” and I quote the most "
        "relevant news paragraphs (up to three), in their original Chinese.\n"
        "• Bold marks the sentences that answer best; tap “More” for further results and "
        "“Context” for the paragraphs around a quote.\n"
        "• In groups, mention me, reply to me, or use /ask followed by your question.\n"
        "• In any chat, type @ and my name followed by a question to insert a quote.\n"
        "• When the corpus has no answer I say so and list the nearest headlines.\n"
        "Commands: /start, /help, /ask",
    },
    "help_admin": {
        "zh-hans": "管理员命令：\n"
        "/reindex 增量重建索引（只处理新增或改动的网页）\n"
        "/reindex full 全量重建索引\n"
        "/status 索引规模、上次重建及结果、模型、运行时间、已回答问题数\n"
        "发送 .html / .htm 文件或其 .zip 压缩包，即可加入语料库并建立索引。\n"
        "/add 网址 抓取新闻网页加入语料库\n"
        "/follow 网址 [分钟] 关注 RSS/Atom 源或 sitemap，定时抓取新文章\n"
        "/sources 列出关注的来源及其状态，/unfollow 编号 取消关注",
        "zh-hant": "管理員指令：\n"
        "/reindex 增量重建索引（只處理新增或改動的網頁）\n"
        "/reindex full 完整重建索引\n"
        "/status 索引規模、上次重建及結果、模型、執行時間、已回答問題數\n"
        "傳送 .html / .htm 檔案或其 .zip 壓縮檔，即可加入語料庫並建立索引。\n"
        "/add 網址 擷取新聞網頁加入語料庫\n"
        "/follow 網址 [分鐘] 追蹤 RSS/Atom 來源或 sitemap，定時擷取新文章\n"
        "/sources 列出追蹤的來源及其狀態，/unfollow 編號 取消追蹤",
        "en": "Admin commands:\n"
        "/reindex rebuilds the index incrementally (new and changed pages only)\n"
        "/reindex full rebuilds it from scratch\n"
        "/status shows index size, last reindex and its result, model, uptime, questions answered\n"
        "Send .html / .htm files, or a .zip of them, to add them to the corpus and index them.\n"
        "/add URL fetches a news page into the corpus\n"
        "/follow URL [MINUTES] follows an RSS/Atom feed or sitemap and fetches its new articles\n"
        "/sources lists the followed sources and their status; /unfollow ID stops one",
    },
    # Answers
    "not_found": {
        "zh-hans": "语料库里没有能回答「{question}」的段落。",
        "zh-hant": "語料庫裡沒有能回答「{question}」的段落。",
        "en": "The corpus has no paragraph that answers “{question}”.",
    },
    "nearest": {
        "zh-hans": "最接近的新闻标题：",
        "zh-hant": "最接近的新聞標題：",
        "en": "Nearest headlines:",
    },
    "also_in": {
        "zh-hans": "同见：{sources}",
        "zh-hant": "同見：{sources}",
        "en": "Also in: {sources}",
    },
    "also_in_more": {
        "zh-hans": "等 {n} 处",
        "zh-hant": "等 {n} 處",
        "en": "and {n} more",
    },
    "untitled": {
        "zh-hans": "（无标题）",
        "zh-hant": "（無標題）",
        "en": "(untitled)",
    },
    "quote_truncated": {
        "zh-hans": "（引文较长，此处只显示开头）",
        "zh-hant": "（引文較長，此處只顯示開頭）",
        "en": "(long quote: only its beginning is shown)",
    },
    "more_button": {
        "zh-hans": "更多结果",
        "zh-hant": "更多結果",
        "en": "More results",
    },
    "more_none": {
        "zh-hans": "没有更多结果了。",
        "zh-hant": "沒有更多結果了。",
        "en": "No more results.",
    },
    "context_button": {
        "zh-hans": "上下文 {n}",
        "zh-hant": "上下文 {n}",
        "en": "Context {n}",
    },
    "context_title": {
        "zh-hans": "上下文",
        "zh-hant": "上下文",
        "en": "Context",
    },
    "context_missing": {
        "zh-hans": "这段引文已不在当前索引中，请重新提问。",
        "zh-hant": "這段引文已不在目前的索引中，請重新提問。",
        "en": "That quote is no longer in the index; please ask again.",
    },
    "inline_not_found": {
        "zh-hans": "语料库里没有答案",
        "zh-hant": "語料庫裡沒有答案",
        "en": "Not in the corpus",
    },
    # Politeness and errors
    "stale": {
        "zh-hans": "这个按钮已过期，请重新提问。",
        "zh-hant": "這個按鈕已過期，請重新提問。",
        "en": "This button has expired; please ask again.",
    },
    "rate_limited": {
        "zh-hans": "提问太频繁了，请 {seconds} 秒后再试。",
        "zh-hant": "提問太頻繁了，請 {seconds} 秒後再試。",
        "en": "Too many questions at once; please try again in {seconds} s.",
    },
    "error": {
        "zh-hans": "抱歉，出了点问题，请稍后再试。",
        "zh-hant": "抱歉，出了點問題，請稍後再試。",
        "en": "Sorry, something went wrong. Please try again later.",
    },
    "send_failed": {
        "zh-hans": "抱歉，发送回答时与 Telegram 的连接出了问题。如果没有看到回答，请再问一次。",
        "zh-hant": "抱歉，傳送回答時與 Telegram 的連線出了問題。如果沒有看到回答，請再問一次。",
        "en": "Sorry, the connection to Telegram failed while I was sending the answer. "
        "If it did not arrive, please ask again.",
    },
    "refused": {
        "zh-hans": "抱歉，这个命令只限管理员使用。",
        "zh-hant": "抱歉，這個指令只限管理員使用。",
        "en": "Sorry, this command is for admins only.",
    },
    "index_missing": {
        "zh-hans": "索引尚未建立，暂时无法回答。请管理员运行 /reindex。",
        "zh-hant": "索引尚未建立，暫時無法回答。請管理員執行 /reindex。",
        "en": "There is no index yet, so I cannot answer. An admin needs to run /reindex.",
    },
    # Usage lines for bad input
    "usage_question": {
        "zh-hans": "请用文字提一个问题（不要太长），例如：上海的房价怎么样？",
        "zh-hant": "請用文字提一個問題（不要太長），例如：上海的房價怎麼樣？",
        "en": "Please ask a question in words (not too long), e.g.: What happened to Shanghai house prices?",
    },
    "usage_ask": {
        "zh-hans": "用法：/ask 问题，例如 /ask 上海的房价怎么样？",
        "zh-hant": "用法：/ask 問題，例如 /ask 上海的房價怎麼樣？",
        "en": "Usage: /ask followed by your question, e.g. /ask What happened to Shanghai house prices?",
    },
    "usage_context": {
        "zh-hans": "用法：/context N，N 是上一个答案中引文的编号（1 到 {n}）",
        "zh-hant": "用法：/context N，N 是上一個答案中引文的編號（1 到 {n}）",
        "en": "Usage: /context N, where N is the number of a quote in the last answer (1 to {n})",
    },
    **ADMIN_STRINGS,  # reindexing, uploads and /status: bot/admin_strings.py
    **SOURCE_STRINGS,  # /add, /follow, /sources, /unfollow: bot/source_strings.py
    # The terminal chat
    "chat_help": {
        "zh-hans": "输入问题后按回车。命令：/more 更多结果，/context N 第 N 段引文的上下文，"
        "/help 帮助，/quit 退出。",
        "zh-hant": "輸入問題後按 Enter。指令：/more 更多結果，/context N 第 N 段引文的上下文，"
        "/help 說明，/quit 離開。",
        "en": "Type a question and press Enter. Commands: /more for more results, /context N for the "
        "paragraphs around quote N, /help, /quit.",
    },
    "chat_no_question": {
        "zh-hans": "还没有问题，请先提问。",
        "zh-hant": "還沒有問題，請先提問。",
        "en": "Ask a question first.",
    },
    "unknown_command": {
        "zh-hans": "未知命令：{command}",
        "zh-hant": "未知指令：{command}",
        "en": "Unknown command: {command}",
    },
}

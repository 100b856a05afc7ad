"""The live corpus's UI strings (/add, /follow, /sources, /unfollow) in the languages of bot.strings."""

from __future__ import annotations

from bot.languages import Lang

SOURCE_STRINGS: dict[str, dict[Lang, str]] = {
    "usage_add": {
        "zh-hans": "用法：/add 网址（可以一次给几个），例如 /add https://example.com/news/1.html",
        "zh-hant": "用法：/add 網址（可以一次給幾個），例如 /add https://example.com/news/1.html",
        "en": "Usage: /add URL (several at once are fine), e.g. /add https://example.com/news/1.html",
    },
    "usage_follow": {
        "zh-hans": "用法：/follow 网址 [分钟]：RSS/Atom 源、sitemap，或带有订阅链接的网页",
        "zh-hant": "用法：/follow 網址 [分鐘]：RSS/Atom 來源、sitemap，或附有訂閱連結的網頁",
        "en": "Usage: /follow URL [MINUTES]: an RSS/Atom feed, a sitemap, or a page that links its feed",
    },
    "usage_unfollow": {
        "zh-hans": "用法：/unfollow 编号或网址（/sources 列出全部来源）",
        "zh-hant": "用法：/unfollow 編號或網址（/sources 列出全部來源）",
        "en": "Usage: /unfollow ID or URL (/sources lists them)",
    },
    "add_added": {
        "zh-hans": "已加入：{title}\n{outlet}，{date}，{passages} 个段落\n{path}",
        "zh-hant": "已加入：{title}\n{outlet}，{date}，{passages} 個段落\n{path}",
        "en": "Added: {title}\n{outlet}, {date}, {passages} passages\n{path}",
    },
    "add_updated": {
        "zh-hans": "已更新：{title}\n{outlet}，{date}，{passages} 个段落\n{path}",
        "zh-hant": "已更新：{title}\n{outlet}，{date}，{passages} 個段落\n{path}",
        "en": "Updated: {title}\n{outlet}, {date}, {passages} passages\n{path}",
    },
    "add_unchanged": {
        "zh-hans": "已在语料库中，内容未变：{title}\n{path}",
        "zh-hant": "已在語料庫中，內容未變：{title}\n{path}",
        "en": "Already in the corpus, unchanged: {title}\n{path}",
    },
    "add_duplicate": {
        "zh-hans": "未加入 {url}：语料库里已有，见 {path}",
        "zh-hant": "未加入 {url}：語料庫裡已有，見 {path}",
        "en": "Not added {url}: already in the corpus as {path}",
    },
    "add_refused": {
        "zh-hans": "未加入 {url}：{reason}",
        "zh-hant": "未加入 {url}：{reason}",
        "en": "Not added {url}: {reason}",
    },
    "unknown_field": {"zh-hans": "不详", "zh-hant": "不詳", "en": "unknown"},
    "followed": {
        "zh-hans": "已关注 #{id}：{title}（{kind}，每 {every} 分钟检查一次）\n{url}",
        "zh-hant": "已追蹤 #{id}：{title}（{kind}，每 {every} 分鐘檢查一次）\n{url}",
        "en": "Following #{id}: {title} ({kind}, checked every {every} min)\n{url}",
    },
    "follow_refused": {
        "zh-hans": "无法关注 {url}：{reason}",
        "zh-hant": "無法追蹤 {url}：{reason}",
        "en": "Cannot follow {url}: {reason}",
    },
    "unfollowed": {
        "zh-hans": "已取消关注 #{id} {url}；它加入的 {pages} 个网页仍留在语料库中。",
        "zh-hant": "已取消追蹤 #{id} {url}；它加入的 {pages} 個網頁仍留在語料庫中。",
        "en": "Unfollowed #{id} {url}; the {pages} pages it added stay in the corpus.",
    },
    "no_such_source": {
        "zh-hans": "没有来源 {source}；/sources 列出全部来源。",
        "zh-hant": "沒有來源 {source}；/sources 列出全部來源。",
        "en": "No source {source}; /sources lists them.",
    },
    "sources_none": {
        "zh-hans": "还没有关注任何来源；用 /follow 网址 添加。",
        "zh-hant": "還沒有追蹤任何來源；用 /follow 網址 新增。",
        "en": "No sources followed yet; add one with /follow URL.",
    },
    "sources_title": {"zh-hans": "关注的来源", "zh-hant": "追蹤的來源", "en": "Followed sources"},
    "source_line": {
        "zh-hans": "#{id} {url}（{kind}）\n上次抓取：{last}；状态：{status}；"
        "已加入 {pages} 个网页；下次检查：{next}",
        "zh-hant": "#{id} {url}（{kind}）\n上次擷取：{last}；狀態：{status}；"
        "已加入 {pages} 個網頁；下次檢查：{next}",
        "en": "#{id} {url} ({kind})\nlast fetch: {last}; status: {status}; pages added: {pages}; "
        "next check: {next}",
    },
    "source_ok": {"zh-hans": "正常", "zh-hant": "正常", "en": "ok"},
    "source_new": {"zh-hans": "尚未检查", "zh-hant": "尚未檢查", "en": "not checked yet"},
}

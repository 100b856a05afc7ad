"""The admin side's UI strings (reindexing, uploads, /status) in the three languages of bot.languages."""

from __future__ import annotations

from bot.languages import Lang

ADMIN_STRINGS: dict[str, dict[Lang, str]] = {
    # Reindexing
    "busy": {
        "zh-hans": "正在重建索引，请等它完成后再试；期间我照常用现有索引回答问题。",
        "zh-hant": "正在重建索引，請等它完成後再試；期間我照常用現有索引回答問題。",
        "en": "A reindex is already running; please wait for it to finish. "
        "Meanwhile I keep answering from the current index.",
    },
    "reindex_queued": {
        "zh-hans": "当前的重建索引完成后，会再为新文件建立一次索引。",
        "zh-hant": "目前的重建索引完成後，會再為新檔案建立一次索引。",
        "en": "The new files will be indexed when the running reindex finishes.",
    },
    "reindex_locked": {
        "zh-hans": "索引正被另一个进程（命令行）重建，请稍后再试；现有索引保持不变。",
        "zh-hant": "索引正被另一個程序（命令列）重建，請稍後再試；現有索引保持不變。",
        "en": "Another process (the command line) is rebuilding the index; try again later. "
        "The current index is unchanged.",
    },
    "mode_full": {"zh-hans": "全量", "zh-hant": "完整", "en": "full"},
    "mode_incremental": {"zh-hans": "增量", "zh-hant": "增量", "en": "incremental"},
    "stage_scan": {"zh-hans": "扫描网页", "zh-hant": "掃描網頁", "en": "scanning pages"},
    "stage_embed": {"zh-hans": "计算向量", "zh-hant": "計算向量", "en": "embedding passages"},
    "stage_write": {"zh-hans": "写入索引", "zh-hant": "寫入索引", "en": "writing the index"},
    "stage_done": {"zh-hans": "完成", "zh-hant": "完成", "en": "done"},
    "progress": {
        "zh-hans": "重建索引中：{stage}\n网页 {pages_scanned}/{pages_total}，有变化 {pages_changed}\n"
        "段落向量 {passages_embedded}/{passages_total}，复用 {passages_reused}\n"
        "预计剩余：{eta}",
        "zh-hant": "重建索引中：{stage}\n網頁 {pages_scanned}/{pages_total}，有變化 {pages_changed}\n"
        "段落向量 {passages_embedded}/{passages_total}，沿用 {passages_reused}\n"
        "預計剩餘：{eta}",
        "en": "Reindexing: {stage}\npages {pages_scanned}/{pages_total}, changed {pages_changed}\n"
        "passages embedded {passages_embedded}/{passages_total}, reused {passages_reused}\nETA: {eta}",
    },
    "eta_unknown": {"zh-hans": "估算中", "zh-hant": "估算中", "en": "estimating"},
    "report": {
        "zh-hans": "{mode}重建索引完成，用时 {seconds}。\n新增 {added}，更新 {updated}，删除 {removed}，"
        "未变 {unchanged}，跳过 {skipped}，失败 {failed}。\n索引现有 {passages} 个段落。",
        "zh-hant": "{mode}重建索引完成，用時 {seconds}。\n新增 {added}，更新 {updated}，刪除 {removed}，"
        "未變 {unchanged}，略過 {skipped}，失敗 {failed}。\n索引現有 {passages} 個段落。",
        "en": "{mode} reindex finished in {seconds}.\nadded {added}, updated {updated}, removed {removed}, "
        "unchanged {unchanged}, skipped {skipped}, failed {failed}.\n"
        "The index now holds {passages} passages.",
    },
    "report_failed": {"zh-hans": "失败的网页：", "zh-hant": "失敗的網頁：", "en": "Failed pages:"},
    "report_skipped": {"zh-hans": "跳过的网页：", "zh-hant": "略過的網頁：", "en": "Skipped pages:"},
    "report_notes": {
        "zh-hans": "只索引了一部分的网页：",
        "zh-hant": "只索引了一部分的網頁：",
        "en": "Pages indexed in part:",
    },
    "report_more": {"zh-hans": "……还有 {n} 个", "zh-hant": "……還有 {n} 個", "en": "…and {n} more"},
    "report_recalibrated": {
        "zh-hans": "排序常数已更换：现用为 {model} 测定的记录。",
        "zh-hant": "排序常數已更換：現用為 {model} 測定的記錄。",
        "en": "Ranking constants changed: now the record for {model}.",
    },
    "reindex_failed": {
        "zh-hans": "重建索引失败：{reason}\n现有索引保持不变。",
        "zh-hant": "重建索引失敗：{reason}\n現有索引保持不變。",
        "en": "Reindex failed: {reason}\nThe current index is unchanged.",
    },
    "reindex_not_served": {
        "zh-hans": "重建索引完成，但新索引无法打开：{reason}\n仍用之前的索引（如有）回答。",
        "zh-hant": "重建索引完成，但新索引無法開啟：{reason}\n仍用先前的索引（如有）回答。",
        "en": "Reindex finished, but the new index cannot be opened: {reason}\nThe old one serves on.",
    },
    # Uploads
    "upload_saved": {"zh-hans": "已保存：{name}", "zh-hant": "已儲存：{name}", "en": "Saved: {name}"},
    "upload_replaced": {
        "zh-hans": "已覆盖同名网页：{name}",
        "zh-hant": "已覆寫同名網頁：{name}",
        "en": "Replaced the existing page: {name}",
    },
    "upload_refused": {
        "zh-hans": "已拒绝 {name}：{reason}",
        "zh-hant": "已拒絕 {name}：{reason}",
        "en": "Refused {name}: {reason}",
    },
    "upload_unchanged": {
        "zh-hans": "内容相同，未改动：{name}",
        "zh-hant": "內容相同，未改動：{name}",
        "en": "Already there, unchanged: {name}",
    },
    "upload_link": {"zh-hans": "是符号链接", "zh-hant": "是符號連結", "en": "a symbolic link"},
    "upload_broken_zip": {
        "zh-hans": "不是完好的 .zip 压缩包",
        "zh-hant": "不是完好的 .zip 壓縮檔",
        "en": "not a readable .zip archive",
    },
    "upload_bad_type": {
        "zh-hans": "不是 .html、.htm 或 .zip 文件",
        "zh-hant": "不是 .html、.htm 或 .zip 檔案",
        "en": "not an .html, .htm or .zip file",
    },
    "upload_too_big": {
        "zh-hans": "超过大小上限 {limit}",
        "zh-hant": "超過大小上限 {limit}",
        "en": "larger than the limit of {limit}",
    },
    "upload_too_many_entries": {
        "zh-hans": "压缩包里的文件超过 {entries} 个",
        "zh-hant": "壓縮檔裡的檔案超過 {entries} 個",
        "en": "more than {entries} entries in one zip",
    },
    "upload_write_failed": {
        "zh-hans": "无法写入语料目录（磁盘已满或没有权限）",
        "zh-hant": "無法寫入語料目錄（磁碟已滿或沒有權限）",
        "en": "could not be written to the corpus directory (disk full or no permission)",
    },
    "upload_unsafe_path": {
        "zh-hans": "路径不安全（不允许跳出语料目录）",
        "zh-hant": "路徑不安全（不允許跳出語料目錄）",
        "en": "unsafe path (it would leave the corpus directory)",
    },
    "upload_summary": {
        "zh-hans": "上传完成：保存 {saved} 个网页，拒绝 {refused} 个。接下来重建索引。",
        "zh-hant": "上傳完成：儲存 {saved} 個網頁，拒絕 {refused} 個。接下來重建索引。",
        "en": "Upload done: {saved} pages saved, {refused} refused. Reindexing next.",
    },
    "upload_nothing": {
        "zh-hans": "上传完成，但没有可保存的网页，索引不变。",
        "zh-hant": "上傳完成，但沒有可儲存的網頁，索引不變。",
        "en": "Upload done, but no page could be saved; the index is unchanged.",
    },
    # /status
    "status_title": {"zh-hans": "运行状态", "zh-hant": "執行狀態", "en": "Status"},
    "status_index": {
        "zh-hans": "索引：{articles} 篇文章，{passages} 个段落",
        "zh-hant": "索引：{articles} 篇文章，{passages} 個段落",
        "en": "Index: {articles} articles, {passages} passages",
    },
    "status_dates": {
        "zh-hans": "日期范围：{date_min} 至 {date_max}",
        "zh-hant": "日期範圍：{date_min} 至 {date_max}",
        "en": "Dates: {date_min} to {date_max}",
    },
    "status_model": {"zh-hans": "模型：{model}", "zh-hant": "模型：{model}", "en": "Model: {model}"},
    "status_dense": {
        "zh-hans": "向量索引类型：{kind}",
        "zh-hant": "向量索引類型：{kind}",
        "en": "Vector index: {kind}",
    },
    "status_calibration": {
        "zh-hans": "排序常数：为 {model} 测定",
        "zh-hant": "排序常數：為 {model} 測定",
        "en": "Ranking constants: measured for {model}",
    },
    "status_calibration_defaults": {
        "zh-hans": "排序常数：默认值（{model} 没有测定记录）",
        "zh-hant": "排序常數：預設值（{model} 沒有測定記錄）",
        "en": "Ranking constants: defaults (no calibration record for {model})",
    },
    "status_created": {
        "zh-hans": "索引建立于：{created}",
        "zh-hant": "索引建立於：{created}",
        "en": "Index built: {created}",
    },
    "status_last_reindex": {
        "zh-hans": "上次重建：{when}",
        "zh-hant": "上次重建：{when}",
        "en": "Last reindex: {when}",
    },
    "status_last_result": {
        "zh-hans": "上次结果：{result}",
        "zh-hant": "上次結果：{result}",
        "en": "Last result: {result}",
    },
    "status_uptime": {
        "zh-hans": "运行时间：{uptime}",
        "zh-hant": "執行時間：{uptime}",
        "en": "Uptime: {uptime}",
    },
    "status_questions": {
        "zh-hans": "已回答问题：{questions}",
        "zh-hant": "已回答問題：{questions}",
        "en": "Questions answered: {questions}",
    },
    "status_reindexing": {
        "zh-hans": "正在重建索引",
        "zh-hant": "正在重建索引",
        "en": "A reindex is running",
    },
    "status_never": {"zh-hans": "从未", "zh-hant": "從未", "en": "never"},
    "result_short": {
        "zh-hans": "新增 {added}，更新 {updated}，删除 {removed}，失败 {failed}",
        "zh-hant": "新增 {added}，更新 {updated}，刪除 {removed}，失敗 {failed}",
        "en": "added {added}, updated {updated}, removed {removed}, failed {failed}",
    },
    "duration_h": {"zh-hans": "{h} 小时 {m} 分", "zh-hant": "{h} 小時 {m} 分", "en": "{h} h {m} min"},
    "duration_m": {"zh-hans": "{m} 分 {s} 秒", "zh-hant": "{m} 分 {s} 秒", "en": "{m} min {s} s"},
    "duration_s": {"zh-hans": "{s} 秒", "zh-hant": "{s} 秒", "en": "{s} s"},
    "duration_d": {"zh-hans": "{d} 天 {h} 小时", "zh-hant": "{d} 天 {h} 小時", "en": "{d} d {h} h"},
}

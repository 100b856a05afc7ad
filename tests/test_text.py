"""Table-driven tests of the pure text rules: whitespace, captions, trailers, outlets, dates, titles."""

from __future__ import annotations

import pytest

from corpus import text as tx


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\u3000\u3000据报道，台风登陆。", "据报道，台风登陆。"),
        ("大暴雨，\n局地雨量超过300毫米。\xa0当地", "大暴雨， 局地雨量超过300毫米。 当地"),
        ("a \t\r\n  b", "a b"),
        ("及\u200b\u200b天然气", "及\u200b\u200b天然气"),  # zero-width characters are not whitespace
        ("\ufeff过去，体罚", "\ufeff过去，体罚"),
        ("   ", ""),
    ],
)
def test_normalize_space(raw: str, expected: str) -> None:
    assert tx.normalize_space(raw) == expected


@pytest.mark.parametrize(
    "caption",
    [
        "金正恩多次向川普传递亲笔书信。（示意图／路透社）",
        "金正恩不愿文在寅过度干涉他与川普之间的谈判。（图／达志影像／美联社）",
        "美国时任国务卿蓬佩奥曾多次造访朝鲜。（图／路透）",
        "漁民在宜蘭南方澳漁港加固漁船纜繩。（圖／中央社）",
        "乘客在新开通的车站候车。（示意图／网络）",
        "示威者在立法会外集会。（资料照／美联社）",
        "警方在现场调查。(图/ 路透)",
        "总统在白宫讲话。（图片来源：白宫）",
        "Protesters in Hong Kong. (Photo: AP)",
    ],
)
def test_captions_are_recognised(caption: str) -> None:
    assert tx.is_caption(caption)


@pytest.mark.parametrize(
    "body",
    [
        "金正恩直接向川普表明，“我认为，文总统对于我们之间（指金正恩与川普）的问题表现出过度关系。”",
        "根据《韩联社》，由韩美Clup发行的期刊于今（25）日公开了27封亲笔信。",
        "韩国前统一部次长金千植（김천식）分析，金正恩当时采取不信任的态度。",
        "中央社记者报道（台北／24日电），立法院今天三读通过修正案。",
        "他说：“这张图／表格说明了一切。”" + "这是一个很长的正文段落。" * 20 + "（图／路透）",
    ],
)
def test_body_paragraphs_are_not_captions(body: str) -> None:
    assert not tx.is_caption(body)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("原标题：多地出台政策 新能源汽车消费迎来“真金白银”", True),
        ("责任编辑：王擎宇", True),
        ("（责任编辑：王擎宇）", True),
        ("责编：李四", True),
        ("【纠错】 责任编辑：王萌", True),
        ("本文来源：新华网", True),
        ("免责声明：本文仅代表作者观点。", True),
        ("来源：新华网", True),
        ("編輯：陳記者", True),
        ("编辑部表示，将继续跟进报道。", False),
        ("数据来源：北京市交通委员会", False),
        ("来源：据知情人士透露，谈判已进入最后阶段，双方将在下周公布协议全文。", False),
        ("原来标题党也有市场。", False),
    ],
)
def test_trailers(line: str, expected: bool) -> None:
    assert tx.is_trailer(line) is expected


def test_strip_trailer_tail_keeps_the_sentence() -> None:
    assert tx.strip_trailer_tail("这次任务圆满成功。（责任编辑：王萌）") == "这次任务圆满成功。"
    assert tx.strip_trailer_tail("这次任务圆满成功。（完）") == "这次任务圆满成功。（完）"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("\u3000来源：ettoday ", "ettoday"),
        ("来源:自由亚洲电台", "自由亚洲电台"),
        ("來源：中央社", "中央社"),
        ("发布时间：2022-09-28 16:30 来源：市应急管理局 浏览次数：1024", "市应急管理局"),
        ("2022年09月23日 10:27 | 来源：人民网－人民日报", "人民网－人民日报"),
        ("本文来源：新华网", "新华网"),
        ("数据来源：国家统计局", None),
        ("没有出处的一行字", None),
    ],
)
def test_find_outlet(line: str, expected: str | None) -> None:
    assert tx.find_outlet(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("发布时间：2022年9月23日 14:05", "2022-09-23"),
        ("2022-09-28 16:30", "2022-09-28"),
        ("2022/9/3", "2022-09-03"),
        ("2022年2月30日 is not a day, 2022年3月1日 is", "2022-03-01"),
        ("12月31日开通", None),
        ("电话 20221301234", None),
    ],
)
def test_find_date(line: str, expected: str | None) -> None:
    assert tx.find_date(line) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.bannedbook.org/bnews/cnnews/20220923/1788086.html", "2022-09-23"),
        ("http://www.news.cn/tech/2022-09/27/c_1129036470.htm", "2022-09-27"),
        ("https://example.tw/2022/09/18/a/", "2022-09-18"),
        ("https://news.sina.com.cn/c/2022-09-23/doc-imqqsmrp0123456.shtml", "2022-09-23"),
        ("http://www.gov.cn/zhengce/content/2022-09/21/content_5710991.htm", "2022-09-21"),
        ("http://www.example.gov.cn/art/t20220921_123456.html", "2022-09-21"),
        ("https://www.bannedbook.org/bnews/cnnews/1788086.html", None),
        ("cmrc2018/cmrc2018-00000.html", None),
    ],
)
def test_find_url_date(url: str, expected: str | None) -> None:
    assert tx.find_url_date(url) == expected


def test_iso_date_of_a_timestamp() -> None:
    assert tx.iso_date("2019-10-22T08:00:00+08:00") == "2019-10-22"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("金正恩4年前亲笔信被曝光：想直接见川普 -六四天网 禁闻网", "金正恩4年前亲笔信被曝光：想直接见川普"),
        ("多地推出新能源汽车消费补贴|新能源汽车|补贴_新浪新闻", "多地推出新能源汽车消费补贴"),
        ("我国成功发射夜光卫星 - 新华网", "我国成功发射夜光卫星"),
        ("外交部回应--国际--人民网", "外交部回应"),
        ("市应急管理局部署工作_某某市人民政府门户网站", "市应急管理局部署工作"),
        ("台北市老屋更新新制上路 – 港台時事評論", "台北市老屋更新新制上路"),
        ("COVID-19疫苗接种进展", "COVID-19疫苗接种进展"),
        ("2022-09-23 新闻", "2022-09-23 新闻"),
    ],
)
def test_strip_site_suffix(title: str, expected: str) -> None:
    assert tx.strip_site_suffix(title) == expected

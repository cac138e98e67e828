"""The report's files from the generated year: the PDF looked at as a reader would (its pages rendered
with pdftoppm and kept in test-artifacts/report/, its text extracted with pdftotext), the page, the
CSV files and the workbook."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import psycopg
import pytest
from matplotlib import font_manager
from openpyxl import load_workbook

from relic_guard.report.charts import CJK_FAMILY, render_png
from relic_guard.report.document import Chart
from relic_guard.report.make import WrittenFile, make_reports
from tests.conftest import note_for_summary
from tests.report.world import LIXIA, NOW, ROUTE_CUSTODIANS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report"
STEM = "2025-历下区"


@pytest.fixture(scope="module")
def made(year_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[WrittenFile]]:
    out = tmp_path_factory.mktemp("report")
    with psycopg.connect(year_url) as conn:
        files = make_reports(conn, year=2025, district=LIXIA, out=out, now=NOW, route_custodians=ROUTE_CUSTODIANS)
    return out, files


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_files_of_one_district(made: tuple[Path, list[WrittenFile]]) -> None:
    out, files = made
    names = sorted(f.name for f in files)
    assert f"{STEM}.pdf" in names and f"{STEM}.html" in names and f"{STEM}.xlsx" in names
    tables = sorted(n.removeprefix(f"{STEM}-csv/") for n in names if n.endswith(".csv"))
    assert tables == sorted([
        "summary.csv", "sites_by_level_kind.csv", "sites.csv", "cases_by_category.csv", "cases.csv",
        "alerts_by_category.csv", "alerts_by_month.csv", "alerts_by_status.csv", "response_times.csv",
        "false_alarms.csv", "device_online_by_kind.csv", "device_online_by_site.csv", "device_online_by_month.csv",
        "device_online_lowest.csv", "device_silent.csv", "patrols_by_site.csv", "patrols_by_custodian.csv",
        "inspections_by_kind.csv", "inspections.csv", "draws.csv", "hazards.csv", "hazards_by_source.csv",
        "hazards_overdue.csv", "incidents.csv"])
    for item in files:
        assert (out / item.name).read_bytes() == item.data
    assert not list(out.rglob("*.part"))  # nothing half-written is left behind


def test_the_pdf_reads_as_the_report(made: tuple[Path, list[WrittenFile]]) -> None:
    out, _ = made
    pdf = out / f"{STEM}.pdf"
    text = pdf_text(pdf)
    flat = re.sub(r"\s+", "", text)
    # the headings, in order
    headings = ["历下区2025年度文物安全督察报告", "一、总体情况", "二、文物点", "三、案件与事故", "四、告警统计",
                "五、响应与处置时效", "六、误报情况", "七、设备在线情况", "八、巡查", "九、检查与评估",
                "十、“双随机”抽查", "十一、隐患排查整改", "十二、无人机巡查", "十三、重大事件处置记录", "签字"]
    positions = [flat.find(h) for h in headings]
    assert all(p >= 0 for p in positions), [h for h, p in zip(headings, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    # district, site and people's names in Chinese, as extracted from the PDF's own text
    for words in ("济南府学文庙", "历下博物馆", "解放阁", "王建国", "李秀兰", "赵敏", "种子-2025", "库房门锁损坏",
                  "入侵报警：历下博物馆展厅", "督察人员（签字）"):
        assert words in flat, words
    # rows of tables, with their figures
    for row in (r"误报率\s+25\.0%", r"响应时间中位数\s+3\.5", r"巡查完成率\s+84\.0%", r"检查完成\s+3\s*/\s*4",
                r"文物火灾事故\s+1", r"盗窃/抢劫文物\s+1", r"入侵报警控制器\s+2\s+1\s+50\.0%",
                r"济南府学文庙\s+19\s+14\s+2\s+1\s+2\s+0\s+84\.2%", r"王建国\s+济南府学文庙\s+19",
                r"库房门锁损坏.*77", r"2025-H1"):
        assert re.search(row, text), row
    assert "本期无飞行记录" in flat
    # the record of an incident, line by line
    assert re.search(r"2025-02-03 10:02:00\s+已响应\s+wang", text)
    assert re.search(r"2025-02-03 10:00:01\s+通知送达\s+系统\s+新告警 → center（webhook）", text)

    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert "Noto-Sans-CJK-SC" in fonts  # the Chinese is set in the Noto CJK font, embedded

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{STEM}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / STEM)], check=True)
    pages = sorted(ARTIFACTS.glob(f"{STEM}-*.png"))
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    count = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert len(pages) == count >= 5
    assert all(page.stat().st_size > 5000 for page in pages)  # every page has something drawn on it
    note_for_summary(f"report: {count} PDF pages of {STEM}.pdf rendered to {ARTIFACTS.relative_to(ARTIFACTS.parents[1])}/"
                     f"{STEM}-*.png")


def test_the_page_is_self_contained(made: tuple[Path, list[WrittenFile]]) -> None:
    out, _ = made
    page = (out / f"{STEM}.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and not re.search(r"(src|href)=\"(?!data:)", page)
    images = re.findall(r'<img src="data:image/png;base64,', page)
    assert len(images) == 6  # cases, alerts by month, false alarms, online by month, patrols, hazards
    assert '<h1 id="report-title">历下区2025年度文物安全督察报告</h1>' in page
    assert 'id="table-false_alarms"' in page and 'class="total"' in page


def test_the_csv_files_open_in_excel(made: tuple[Path, list[WrittenFile]]) -> None:
    out, _ = made
    raw = (out / f"{STEM}-csv" / "summary.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["指标", "数值", "说明"]
    values = {row[0]: row[1] for row in rows[1:]}
    assert values["文物点"] == "3" and values["误报率"] == "25.0%" and values["响应时间中位数"] == "3.5"
    cases = list(csv.reader(io.StringIO((out / f"{STEM}-csv" / "cases.csv").read_text(encoding="utf-8-sig"))))
    assert [row[2] for row in cases[1:]] == ["文物火灾事故", "盗窃/抢劫文物"]
    incidents = list(csv.reader(io.StringIO((out / f"{STEM}-csv" / "incidents.csv").read_text(encoding="utf-8-sig"))))
    assert len({row[0] for row in incidents[1:]}) == 3 and all(row[-1].isdigit() for row in incidents[1:])


def test_the_workbook_holds_typed_tables(made: tuple[Path, list[WrittenFile]]) -> None:
    out, _ = made
    book = load_workbook(out / f"{STEM}.xlsx")
    assert book.sheetnames[0] == "说明" and "主要指标" in book.sheetnames and "重大事件处置记录" in book.sheetnames
    assert len(book.sheetnames) == 1 + 24
    summary = {row[0].value: row[1] for row in book["主要指标"].iter_rows(min_row=2)}
    assert summary["文物点"].value == 3
    assert summary["误报率"].value == pytest.approx(0.25) and summary["误报率"].number_format == "0.0%"
    assert summary["响应时间中位数"].value == pytest.approx(3.5)
    assert book["说明"]["A1"].value == "历下区2025年度文物安全督察报告"


def test_charts_draw_chinese_with_the_noto_cjk_font() -> None:
    chart = Chart(key="t", title="各月告警（按类别）", kind="stacked", labels=("1月", "2月"),
                  series=(("火警", (1.0, 2.0)), ("安防", (0.0, 1.0))), unit="起")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font is a warning: it must not happen
        png = render_png(chart)
    assert png.startswith(b"\x89PNG") and render_png(chart) == png  # same figures, same bytes
    found = font_manager.findfont(font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False)
    assert "NotoSansCJK" in found
    assert shutil.which("pdftoppm") and shutil.which("pdftotext")

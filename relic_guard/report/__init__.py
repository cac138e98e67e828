"""The annual supervision report (年度督察报告) per district, and the city summary.

    model.py     the rows read and the figures computed, as frozen dataclasses
    figures.py   rows → figures (pure: medians, percentiles, rates, counts)
    rollups.py   the daily device rollup the report reads instead of raw readings
    queries.py   one district and one period from the store, as rows
    document.py  figures → sections of paragraphs, tables and charts (pure); words.py its words
    charts.py    charts as PNG (matplotlib, Noto CJK)
    html.py      the self-contained page (Jinja2, templates/report.html)
    pdf.py       the page printed by weasyprint
    tables.py    every table as CSV (UTF-8 with BOM) and one XLSX workbook
    make.py      all of the above for a year: `make_reports`
    records.py   the reports made and asked for (annual_reports), read by the dashboard
    job.py       the schedule's job: last year's reports in January, and those asked for
    errors.py    ReportError and its kinds
"""

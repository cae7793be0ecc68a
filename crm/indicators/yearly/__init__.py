"""The yearly pack ("Bilan annuel"): the year's figures against the year before and the targets, with the
manager's notes, as an XLSX workbook, an A4 PDF report and a page."""

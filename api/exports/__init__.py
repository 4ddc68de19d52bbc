"""Files for people: CSV (UTF-8 with BOM), XLSX (typed cells, frozen header) and PDF (Chinese via STSong-Light)."""

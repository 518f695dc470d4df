"""Everything archcalc prints or writes: formatting, escaping, tables, text formats, safe file writes.

format.py   numbers, shapes, sizes and the escaping of user-supplied strings (pure, no imports)
table.py    rich tables for a terminal (the only module that imports rich)
text.py     JSON, CSV, markdown and YAML as strings
files.py    safe atomic writes shared by every command that writes a file
layout.py   a Sugiyama-style layered layout (pure geometry) for the graph drawings
svg.py      architecture diagrams as SVG (graph and blocks styles), PNG through cairosvg
html.py     the self-contained HTML report and compare page (report.css, report.js inlined)
maps.py     activation-map grids as PNG (Pillow)
"""

"""Tests of the dashboard's pure pieces (map SVG, chart series, vendored assets); no server, no database."""

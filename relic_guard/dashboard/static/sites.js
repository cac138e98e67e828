/*
 * Instant filter of the sites list (/sites): typing in #site-q hides the rows of #site-list whose
 * name, id or district (the text of the second and third cells) lacks any of the typed terms,
 * and updates #site-shown. The same rule as the server's `q`: NFKC, case-insensitive, plain
 * substrings.
 *
 * Only when the list is unfiltered (data-filtered="0"): after a server search the rows are a
 * subset, and filtering them while the box says something else would hide sites that match.
 * Enter still submits the form, so the page works the same without this script.
 */
(function () {
  "use strict";

  var input = document.getElementById("site-q");
  var table = document.getElementById("site-list");
  if (!input || !table || table.getAttribute("data-filtered") !== "0" || !table.tBodies.length) return;

  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = null;  // folded on first use, not at page load
  var shown = document.getElementById("site-shown");
  var empty = document.getElementById("site-empty-filter");
  var timer = null;

  function fold(text) {
    return (text.normalize ? text.normalize("NFKC") : text).toLowerCase();
  }

  function apply() {
    timer = null;
    if (texts === null) {
      texts = rows.map(function (row) {
        var cells = row.cells;
        return cells.length > 2 ? fold(cells[1].textContent + " " + cells[2].textContent) : "";
      });
    }
    var terms = fold(input.value).split(/\s+/).filter(function (term) { return term.length > 0; });
    var count = 0;
    for (var i = 0; i < rows.length; i++) {
      var text = texts[i];
      var match = true;
      for (var k = 0; k < terms.length; k++) {
        if (text.indexOf(terms[k]) === -1) { match = false; break; }
      }
      if (rows[i].hidden === match) rows[i].hidden = !match;
      if (match) count++;
    }
    if (shown) shown.textContent = String(count);
    if (empty) empty.hidden = count > 0;
  }

  // A short pause after the last key: 10,000 rows are re-checked per run.
  input.addEventListener("input", function () {
    if (timer !== null) window.clearTimeout(timer);
    timer = window.setTimeout(apply, 60);
  });
})();

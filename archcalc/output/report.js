/* archcalc report: hover linking, sortable tables, filter boxes. No network, no libraries. */
(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  /* every element with data-layer (diagram node, table row, chart bar) is linked to the others of the same name */
  var groups = new Map();
  each(document.querySelectorAll("[data-layer]"), function (el) {
    var key = el.getAttribute("data-layer");
    if (!groups.has(key)) { groups.set(key, []); }
    groups.get(key).push(el);
  });

  function scroller(el) {
    return el.closest ? el.closest(".diagram-scroll, .table-wrap") : null;
  }

  function reveal(el, from) {
    var box = scroller(el);
    if (!box || box === from) { return; }
    var r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    if (r.top < b.top || r.bottom > b.bottom) {
      box.scrollTop += (r.top + r.bottom) / 2 - (b.top + b.bottom) / 2;
    }
    if (r.left < b.left || r.right > b.right) {
      box.scrollLeft += (r.left + r.right) / 2 - (b.left + b.right) / 2;
    }
  }

  function highlight(key, on, source) {
    var from = scroller(source);
    each(groups.get(key) || [], function (el) {
      el.classList.toggle("hl", on);
      if (on && el !== source) { reveal(el, from); }
    });
  }

  groups.forEach(function (els, key) {
    els.forEach(function (el) {
      el.addEventListener("mouseenter", function () { highlight(key, true, el); });
      el.addEventListener("mouseleave", function () { highlight(key, false, el); });
    });
  });

  /* sortable tables: click (or Enter on) a heading; numeric columns sort by the exact value in data-v */
  each(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, col) {
      function sort() {
        var numeric = th.getAttribute("data-numeric") === "1";
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        each(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          return dir * (numeric ? Number(x) - Number(y) : x.localeCompare(y));
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });

  /* filter boxes: hide rows whose text does not contain the query */
  each(document.querySelectorAll("input.filter"), function (input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      each(table.tBodies[0].rows, function (row) {
        row.hidden = q !== "" && row.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
})();

/* start each diagram with its input node in view */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll(".diagram-scroll"), function (box) {
    var first = box.querySelector(".node");
    if (!first) { return; }
    var r = first.getBoundingClientRect(), b = box.getBoundingClientRect();
    box.scrollLeft += (r.left + r.right) / 2 - (b.left + b.right) / 2;
  });
})();

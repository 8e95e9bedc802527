// y90dose pages: the tumour rows of a partition form or territory (add, remove, renumber).
// No validation and no physics here: the service computes and judges every value.
"use strict";
(function () {
  function renumber(body) {
    var label = body.getAttribute("data-label") || "";
    Array.from(body.querySelectorAll("tr.tumour-row")).forEach(function (row, i) {
      var n = i + 1;
      row.querySelector(".n").textContent = String(n);
      var inputs = row.querySelectorAll("input");
      inputs[0].setAttribute("aria-label", label + "tumour " + n + " volume (mL)");
      inputs[1].setAttribute("aria-label", label + "tumour " + n + " tumour-to-normal ratio");
      row.querySelector("button").setAttribute("aria-label", "remove " + label + "tumour " + n);
    });
  }
  function changed(form) { form.dispatchEvent(new Event("change", { bubbles: true })); }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement)) return;
    var table = target.closest("fieldset.tumours");
    var body = table && table.querySelector("tbody.tumour-rows");
    if (!body) return;
    if (target.classList.contains("add-tumour")) {
      var last = body.querySelector("tr.tumour-row:last-child");
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      body.appendChild(row);
      renumber(body);
      row.querySelector("input").focus();
    } else if (target.classList.contains("remove-tumour")) {
      var rows = body.querySelectorAll("tr.tumour-row");
      var mine = target.closest("tr");
      if (rows.length > 1) { mine.remove(); } else { mine.querySelectorAll("input").forEach(function (i) { i.value = ""; }); }
      renumber(body);
      changed(body.closest("form"));
    }
  });
})();

// y90dose pages: the tumour rows of the partition form (add, remove, renumber).
// No validation and no physics here: the service computes and judges every value.
"use strict";
(function () {
  function renumber(body) {
    Array.from(body.querySelectorAll("tr.tumour-row")).forEach(function (row, i) {
      var n = i + 1;
      row.querySelector(".n").textContent = String(n);
      var inputs = row.querySelectorAll("input");
      inputs[0].setAttribute("aria-label", "tumour " + n + " volume (mL)");
      inputs[1].setAttribute("aria-label", "tumour " + n + " tumour-to-normal ratio");
      row.querySelector("button").setAttribute("aria-label", "remove tumour " + n);
    });
  }
  function changed(form) { form.dispatchEvent(new Event("change", { bubbles: true })); }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement)) return;
    var body = document.getElementById("tumour-rows");
    if (!body) return;
    if (target.id === "add-tumour") {
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

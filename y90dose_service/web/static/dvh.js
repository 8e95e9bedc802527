// y90dose dose review: the run's cumulative DVHs (dvh.json, as the run wrote them) on a
// canvas, VOIs toggled by the checkboxes of #voi-toggles (shared with the views), and
// at the cursor each curve read both ways: V(dose), the volume receiving at least the
// cursor's dose, and D(volume), the dose at which the curve falls to the cursor's
// volume. Both are linear interpolations of the curve between its bins; the exact Dx and
// Vx of the run are in the metrics table.
"use strict";
(function () {
  var canvas = document.getElementById("dvh");
  if (!canvas) return;
  var maps = window.Y90Colormaps;
  var DASHES = [[], [8, 4], [2, 3], [8, 3, 2, 3]];
  var PAD = { left: 52, right: 14, top: 12, bottom: 40 };
  var curves = {};
  var order = [];
  var cursor = null; // {dose, volume}
  var axisMax = 0;

  function $(id) { return document.getElementById(id); }
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("#voi-toggles input")); }
  function visible(name) {
    var box = boxes().filter(function (b) { return b.value === name; })[0];
    return !box || box.checked;
  }
  function colourIndex(name) {
    var box = boxes().filter(function (b) { return b.value === name; })[0];
    return box ? Number(box.dataset.index) : order.indexOf(name);
  }

  // V at dose d: linear between bins, 0 past the last bin
  function volumeAt(curve, d) {
    var x = curve.dose_gy, y = curve.volume_percent;
    if (!x.length) return null;
    if (d <= x[0]) return y[0];
    for (var i = 1; i < x.length; i++) {
      if (d <= x[i]) return y[i - 1] + (y[i] - y[i - 1]) * (d - x[i - 1]) / (x[i] - x[i - 1]);
    }
    return 0;
  }

  // D at volume v: where the (non-increasing) curve falls to v
  function doseAt(curve, v) {
    var x = curve.dose_gy, y = curve.volume_percent;
    if (!x.length || v > y[0]) return null;
    for (var i = 1; i < x.length; i++) {
      if (y[i] < v) {
        if (y[i - 1] === y[i]) return x[i - 1];
        return x[i - 1] + (x[i] - x[i - 1]) * (y[i - 1] - v) / (y[i - 1] - y[i]);
      }
    }
    return x[x.length - 1];
  }

  function niceCeil(value) {
    if (!(value > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function autoMax() {
    var top = 0;
    order.forEach(function (name) {
      var c = curves[name];
      for (var i = c.dose_gy.length - 1; i >= 0; i--) {
        if (c.volume_percent[i] > 0) { top = Math.max(top, c.dose_gy[i]); break; }
      }
    });
    return niceCeil(top);
  }

  function plotArea() {
    var ratio = window.devicePixelRatio || 1;
    var cssW = canvas.clientWidth; // the CSS width (100 % of the card): never set here
    var cssH = Math.round(Math.min(380, Math.max(240, cssW * 0.55)));
    if (canvas.width !== Math.round(cssW * ratio) || canvas.height !== Math.round(cssH * ratio)) {
      canvas.width = Math.round(cssW * ratio);
      canvas.height = Math.round(cssH * ratio);
      canvas.style.height = cssH + "px";
    }
    return {
      ratio: ratio,
      x0: PAD.left * ratio, x1: canvas.width - PAD.right * ratio,
      y0: PAD.top * ratio, y1: canvas.height - PAD.bottom * ratio
    };
  }

  function draw() {
    var a = plotArea(), ctx = canvas.getContext("2d"), r = a.ratio;
    var xOf = function (d) { return a.x0 + (a.x1 - a.x0) * d / axisMax; };
    var yOf = function (v) { return a.y1 - (a.y1 - a.y0) * v / 100; };
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.font = (11 * r) + "px system-ui, sans-serif";
    ctx.fillStyle = "#333";
    ctx.strokeStyle = "#e2e2e2";
    ctx.lineWidth = r;
    ctx.textAlign = "center";
    for (var t = 0; t <= 10; t++) {
      var d = axisMax * t / 10, x = xOf(d);
      ctx.beginPath(); ctx.moveTo(x, a.y0); ctx.lineTo(x, a.y1); ctx.stroke();
      ctx.fillText(String(Math.round(d * 10) / 10), x, a.y1 + 14 * r);
    }
    ctx.textAlign = "right";
    for (t = 0; t <= 5; t++) {
      var y = yOf(t * 20);
      ctx.beginPath(); ctx.moveTo(a.x0, y); ctx.lineTo(a.x1, y); ctx.stroke();
      ctx.fillText(String(t * 20), a.x0 - 6 * r, y + 4 * r);
    }
    ctx.textAlign = "center";
    ctx.fillText("absorbed dose (Gy)", (a.x0 + a.x1) / 2, canvas.height - 6 * r);
    ctx.save();
    ctx.translate(14 * r, (a.y0 + a.y1) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText("volume (%)", 0, 0);
    ctx.restore();
    ctx.strokeStyle = "#666";
    ctx.strokeRect(a.x0, a.y0, a.x1 - a.x0, a.y1 - a.y0);

    var drawn = [];
    ctx.save();
    ctx.beginPath();
    ctx.rect(a.x0, a.y0, a.x1 - a.x0, a.y1 - a.y0);
    ctx.clip();
    order.forEach(function (name) {
      if (!visible(name)) return;
      var c = curves[name], index = colourIndex(name), path = new Path2D();
      for (var i = 0; i < c.dose_gy.length; i++) {
        var px = xOf(c.dose_gy[i]), py = yOf(c.volume_percent[i]);
        if (i === 0) path.moveTo(px, py); else path.lineTo(px, py);
      }
      ctx.setLineDash(DASHES[index % DASHES.length].map(function (v) { return v * r; }));
      ctx.lineWidth = 4 * r;
      ctx.strokeStyle = "rgba(0,0,0,0.45)";
      ctx.stroke(path);
      ctx.lineWidth = 2.2 * r;
      ctx.strokeStyle = maps.voiColour(index);
      ctx.stroke(path);
      drawn.push(name);
    });
    ctx.setLineDash([]);
    if (cursor) {
      ctx.strokeStyle = "#222";
      ctx.lineWidth = r;
      ctx.setLineDash([4 * r, 3 * r]);
      ctx.beginPath();
      ctx.moveTo(xOf(cursor.dose), a.y0); ctx.lineTo(xOf(cursor.dose), a.y1);
      ctx.moveTo(a.x0, yOf(cursor.volume)); ctx.lineTo(a.x1, yOf(cursor.volume));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.restore();
    canvas.dataset.curves = drawn.join(",");
    table();
  }

  function table() {
    var body = document.querySelector("#dvh-readout tbody");
    body.textContent = "";
    $("dvh-cursor").textContent = cursor
      ? "Read at the cursor: dose " + cursor.dose.toFixed(1) + " Gy, volume " + cursor.volume.toFixed(1) + " %."
      : "Read at the cursor: move it over the chart (or use the arrow keys on it).";
    $("dvh-v-head").textContent = cursor ? "V(" + cursor.dose.toFixed(1) + " Gy) (%)" : "V(dose) (%)";
    $("dvh-d-head").textContent = cursor ? "D(" + cursor.volume.toFixed(1) + " %) (Gy)" : "D(volume) (Gy)";
    order.forEach(function (name) {
      if (!visible(name)) return;
      var row = document.createElement("tr");
      row.dataset.voi = name;
      var head = document.createElement("th");
      head.scope = "row";
      head.textContent = name;
      row.appendChild(head);
      var v = cursor ? volumeAt(curves[name], cursor.dose) : null;
      var d = cursor ? doseAt(curves[name], cursor.volume) : null;
      [v, d].forEach(function (value, i) {
        var cell = document.createElement("td");
        cell.className = "num";
        cell.textContent = value === null ? "—" : value.toFixed(1);
        cell.dataset.value = value === null ? "" : String(value);
        cell.dataset.kind = i === 0 ? "v" : "d";
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
  }

  function setCursorFromEvent(event) {
    var a = plotArea(), rect = canvas.getBoundingClientRect();
    var x = (event.clientX - rect.left) * a.ratio, y = (event.clientY - rect.top) * a.ratio;
    if (x < a.x0 || x > a.x1 || y < a.y0 || y > a.y1) return;
    cursor = {
      dose: axisMax * (x - a.x0) / (a.x1 - a.x0),
      volume: 100 * (a.y1 - y) / (a.y1 - a.y0)
    };
    draw();
  }

  function wire() {
    canvas.addEventListener("mousemove", setCursorFromEvent);
    canvas.addEventListener("keydown", function (event) {
      var c = cursor || { dose: axisMax / 2, volume: 50 };
      var step = event.shiftKey ? 10 : 1;
      if (event.key === "ArrowRight") c.dose = Math.min(axisMax, c.dose + step * axisMax / 100);
      else if (event.key === "ArrowLeft") c.dose = Math.max(0, c.dose - step * axisMax / 100);
      else if (event.key === "ArrowUp") c.volume = Math.min(100, c.volume + step);
      else if (event.key === "ArrowDown") c.volume = Math.max(0, c.volume - step);
      else return;
      event.preventDefault();
      cursor = c;
      draw();
    });
    $("voi-toggles").addEventListener("change", draw);
    $("dvh-max").addEventListener("input", function () {
      var value = parseFloat($("dvh-max").value);
      axisMax = value > 0 ? value : autoMax();
      draw();
    });
    if (window.ResizeObserver) new ResizeObserver(draw).observe(canvas.parentElement);
  }

  function swatches() {
    document.querySelectorAll("#voi-toggles .swatch").forEach(function (span) {
      var index = Number(span.dataset.index);
      span.style.borderColor = maps.voiColour(index);
      span.style.borderTopStyle = ["solid", "dashed", "dotted", "dashed"][index % 4];
    });
  }

  swatches();
  fetch(canvas.dataset.url, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) throw new Error("status " + r.status);
    return r.json();
  }).then(function (data) {
    curves = data;
    order = Object.keys(data);
    axisMax = autoMax();
    wire();
    draw();
    canvas.dataset.ready = "yes";
  }).catch(function (error) {
    document.getElementById("dvh-cursor").textContent = "The DVHs could not be loaded: " + error.message;
  });
})();

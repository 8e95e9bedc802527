// y90dose dose review: the dose over the CT (or the emission image) in axial, coronal and
// sagittal views, drawn on 2-D canvases. The volumes are the run's own (served by
// /dose-jobs/<id>/view/*, described by view.json: y90dose_service/web/volumes.py); this
// file only draws and reads them: no dose is computed here.
//
// Layout of a volume: raw little-endian values, x fastest, then y, then z (index
// (k * ny + j) * nx + i), axes turned to the nearest of LPS: i toward the patient's left,
// j toward posterior, k toward superior. Views: axial (i across, j down: anterior at the
// top, patient's right on the left), coronal (i across, k up), sagittal (j across, k up).
"use strict";
(function () {
  var root = document.getElementById("review");
  if (!root) return;
  var base = root.dataset.base;
  var maps = window.Y90Colormaps;
  var VIEWS = {
    axial: { fixed: 2, u: 0, v: 1, flipV: false, letters: ["R", "L", "A", "P"] },
    coronal: { fixed: 1, u: 0, v: 2, flipV: true, letters: ["R", "L", "S", "I"] },
    sagittal: { fixed: 0, u: 1, v: 2, flipV: true, letters: ["A", "P", "S", "I"] }
  };
  var NAMES = ["axial", "coronal", "sagittal"];
  var ISO_DASHES = [[], [7, 4], [2, 3], [9, 3, 2, 3], [4, 4], [1, 2]];
  var MAX_VIEW_HEIGHT_PX = 440;
  var TYPED = { float32: Float32Array, int16: Int16Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array };

  var desc = null;
  var vol = {};
  var n = [0, 0, 0];
  var strides = [1, 0, 0];
  var state = {
    pos: [0, 0, 0],
    hover: null,
    width: 400, level: 40,
    doseShow: true, doseMin: 0, doseMax: 1, opacity: 0.55, map: "viridis",
    isoShow: true, isoLevels: [],
    voiShow: true
  };
  var pending = false;
  var views = {};

  function $(id) { return document.getElementById(id); }
  function status(text) { $("viewer-status").textContent = text; }
  function number(text) {
    var value = parseFloat(String(text).replace(",", "."));
    return isFinite(value) ? value : null;
  }
  function fixed(value, digits) { return Number(value).toFixed(digits); }
  function doseText(gy) { return Math.abs(gy) < 10 ? fixed(gy, 2) : fixed(gy, 1); }

  function voiVisible(name) {
    var box = document.querySelector('#voi-toggles input[value="' + CSS.escape(name) + '"]');
    return !box || box.checked;
  }
  function voiIndexOf(name) {
    var box = document.querySelector('#voi-toggles input[value="' + CSS.escape(name) + '"]');
    return box ? Number(box.dataset.index) : desc.vois.names.indexOf(name);
  }

  // --- loading ----------------------------------------------------------------------------

  function fetchVolume(part, dtype) {
    return fetch(base + "/view/" + part, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(part + ": " + r.status);
      return r.arrayBuffer();
    }).then(function (buffer) {
      var Kind = TYPED[dtype];
      var values = new Kind(buffer);
      if (values.length !== n[0] * n[1] * n[2]) throw new Error(part + ": unexpected size");
      return values;
    });
  }

  function load() {
    fetch(base + "/view.json", { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.detail || "status " + r.status);
        return body;
      });
    }).then(function (body) {
      desc = body;
      n = desc.shape_xyz;
      strides = [1, n[0], n[0] * n[1]];
      var parts = [
        fetchVolume("dose", desc.dose.dtype),
        fetchVolume("background", desc.background.dtype),
        fetchVolume("vois", desc.vois.dtype),
        desc.dose.air ? fetchVolume("air", "uint8") : Promise.resolve(null)
      ];
      return Promise.all(parts);
    }).then(function (loaded) {
      vol = { dose: loaded[0], background: loaded[1], vois: loaded[2], air: loaded[3] };
      start();
    }).catch(function (error) {
      status("The images could not be loaded: " + error.message);
      root.dataset.ready = "error";
    });
  }

  // --- set-up -----------------------------------------------------------------------------

  function start() {
    var bg = desc.background;
    $("background-title").textContent = bg.kind === "ct" ? "over the CT" : "over the emission image";
    document.querySelectorAll('[data-unit="background"]').forEach(function (el) { el.textContent = "(" + bg.unit + ")"; });
    var presets = bg.kind === "ct"
      ? [["soft tissue", 400, 40], ["lung", 1500, -600], ["bone", 1800, 400]]
      : [["to 99.5th percentile", bg.window[0], bg.window[1]], ["full range", bg.max - bg.min, (bg.max + bg.min) / 2]];
    var select = $("wl-preset");
    presets.forEach(function (p) {
      var option = document.createElement("option");
      option.value = p[1] + "/" + p[2];
      option.textContent = p[0];
      select.appendChild(option);
    });
    state.width = bg.window[0];
    state.level = bg.window[1];
    select.value = presets[0][1] + "/" + presets[0][2];
    state.doseMin = desc.dose.range_gy[0];
    state.doseMax = desc.dose.range_gy[1];
    state.isoLevels = (desc.v_thresholds_gy || []).slice();
    $("wl-width").value = fixed(state.width, 0);
    $("wl-level").value = fixed(state.level, 0);
    $("dose-min").value = state.doseMin;
    $("dose-max").value = state.doseMax;
    $("iso-levels").value = state.isoLevels.join(", ");

    var focus = root.dataset.focus;
    var centre = focus ? centroid(voiIndexOf(focus)) : null;
    state.pos = centre || [n[0] >> 1, n[1] >> 1, n[2] >> 1];

    NAMES.forEach(function (name) {
      var cfg = VIEWS[name];
      var canvas = $("view-" + name);
      var slider = $("slice-" + name);
      slider.max = String(n[cfg.fixed] - 1);
      views[name] = { cfg: cfg, canvas: canvas, slider: slider, off: document.createElement("canvas") };
      views[name].off.width = n[cfg.u];
      views[name].off.height = n[cfg.v];
      wire(name);
    });
    wireControls();
    note();
    if (window.ResizeObserver) new ResizeObserver(function () { draw(); }).observe($("review"));
    draw();
    status("");
    root.dataset.ready = "yes";
  }

  function note() {
    var parts = ["Shown on " + desc.grid + ": " + n.join(" × ") + " voxels of " +
      desc.spacing_mm.map(function (s) { return fixed(s, 2); }).join(" × ") + " mm."];
    var f = desc.shrink_factors_xyz;
    if (f[0] * f[1] * f[2] > 1) {
      parts.push("Shrunk for the browser by " + f.join(" × ") + " from " + desc.source_shape_xyz.join(" × ") +
        " voxels: the images and the readout are means over each block; the metrics and DVHs are the run's, at full resolution.");
    }
    if (desc.dose.air && desc.dose.air.voxels) {
      parts.push("No colour where the CT density is below " + desc.dose.air.density_below_g_ml +
        " g/mL (air: " + desc.dose.air.voxels + " voxels with dose), as in the run's figures; the readout still shows their dose.");
    }
    if (desc.vois.left_out.length) parts.push("Outlines not drawn (more than 32 VOIs): " + desc.vois.left_out.join(", ") + ".");
    $("viewer-note").textContent = parts.join(" ");
  }

  function centroid(index) {
    if (index < 0) return null;
    var bit = 1 << index;
    var sum = [0, 0, 0], count = 0, bits = vol.vois;
    for (var k = 0, idx = 0; k < n[2]; k++) {
      for (var j = 0; j < n[1]; j++) {
        for (var i = 0; i < n[0]; i++, idx++) {
          if (bits[idx] & bit) { sum[0] += i; sum[1] += j; sum[2] += k; count++; }
        }
      }
    }
    if (!count) return null;
    return sum.map(function (s) { return Math.round(s / count); });
  }

  // --- drawing ----------------------------------------------------------------------------

  function draw() {
    if (pending || !desc) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      NAMES.forEach(render);
      colorbar();
      readout();
    });
  }

  function size(view) {
    var cfg = view.cfg;
    var spacing = desc.spacing_mm;
    var physU = n[cfg.u] * spacing[cfg.u], physV = n[cfg.v] * spacing[cfg.v];
    var available = view.canvas.parentElement.clientWidth;
    var scale = Math.min(available / physU, MAX_VIEW_HEIGHT_PX / physV);
    var cssW = Math.max(1, Math.floor(physU * scale)), cssH = Math.max(1, Math.floor(physV * scale));
    var ratio = window.devicePixelRatio || 1;
    if (view.canvas.width !== Math.round(cssW * ratio) || view.canvas.height !== Math.round(cssH * ratio)) {
      view.canvas.width = Math.round(cssW * ratio);
      view.canvas.height = Math.round(cssH * ratio);
      view.canvas.style.width = cssW + "px";
      view.canvas.style.height = cssH + "px";
    }
    return ratio;
  }

  function planeIndex(cfg, s, pu, r) {
    var nv = n[cfg.v];
    var pv = cfg.flipV ? nv - 1 - r : r;
    return s * strides[cfg.fixed] + pu * strides[cfg.u] + pv * strides[cfg.v];
  }

  function render(name) {
    var view = views[name], cfg = view.cfg;
    var ratio = size(view);
    var nu = n[cfg.u], nv = n[cfg.v];
    var s = state.pos[cfg.fixed];
    view.slider.value = String(s);
    $("slice-" + name + "-text").textContent = (s + 1) + " / " + n[cfg.fixed];
    var offCtx = view.off.getContext("2d");
    var image = offCtx.createImageData(nu, nv);
    var px = image.data;
    var plane = new Float32Array(nu * nv);
    var lut = maps[state.map];
    var low = state.level - state.width / 2, width = state.width || 1;
    var dmin = state.doseMin, span = (state.doseMax - state.doseMin) || 1;
    var alpha = state.doseShow ? state.opacity : 0;
    var dose = vol.dose, bg = vol.background, air = vol.air;
    for (var r = 0; r < nv; r++) {
      for (var pu = 0; pu < nu; pu++) {
        var idx = planeIndex(cfg, s, pu, r);
        var g = (bg[idx] - low) / width;
        g = g < 0 ? 0 : g > 1 ? 255 : g * 255;
        var red = g, green = g, blue = g;
        var d = air && air[idx] ? 0 : dose[idx];
        plane[r * nu + pu] = d;
        if (alpha > 0 && d >= dmin && d > 0) {
          var t = (d - dmin) / span;
          var c = 3 * Math.round((t < 0 ? 0 : t > 1 ? 1 : t) * 255);
          red = (1 - alpha) * g + alpha * lut[c];
          green = (1 - alpha) * g + alpha * lut[c + 1];
          blue = (1 - alpha) * g + alpha * lut[c + 2];
        }
        var o = 4 * (r * nu + pu);
        px[o] = red; px[o + 1] = green; px[o + 2] = blue; px[o + 3] = 255;
      }
    }
    offCtx.putImageData(image, 0, 0);
    var ctx = view.canvas.getContext("2d");
    var W = view.canvas.width, H = view.canvas.height;
    var sx = W / nu, sy = H / nv;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(view.off, 0, 0, W, H);
    ctx.lineJoin = "round";
    // lines first, then the VOI names, then the isodose levels where a place is free
    var placed = [];
    var isoLabels = state.isoShow ? isodose(ctx, plane, nu, nv, sx, sy, ratio) : [];
    if (state.voiShow) outlines(ctx, cfg, s, nu, nv, sx, sy, ratio, placed);
    isoLabels.forEach(function (l) { label(ctx, l[0], l[1], l[2], "#ffffff", ratio, placed, 0); });
    crosshair(ctx, cfg, nu, nv, sx, sy, ratio);
    letters(ctx, cfg, W, H, ratio);
  }

  function halo(ctx, draw, width, ratio) {
    ctx.lineWidth = (width + 2) * ratio;
    ctx.strokeStyle = "rgba(0,0,0,0.65)";
    draw();
  }

  // a name on the image, moved down past the names already placed (up to `tries` lines);
  // false (and not drawn) when no free place was found
  function label(ctx, text, x, y, colour, ratio, placed, tries) {
    ctx.font = (12 * ratio) + "px system-ui, sans-serif";
    var w = ctx.measureText(text).width, h = 14 * ratio;
    x = Math.max(2 * ratio, Math.min(x, ctx.canvas.width - w - 2 * ratio));
    y = Math.max(h, y);
    var clash = true;
    for (var t = 0; t <= tries && clash; t++) {
      if (t) y += h;
      var top = y;
      clash = placed.some(function (p) { return x < p[0] + p[2] && p[0] < x + w && top - h < p[1] && p[1] - h < top; });
    }
    if (clash) return false;
    placed.push([x, y, w]);
    ctx.lineWidth = 3 * ratio;
    ctx.strokeStyle = "rgba(0,0,0,0.8)";
    ctx.strokeText(text, x, y);
    ctx.fillStyle = colour;
    ctx.fillText(text, x, y);
    return true;
  }

  function segments(values, nu, nv, level, emit) {
    function at(a, b) { return (level - a) / (b - a); }
    for (var r = 0; r < nv - 1; r++) {
      for (var c = 0; c < nu - 1; c++) {
        var tl = values[r * nu + c], tr = values[r * nu + c + 1];
        var bl = values[(r + 1) * nu + c], br = values[(r + 1) * nu + c + 1];
        var code = (tl >= level ? 8 : 0) | (tr >= level ? 4 : 0) | (br >= level ? 2 : 0) | (bl >= level ? 1 : 0);
        if (code === 0 || code === 15) continue;
        var top = [c + at(tl, tr), r], right = [c + 1, r + at(tr, br)];
        var bottom = [c + at(bl, br), r + 1], left = [c, r + at(tl, bl)];
        var centreHigh = (tl + tr + bl + br) / 4 >= level;
        switch (code) {
          case 1: case 14: emit(left, bottom); break;
          case 2: case 13: emit(bottom, right); break;
          case 3: case 12: emit(left, right); break;
          case 4: case 11: emit(top, right); break;
          case 6: case 9: emit(top, bottom); break;
          case 7: case 8: emit(left, top); break;
          case 5:
            if (centreHigh) { emit(left, top); emit(bottom, right); } else { emit(top, right); emit(left, bottom); }
            break;
          case 10:
            if (centreHigh) { emit(top, right); emit(left, bottom); } else { emit(left, top); emit(bottom, right); }
            break;
        }
      }
    }
  }

  function isodose(ctx, plane, nu, nv, sx, sy, ratio) {
    var labels = [];
    state.isoLevels.forEach(function (level, m) {
      var path = new Path2D();
      var topmost = null;
      segments(plane, nu, nv, level, function (a, b) {
        var ax = (a[0] + 0.5) * sx, ay = (a[1] + 0.5) * sy, bx = (b[0] + 0.5) * sx, by = (b[1] + 0.5) * sy;
        path.moveTo(ax, ay);
        path.lineTo(bx, by);
        if (!topmost || ay < topmost[1]) topmost = [ax, ay];
      });
      if (!topmost) return;
      var dash = ISO_DASHES[m % ISO_DASHES.length].map(function (v) { return v * ratio; });
      ctx.setLineDash(dash);
      halo(ctx, function () { ctx.stroke(path); }, 1.5, ratio);
      ctx.lineWidth = 1.5 * ratio;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke(path);
      ctx.setLineDash([]);
      labels.push([level + " Gy", topmost[0] + 3 * ratio, topmost[1] - 2 * ratio]);
    });
    return labels;
  }

  function outlines(ctx, cfg, s, nu, nv, sx, sy, ratio, placed) {
    var bits = vol.vois;
    desc.vois.names.forEach(function (name, b) {
      if (!voiVisible(name)) return;
      var bit = 1 << b;
      var mask = new Uint8Array(nu * nv), any = false;
      for (var r = 0; r < nv; r++) {
        for (var pu = 0; pu < nu; pu++) {
          if (bits[planeIndex(cfg, s, pu, r)] & bit) { mask[r * nu + pu] = 1; any = true; }
        }
      }
      if (!any) return;
      var path = new Path2D(), first = null;
      for (r = 0; r < nv; r++) {
        for (pu = 0; pu < nu; pu++) {
          if (!mask[r * nu + pu]) continue;
          if (!first) first = [pu * sx, r * sy];
          var x0 = pu * sx, x1 = (pu + 1) * sx, y0 = r * sy, y1 = (r + 1) * sy;
          if (r === 0 || !mask[(r - 1) * nu + pu]) { path.moveTo(x0, y0); path.lineTo(x1, y0); }
          if (r === nv - 1 || !mask[(r + 1) * nu + pu]) { path.moveTo(x0, y1); path.lineTo(x1, y1); }
          if (pu === 0 || !mask[r * nu + pu - 1]) { path.moveTo(x0, y0); path.lineTo(x0, y1); }
          if (pu === nu - 1 || !mask[r * nu + pu + 1]) { path.moveTo(x1, y0); path.lineTo(x1, y1); }
        }
      }
      var colour = maps.voiColour(voiIndexOf(name));
      halo(ctx, function () { ctx.stroke(path); }, 1.5, ratio);
      ctx.lineWidth = 1.5 * ratio;
      ctx.strokeStyle = colour;
      ctx.stroke(path);
      label(ctx, name, first[0], first[1] - 3 * ratio, colour, ratio, placed, 12);
    });
  }

  function crosshair(ctx, cfg, nu, nv, sx, sy, ratio) {
    var pu = state.pos[cfg.u], pv = state.pos[cfg.v];
    var r = cfg.flipV ? nv - 1 - pv : pv;
    var x = (pu + 0.5) * sx, y = (r + 0.5) * sy;
    ctx.setLineDash([3 * ratio, 5 * ratio]);
    ctx.lineWidth = 1 * ratio;
    ctx.strokeStyle = "rgba(255,255,255,0.6)";
    ctx.beginPath();
    ctx.moveTo(x, 0); ctx.lineTo(x, ctx.canvas.height);
    ctx.moveTo(0, y); ctx.lineTo(ctx.canvas.width, y);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function letters(ctx, cfg, W, H, ratio) {
    ctx.font = "bold " + (12 * ratio) + "px system-ui, sans-serif";
    ctx.fillStyle = "#ffe9a8";
    ctx.textBaseline = "middle";
    ctx.fillText(cfg.letters[0], 4 * ratio, H / 2);
    ctx.fillText(cfg.letters[1], W - 12 * ratio, H / 2);
    ctx.fillText(cfg.letters[2], W / 2, 10 * ratio);
    ctx.fillText(cfg.letters[3], W / 2, H - 10 * ratio);
    ctx.textBaseline = "alphabetic";
  }

  function colorbar() {
    var canvas = $("colorbar"), ctx = canvas.getContext("2d"), lut = maps[state.map];
    for (var x = 0; x < 256; x++) {
      ctx.fillStyle = "rgb(" + lut[3 * x] + "," + lut[3 * x + 1] + "," + lut[3 * x + 2] + ")";
      ctx.fillRect(x, 0, 1, canvas.height);
    }
    $("colorbar-min").textContent = doseText(state.doseMin);
    $("colorbar-max").textContent = doseText(state.doseMax);
    var legend = $("iso-legend");
    legend.textContent = "";
    if (!state.isoShow) return;
    state.isoLevels.forEach(function (level, m) {
      var item = document.createElement("span");
      item.className = "iso-item";
      var sample = document.createElement("canvas");
      sample.width = 28; sample.height = 10;
      sample.setAttribute("aria-hidden", "true");
      var c = sample.getContext("2d");
      c.fillStyle = "#333"; c.fillRect(0, 0, 28, 10);
      c.strokeStyle = "#fff"; c.lineWidth = 1.5; c.setLineDash(ISO_DASHES[m % ISO_DASHES.length]);
      c.beginPath(); c.moveTo(0, 5); c.lineTo(28, 5); c.stroke();
      item.appendChild(sample);
      item.appendChild(document.createTextNode(" " + level + " Gy"));
      legend.appendChild(item);
    });
  }

  // --- reading ----------------------------------------------------------------------------

  function positionMm(p) {
    var d = desc.direction, o = desc.origin_mm, sp = desc.spacing_mm;
    return [0, 1, 2].map(function (row) {
      return o[row] + d[3 * row] * sp[0] * p[0] + d[3 * row + 1] * sp[1] * p[1] + d[3 * row + 2] * sp[2] * p[2];
    });
  }

  function readout() {
    var p = state.hover || state.pos;
    var out = $("readout");
    var idx = p[0] + p[1] * strides[1] + p[2] * strides[2];
    var dose = vol.dose[idx], bgValue = vol.background[idx];
    var inside = [];
    desc.vois.names.forEach(function (name, b) { if (vol.vois[idx] & (1 << b)) inside.push(name); });
    var bg = desc.background;
    var bgText = bg.kind === "ct" ? "CT " + fixed(bgValue, 0) + " HU" : "image " + Number(bgValue).toPrecision(4) + " " + bg.unit;
    var mm = positionMm(p).map(function (v) { return fixed(v, 1); });
    var hidden = vol.air && vol.air[idx] ? " (air: no colour)" : "";
    out.textContent = (state.hover ? "Under the cursor: " : "At the cross-hair: ") +
      "dose " + doseText(dose) + " Gy" + hidden + " · " + bgText + " · " +
      (inside.length ? "in " + inside.join(", ") : "in no VOI") +
      " · voxel (" + p.join(", ") + ") · (" + mm.join(", ") + ") mm LPS";
    out.dataset.doseGy = String(dose);
    out.dataset.background = String(bgValue);
    out.dataset.vois = inside.join(",");
    out.dataset.voxel = p.join(",");
    out.dataset.hover = state.hover ? "yes" : "no";
  }

  // --- interaction ------------------------------------------------------------------------

  function voxelAt(view, event) {
    var cfg = view.cfg, rect = view.canvas.getBoundingClientRect();
    var nu = n[cfg.u], nv = n[cfg.v];
    var pu = Math.floor((event.clientX - rect.left) / rect.width * nu);
    var r = Math.floor((event.clientY - rect.top) / rect.height * nv);
    if (pu < 0 || pu >= nu || r < 0 || r >= nv) return null;
    var p = state.pos.slice();
    p[cfg.u] = pu;
    p[cfg.v] = cfg.flipV ? nv - 1 - r : r;
    return p;
  }

  function move(view, axis, step) {
    var limit = n[axis] - 1;
    state.pos[axis] = Math.max(0, Math.min(limit, state.pos[axis] + step));
    state.hover = null;
    draw();
  }

  function wire(name) {
    var view = views[name], cfg = view.cfg, canvas = view.canvas;
    canvas.addEventListener("mousemove", function (event) {
      state.hover = voxelAt(view, event);
      readout();
    });
    canvas.addEventListener("mouseleave", function () { state.hover = null; readout(); });
    canvas.addEventListener("click", function (event) {
      var p = voxelAt(view, event);
      if (p) { state.pos = p; draw(); }
    });
    canvas.addEventListener("wheel", function (event) {
      event.preventDefault();
      move(view, cfg.fixed, event.deltaY > 0 ? -1 : 1);
    }, { passive: false });
    canvas.addEventListener("keydown", function (event) {
      var steps = { ArrowUp: 1, ArrowDown: -1, PageUp: 10, PageDown: -10 };
      if (event.key in steps) {
        move(view, cfg.fixed, steps[event.key]);
      } else if (event.key === "Home" || event.key === "End") {
        state.pos[cfg.fixed] = event.key === "Home" ? 0 : n[cfg.fixed] - 1;
        draw();
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        move(view, cfg.u, event.key === "ArrowRight" ? 1 : -1);
      } else {
        return;
      }
      event.preventDefault();
    });
    view.slider.addEventListener("input", function () {
      state.pos[cfg.fixed] = Number(view.slider.value);
      state.hover = null;
      draw();
    });
  }

  function wireControls() {
    function onValue(id, apply) {
      $(id).addEventListener("input", function () { apply($(id)); draw(); });
    }
    $("wl-preset").addEventListener("change", function () {
      var value = $("wl-preset").value.split("/");
      if (value.length !== 2) return;
      state.width = Number(value[0]);
      state.level = Number(value[1]);
      $("wl-width").value = fixed(state.width, 0);
      $("wl-level").value = fixed(state.level, 0);
      draw();
    });
    onValue("wl-width", function (el) { var v = number(el.value); if (v !== null && v > 0) state.width = v; $("wl-preset").value = ""; });
    onValue("wl-level", function (el) { var v = number(el.value); if (v !== null) state.level = v; $("wl-preset").value = ""; });
    onValue("dose-min", function (el) { var v = number(el.value); if (v !== null && v >= 0) state.doseMin = v; });
    onValue("dose-max", function (el) { var v = number(el.value); if (v !== null && v > 0) state.doseMax = v; });
    onValue("dose-opacity", function (el) { state.opacity = Number(el.value); });
    $("dose-map").addEventListener("change", function () { state.map = $("dose-map").value; draw(); });
    $("dose-show").addEventListener("change", function () { state.doseShow = $("dose-show").checked; draw(); });
    $("iso-show").addEventListener("change", function () { state.isoShow = $("iso-show").checked; draw(); });
    $("voi-show").addEventListener("change", function () { state.voiShow = $("voi-show").checked; draw(); });
    onValue("iso-levels", function (el) {
      state.isoLevels = el.value.split(/[,\s]+/).map(number).filter(function (v) { return v !== null && v > 0; });
    });
    $("goto-voi").addEventListener("change", function () {
      var c = centroid(voiIndexOf($("goto-voi").value));
      if (c) { state.pos = c; state.hover = null; draw(); }
    });
    document.getElementById("voi-toggles").addEventListener("change", draw);
  }

  load();
})();

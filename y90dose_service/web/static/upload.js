// y90dose studies page: send a study zip (dropped or chosen) with a progress bar.
// The zip goes to the page's upload route, which runs the API's upload route: every
// check is the service's, and a refusal is shown in the API's words (its problem document).
"use strict";
(function () {
  var form = document.getElementById("upload-form");
  if (!form) return;
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("study-file");
  var status = document.getElementById("upload-status");
  var label = document.getElementById("upload-label");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("upload-text");
  var problem = document.getElementById("upload-problem");
  var button = document.getElementById("upload-button");
  var chosen = null;

  function megabytes(bytes) { return (bytes / 1e6).toFixed(1) + " MB"; }

  function showProblem(lines) {
    problem.textContent = "";
    lines.forEach(function (line, i) {
      var p = document.createElement(i === 0 ? "strong" : "p");
      p.textContent = line;
      problem.appendChild(p);
    });
    problem.hidden = false;
  }

  function choose(file) {
    chosen = file;
    problem.hidden = true;
    text.textContent = file ? file.name + " (" + megabytes(file.size) + ")" : "";
    status.hidden = !file;
    label.textContent = "Ready to upload";
    bar.value = 0;
  }

  // the API's problem document: its detail, then each field's message
  function problemLines(xhr) {
    var lines = ["Not stored (" + xhr.status + "): "];
    var body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (body && body.detail) {
      lines[0] += body.detail;
      (body.errors || []).slice(1).forEach(function (e) {
        lines.push(e.field + ": " + JSON.stringify(e.value) + " is not allowed; expected " + e.allowed);
      });
    } else if (xhr.status === 401 || xhr.status === 303) {
      lines[0] += "your session has ended; sign in again.";
    } else {
      lines[0] += xhr.statusText || "the server did not answer";
    }
    return lines;
  }

  function send(file) {
    var data = new FormData();
    data.append("file", file, file.name);
    var names = document.getElementById("names").value.trim();
    if (names) data.append("names", names);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      bar.value = event.loaded / event.total;
      label.textContent = "Uploading";
      text.textContent = megabytes(event.loaded) + " of " + megabytes(event.total);
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value"); // indeterminate while the service unpacks and checks
      label.textContent = "Checking the study";
      text.textContent = "unpacking and reading the headers…";
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      if (xhr.status === 201) {
        var study = JSON.parse(xhr.responseText);
        label.textContent = "Stored";
        bar.value = 1;
        window.location.assign(study.url);
        return;
      }
      bar.value = 0;
      label.textContent = "Refused";
      text.textContent = "";
      showProblem(problemLines(xhr));
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      label.textContent = "Failed";
      showProblem(["The upload was interrupted (network error); nothing was stored."]);
    });
    button.disabled = true;
    problem.hidden = true;
    status.hidden = false;
    label.textContent = "Uploading";
    text.textContent = "0.0 MB of " + megabytes(file.size);
    xhr.send(data);
  }

  input.addEventListener("change", function () { choose(input.files[0] || null); });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) choose(files[0]);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!chosen) {
      showProblem(["Choose or drop a zip first."]);
      return;
    }
    send(chosen);
  });
})();

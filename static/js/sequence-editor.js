// Sequence step editor: an SMS segment estimate as the manager types, then the server's word.
// The count here is only a quick estimate; the server (messaging.content.sms_segments, the same
// function the save check uses) answers after a short pause and its answer replaces the estimate.
(function () {
  "use strict";
  var form = document.getElementById("step-form");
  if (!form) return;
  var body = form.querySelector("[name=body]");
  var subject = form.querySelector("[name=subject]");
  var channel = form.querySelector("[name=channel]");
  var counter = document.getElementById("segment-counter");
  var previewBody = document.getElementById("preview-body");
  var previewSubject = document.getElementById("preview-subject");
  var previewErrors = document.getElementById("preview-errors");
  var sample = JSON.parse(document.getElementById("sms-sample-context").textContent);
  var max = parseInt(counter.dataset.max, 10);

  var sms = window.AttendSms;  // static/js/sms-segments.js

  function show(count, encoding, length, settled) {
    if (channel.value !== "sms") { counter.textContent = ""; counter.classList.remove("over"); return; }
    counter.textContent = sms.describe({ count: count, encoding: encoding, length: length }, max, settled);
    counter.classList.toggle("over", count > max);
  }

  function estimate() {
    var result = sms.segments(sms.renderSample(body.value, sample));
    show(result.count, result.encoding, result.length, false);
  }

  var timer = null;
  var latest = 0;
  function askServer() {
    var ticket = ++latest;
    var data = new FormData();
    data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    data.append("channel", channel.value);
    data.append("subject", subject.value);
    data.append("body", body.value);
    fetch(form.dataset.previewUrl, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (result) {
        if (ticket !== latest) return; // an older answer arriving late
        previewErrors.textContent = "";
        if (result.errors && result.errors.length) {
          var list = document.createElement("ul");
          list.className = "errorlist";
          result.errors.forEach(function (text) {
            var item = document.createElement("li");
            item.textContent = text;
            list.appendChild(item);
          });
          previewErrors.appendChild(list);
        }
        previewSubject.textContent = result.subject || "";
        previewBody.textContent = result.body || "";
        if (result.segments) show(result.segments, result.encoding, result.characters, true);
        else if (channel.value !== "sms") show(0, "", 0, true);
        counter.dataset.settled = "true";
      })
      .catch(function () { /* the estimate stays; the save check is the authority anyway */ });
  }

  function changed() {
    counter.dataset.settled = "false";
    estimate();
    clearTimeout(timer);
    timer = setTimeout(askServer, 400);
  }

  [body, subject].forEach(function (field) { field.addEventListener("input", changed); });
  channel.addEventListener("change", changed);
})();

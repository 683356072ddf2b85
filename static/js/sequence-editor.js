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

  // GSM 03.38: basic characters cost one septet, the extension table two; anything else is UCS-2.
  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENSION = "^{}\\[~]|€\f";

  function renderSample(text) {
    return text.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(sample, name) ? sample[name] : match;
    });
  }

  function segments(text) {
    var septets = 0;
    var gsm = true;
    for (var ch of text) {
      if (GSM_BASIC.indexOf(ch) >= 0) septets += 1;
      else if (GSM_EXTENSION.indexOf(ch) >= 0) septets += 2;
      else { gsm = false; break; }
    }
    if (gsm) return { encoding: "GSM-7", count: septets <= 160 ? 1 : Math.ceil(septets / 153), length: text.length };
    var units = 0;
    for (var i = 0; i < text.length; i++) units += 1; // UTF-16 code units, as carriers count
    return { encoding: "UCS-2", count: units <= 70 ? 1 : Math.ceil(units / 67), length: text.length };
  }

  function show(count, encoding, length, settled) {
    if (channel.value !== "sms") { counter.textContent = ""; counter.classList.remove("over"); return; }
    counter.textContent = length + " characters with typical names and links · " + count + " SMS segment" +
      (count === 1 ? "" : "s") + " (" + encoding + "); at most " + max + "." + (settled ? "" : " (estimate)");
    counter.classList.toggle("over", count > max);
  }

  function estimate() {
    var result = segments(renderSample(body.value));
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

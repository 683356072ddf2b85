// Automatic texts page: under each text message box, its SMS segments as the manager types (with
// typical names and links in place of the {{ fields }}), like the reminder step editor. The save
// check on the server is the authority; this is the estimate that saves a round trip.
(function () {
  "use strict";
  var sms = window.AttendSms;  // static/js/sms-segments.js
  var sampleElement = document.getElementById("sms-sample-context");
  if (!sms || !sampleElement) return;
  var sample = JSON.parse(sampleElement.textContent);

  document.querySelectorAll("textarea[data-sms-max]").forEach(function (box) {
    var max = parseInt(box.dataset.smsMax, 10);
    var counter = document.createElement("p");
    counter.className = "segment-counter";
    counter.setAttribute("aria-live", "polite");
    box.insertAdjacentElement("afterend", counter);
    function update() {
      var result = sms.segments(sms.renderSample(box.value, sample));
      counter.textContent = sms.describe(result, max, false);
      counter.classList.toggle("over", result.count > max);
    }
    box.addEventListener("input", update);
    update();
  });
})();

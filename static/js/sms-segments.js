// What a carrier bills for a text, estimated in the browser as a manager types (the reminder step
// editor, the automatic texts page). Only an estimate: the server's check on save
// (messaging.content.sms_segments) is the authority.
(function () {
  "use strict";
  // GSM 03.38: basic characters cost one septet, the extension table two; anything else is UCS-2.
  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENSION = "^{}\\[~]|€\f";

  // The template with typical names and links in place of its {{ fields }}.
  function renderSample(text, sample) {
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
    // UTF-16 code units, as carriers count (text.length counts the same units).
    return { encoding: "UCS-2", count: text.length <= 70 ? 1 : Math.ceil(text.length / 67), length: text.length };
  }

  function describe(result, max, settled) {
    return result.length + " characters with typical names and links · " + result.count + " SMS segment" +
      (result.count === 1 ? "" : "s") + " (" + result.encoding + "); at most " + max + "." +
      (settled ? "" : " (estimate)");
  }

  window.AttendSms = { renderSample: renderSample, segments: segments, describe: describe };
})();

/* Tech check (SPEC F8): measure browser support, camera, microphone and connection, then
 * post the figures. The server decides pass or fail and words the fixes; this script only
 * measures and shows what the server said. No inline script: CSP is script-src 'self'. */
(function () {
  "use strict";

  var root = document.getElementById("techcheck");
  if (!root) return;

  var PING_COUNT = 6; // the first warms up the connection and is dropped
  var DOWNLOAD_LIMIT_MS = 5000;
  var UPLOAD_LIMIT_MS = 6000;
  var LISTEN_MS = 3000; // minimum time the microphone meter runs

  var startButton = document.getElementById("tc-start");
  var againButton = document.getElementById("tc-again");
  var progress = document.getElementById("tc-progress");
  var media = document.getElementById("tc-media");
  var video = document.getElementById("tc-video");
  var meter = document.getElementById("tc-level");
  var resultBox = document.getElementById("tc-result");

  // The page's words in the client's language (data-text, from the server); English if absent.
  var TEXT = {
    waiting: "Not checked yet", running: "Checking…", ok: "Works", fail: "Problem",
    receiving: "Checking how fast you can receive video…",
    sending: "Checking how fast you can send video…",
    tip: "Tip:",
    passed_title: "You're all set for your session.",
    failed_title: "Some things need fixing before your session.",
    passed_done: "Check finished: everything works.",
    failed_done: "Check finished: some things need fixing.",
    unfinished_title: "We couldn't finish the check. Please check that you are online and run it again.",
    unfinished_done: "The check could not finish.",
    asking: "Asking to use your camera and microphone. If your browser asks, choose Allow.",
    network: "Checking your connection. This takes a few seconds…",
    saving: "Saving your results…",
  };
  try {
    var given = JSON.parse(root.getAttribute("data-text") || "{}");
    Object.keys(given).forEach(function (key) { TEXT[key] = given[key]; });
  } catch (ignored) { /* keep English */ }

  function setStep(name, state) {
    var step = document.getElementById("tc-step-" + name);
    step.setAttribute("data-state", state);
    step.querySelector(".tc-status").textContent = TEXT[state];
  }

  function say(text) {
    progress.textContent = text;
  }

  function csrfToken() {
    // The CSRF cookie is HttpOnly, so the token comes from the page.
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function now() {
    return performance.now();
  }

  // --- Browser support ---------------------------------------------------------------------

  function browserSupport() {
    return {
      secure_context: window.isSecureContext === true,
      get_user_media: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia),
      rtc_peer_connection: typeof window.RTCPeerConnection === "function",
    };
  }

  // --- Camera and microphone ---------------------------------------------------------------

  function deviceStatus(error) {
    switch (error && error.name) {
      case "NotAllowedError":
      case "SecurityError":
      case "PermissionDeniedError":
        return "denied";
      case "NotFoundError":
      case "OverconstrainedError":
      case "DevicesNotFoundError":
        return "not_found";
      case "NotReadableError":
      case "TrackStartError":
      case "AbortError":
        return "in_use";
      default:
        return "error";
    }
  }

  function ask(constraints) {
    return navigator.mediaDevices.getUserMedia(constraints).then(
      function (stream) { return { stream: stream, status: "ok" }; },
      function (error) { return { stream: null, status: deviceStatus(error) }; }
    );
  }

  // One prompt for both; only if that fails, ask for each to learn which one is the problem.
  function openDevices(support) {
    if (!support.get_user_media) {
      return Promise.resolve({ camera: "unsupported", microphone: "unsupported", streams: [] });
    }
    return ask({ video: true, audio: true }).then(function (both) {
      if (both.stream) return { camera: "ok", microphone: "ok", streams: [both.stream] };
      return Promise.all([ask({ video: true }), ask({ audio: true })]).then(function (each) {
        return {
          camera: each[0].status,
          microphone: each[1].status,
          streams: each.map(function (r) { return r.stream; }).filter(Boolean),
        };
      });
    });
  }

  function showPreview(streams) {
    var videoTracks = [];
    streams.forEach(function (s) { videoTracks = videoTracks.concat(s.getVideoTracks()); });
    if (!videoTracks.length) return;
    video.srcObject = new MediaStream(videoTracks);
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () {});
  }

  // Peak level (0..1) of the microphone, shown on the meter while the rest of the check runs.
  function listen(streams) {
    var audioTracks = [];
    streams.forEach(function (s) { audioTracks = audioTracks.concat(s.getAudioTracks()); });
    var AudioCtx = window.AudioContext || window.webkitAudioContext;
    if (!audioTracks.length || !AudioCtx) return { peak: function () { return null; }, stop: function () {} };
    var context = new AudioCtx();
    var analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(new MediaStream(audioTracks)).connect(analyser);
    if (context.resume) context.resume();
    var samples = new Float32Array(analyser.fftSize);
    var peak = 0;
    var running = true;
    function tick() {
      if (!running) return;
      analyser.getFloatTimeDomainData(samples);
      var loudest = 0;
      for (var i = 0; i < samples.length; i++) loudest = Math.max(loudest, Math.abs(samples[i]));
      peak = Math.max(peak, Math.min(loudest, 1));
      meter.value = Math.min(loudest, 1);
      window.requestAnimationFrame(tick);
    }
    tick();
    return {
      peak: function () { return Math.round(peak * 1000) / 1000; },
      stop: function () { running = false; if (context.close) context.close(); },
    };
  }

  // --- Connection --------------------------------------------------------------------------

  function url(path, extra) {
    return path + "?n=" + Math.random().toString(36).slice(2) + (extra || "");
  }

  function ping() {
    var started = now();
    return fetch(url(root.dataset.pingUrl), { cache: "no-store", credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("ping " + r.status);
      return now() - started;
    });
  }

  function median(values) {
    var sorted = values.slice().sort(function (a, b) { return a - b; });
    var middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  function roundTrip() {
    var times = [];
    var chain = Promise.resolve();
    for (var i = 0; i < PING_COUNT; i++) {
      chain = chain.then(ping).then(function (ms) { times.push(ms); });
    }
    return chain.then(
      function () { return Math.round(median(times.slice(1)) * 10) / 10; },
      function () { return null; }
    );
  }

  function mbps(bytes, ms) {
    if (!bytes || ms <= 0) return null;
    return Math.round((bytes * 8) / (ms / 1000) / 1e4) / 100;
  }

  // Reads the stream and stops at the time limit, counting what arrived by then.
  function download() {
    var controller = window.AbortController ? new AbortController() : null;
    var started = now();
    var received = 0;
    var timer = setTimeout(function () { if (controller) controller.abort(); }, DOWNLOAD_LIMIT_MS);
    var bytes = "&bytes=" + encodeURIComponent(root.dataset.downloadBytes);
    return fetch(url(root.dataset.downloadUrl, bytes), {
      cache: "no-store", credentials: "same-origin", signal: controller ? controller.signal : undefined,
    }).then(function (response) {
      if (!response.ok) throw new Error("download " + response.status);
      var reader = response.body.getReader();
      function pump() {
        return reader.read().then(function (part) {
          if (part.done) return;
          received += part.value.length;
          return pump();
        });
      }
      return pump();
    }).then(
      function () { return mbps(received, now() - started); },
      function () { return received ? mbps(received, now() - started) : null; }
    ).finally(function () { clearTimeout(timer); });
  }

  // XMLHttpRequest, not fetch: its progress events tell how much left before the time limit.
  function upload() {
    return new Promise(function (resolve) {
      var size = parseInt(root.dataset.uploadBytes, 10);
      var body = new Uint8Array(size);
      if (window.crypto && crypto.getRandomValues) {
        for (var i = 0; i < size; i += 65536) crypto.getRandomValues(body.subarray(i, Math.min(i + 65536, size)));
      }
      var sent = 0;
      var started = now();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url(root.dataset.uploadUrl));
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.timeout = UPLOAD_LIMIT_MS;
      xhr.upload.onprogress = function (event) { sent = event.loaded; };
      xhr.onload = function () { resolve(xhr.status === 200 ? mbps(size, now() - started) : null); };
      xhr.onerror = function () { resolve(null); };
      xhr.ontimeout = function () { resolve(sent ? mbps(sent, now() - started) : 0); };
      xhr.send(body);
    });
  }

  function measureNetwork() {
    var figures = {};
    return roundTrip()
      .then(function (ms) { figures.rtt_ms = ms; say(TEXT.receiving); return download(); })
      .then(function (value) { figures.download_mbps = value; say(TEXT.sending); return upload(); })
      .then(function (value) { figures.upload_mbps = value; return figures; });
  }

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // --- Results -----------------------------------------------------------------------------

  function postResult(payload) {
    return fetch(root.dataset.resultUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error || "result " + response.status);
        return data;
      });
    });
  }

  function listItem(titles, detail) {
    var li = document.createElement("li");
    titles.forEach(function (title) {
      var strong = document.createElement("strong");
      strong.textContent = title;
      li.appendChild(strong);
    });
    if (detail) li.appendChild(document.createTextNode(" " + detail));
    return li;
  }

  // Problems with the same fix (camera and microphone blocked; slow both ways) are shown
  // together, so the same instructions are not repeated.
  function groupByFix(problems) {
    var groups = [];
    problems.forEach(function (p) {
      var last = groups[groups.length - 1];
      if (last && last.fix === p.fix) last.titles.push(p.title);
      else groups.push({ titles: [p.title], fix: p.fix });
    });
    return groups;
  }

  function showResult(data) {
    ["browser", "camera", "microphone", "network"].forEach(function (name) {
      setStep(name, data.checks[name] ? "ok" : "fail");
    });
    var problems = document.getElementById("tc-problems");
    var tips = document.getElementById("tc-tips");
    problems.textContent = "";
    tips.textContent = "";
    groupByFix(data.problems).forEach(function (g) { problems.appendChild(listItem(g.titles, g.fix)); });
    data.tips.forEach(function (t) { tips.appendChild(listItem([TEXT.tip], t)); });
    document.getElementById("tc-result-title").textContent = data.passed
      ? TEXT.passed_title
      : TEXT.failed_title;
    resultBox.setAttribute("data-passed", data.passed ? "true" : "false");
    document.getElementById("tc-help").hidden = data.passed;
    finish(data.passed ? TEXT.passed_done : TEXT.failed_done);
  }

  function showFailure() {
    document.getElementById("tc-result-title").textContent =
      TEXT.unfinished_title;
    resultBox.setAttribute("data-passed", "false");
    document.getElementById("tc-help").hidden = false;
    finish(TEXT.unfinished_done);
  }

  function finish(message) {
    say(message);
    resultBox.hidden = false;
    resultBox.focus();
  }

  // --- The run -----------------------------------------------------------------------------

  function run() {
    startButton.disabled = true;
    startButton.hidden = true;
    var support = browserSupport();
    setStep("browser", support.secure_context && support.get_user_media && support.rtc_peer_connection ? "ok" : "fail");
    setStep("camera", "running");
    setStep("microphone", "running");
    say(TEXT.asking);
    var devices;
    var meterHandle;
    openDevices(support)
      .then(function (found) {
        devices = found;
        setStep("camera", found.camera === "ok" ? "ok" : "fail");
        setStep("microphone", found.microphone === "ok" ? "ok" : "fail");
        media.hidden = !found.streams.length;
        showPreview(found.streams);
        meterHandle = listen(found.streams);
        setStep("network", "running");
        say(TEXT.network);
        return Promise.all([measureNetwork(), wait(LISTEN_MS)]);
      })
      .then(function (done) {
        var figures = done[0];
        var payload = {
          secure_context: support.secure_context,
          get_user_media: support.get_user_media,
          rtc_peer_connection: support.rtc_peer_connection,
          camera: devices.camera,
          microphone: devices.microphone,
          mic_level: meterHandle.peak(),
          rtt_ms: figures.rtt_ms,
          download_mbps: figures.download_mbps,
          upload_mbps: figures.upload_mbps,
        };
        say(TEXT.saving);
        return postResult(payload);
      })
      .then(showResult, showFailure)
      .finally(function () {
        // Let go of the camera and microphone so the video-call app can use them.
        if (meterHandle) meterHandle.stop();
        if (devices) devices.streams.forEach(function (s) { s.getTracks().forEach(function (t) { t.stop(); }); });
        video.srcObject = null;
        media.hidden = true;
      });
  }

  startButton.addEventListener("click", run);
  againButton.addEventListener("click", function () { window.location.reload(); });
})();
